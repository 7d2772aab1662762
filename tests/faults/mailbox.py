"""A mail server on 127.0.0.1 for the fault tests, and the email backend the worker subprocesses
use to reach it: Django's own SMTP backend (the real client), pointed at the fake's port.

The fake speaks just enough SMTP for smtplib (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT)
and counts each message by its idempotency key (`X-TenSafe-Idempotency-Key` on subscriber
emails, `X-Idempotency-Key` on digests) the moment the message's data is complete, before it
answers: with `delay`, a worker killed in that window has delivered a message it never hears
was accepted, which is exactly the at-least-once case.
"""

from __future__ import annotations

import contextlib
import os
import socketserver
import threading
from email.parser import BytesHeaderParser

from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend

from tests.faults.counting import KeyCounts

PORT_VARIABLE = "TENSAFE_FAULTS_SMTP_PORT"
KEY_HEADERS = ("X-TenSafe-Idempotency-Key", "X-Idempotency-Key")


class LocalSmtpBackend(SmtpEmailBackend):
    """DJANGO_EMAIL_BACKEND=tests.faults.mailbox.LocalSmtpBackend in a worker: SMTP to the
    test's fake on 127.0.0.1 (port from TENSAFE_FAULTS_SMTP_PORT)."""

    def __init__(self, **kwargs):
        kwargs.update(host="127.0.0.1", port=int(os.environ[PORT_VARIABLE]), use_tls=False)
        super().__init__(**kwargs)


class Mailbox(KeyCounts):
    """The fake server: `keys` counts every message received, by idempotency key."""

    def __init__(self, delay: float = 0.0):
        super().__init__()
        self.delay = delay
        mailbox = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                with contextlib.suppress(OSError):  # the client went away (a killed worker)
                    self._session()

            def _reply(self, line: str) -> None:
                self.wfile.write(f"{line}\r\n".encode())
                self.wfile.flush()

            def _session(self) -> None:
                self._reply("220 faults.invalid ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                    if verb == "QUIT":
                        self._reply("221 bye")
                        return
                    if verb == "DATA":
                        self._reply("354 end with <CRLF>.<CRLF>")
                        self._data()
                    elif verb == "EHLO":
                        self._reply("250 faults.invalid")
                    elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                        self._reply("250 OK")
                    else:
                        self._reply("502 not implemented")

            def _data(self) -> None:
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                if not line:
                    return  # cut off mid-message: nothing was delivered
                headers = BytesHeaderParser().parsebytes(b"".join(lines))
                key = next((headers[h] for h in KEY_HEADERS if headers[h]), "")
                with mailbox.lock:
                    mailbox.keys[str(key)] += 1
                mailbox.hold()
                self._reply("250 accepted")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
