"""HTTPS on 127.0.0.1 for tests: a throwaway certificate authority (`trustme`) and a server
certificate for 127.0.0.1, for fakes of services that are only reached over HTTPS (PagerDuty's
clients refuse any other base URL), and `TlsFront`, HTTPS in front of the plain-HTTP live
server, as a TLS-terminating proxy puts it in front of the platform in production."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path

import trustme


def tls_server_context(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A server context with a certificate for 127.0.0.1, and the path of the PEM file (in
    `directory`) of the CA that signed it, for the clients to trust."""
    ca = trustme.CA()
    ca_file = str(directory / "test-ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context, ca_file


class TlsFront:
    """Accepts HTTPS on 127.0.0.1 and passes the bytes both ways to a plain HTTP server on
    127.0.0.1:`backend_port`, one backend connection per client connection."""

    def __init__(self, backend_port: int, directory: Path):
        self.context, self.ca_file = tls_server_context(directory)
        self.backend_port = backend_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.listener.getsockname()[1]}"

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        backend = socket.create_connection(("127.0.0.1", self.backend_port))
        back = threading.Thread(target=_pipe, args=(backend, client), daemon=True)
        back.start()
        _pipe(client, backend)
        back.join(timeout=30)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until either side closes, then close both (each side's reader stops with it)."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.close()
