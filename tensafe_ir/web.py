"""The web processes' gunicorn worker: gthread, with keep-alive connections that end after a
number of requests, so a busy server's work is shared by all its worker processes.

Every start of the web processes uses it (Procfile, compose.yaml, Dockerfile, and the
benchmarks): `--worker-class tensafe_ir.web.BalancedThreadWorker`.

Gunicorn's worker processes take connections from one listening socket, whoever polls it
first, and a keep-alive connection stays with the process that took it for as long as the
client keeps it busy. Clients that keep their connections (integrations polling the API, a
proxy in front, watchers' browsers) could pile onto one process while the others idled: in
`bench/load.py` (issue 15) one of two processes used 2:07 of CPU and the other 0:59, and in a
run here the incident detail was served at 306 requests a second by one process alone against
514-622 when both took a share. After TENSAFE_WEB_KEEPALIVE_REQUESTS requests (100 by
default, Apache's MaxKeepAliveRequests; 0 keeps a connection for as long as gunicorn's own
keep-alive timeout allows) a response says `Connection: close`; the client opens a new
connection, which the least busy process is the likeliest to take (a busy one polls its
socket last). One new connection per 100 requests costs a TCP handshake on loopback or the
proxy's network, nothing a client has to handle: HTTP/1.1 clients reconnect on their own.
"""

from __future__ import annotations

import os

from gunicorn.workers.gthread import ThreadWorker

KEEPALIVE_REQUESTS_DEFAULT = 100


def keepalive_requests() -> int:
    """TENSAFE_WEB_KEEPALIVE_REQUESTS, a whole number ≥ 0 (0: no limit); anything else stops
    the web process from starting, with the variable named."""
    raw = os.environ.get("TENSAFE_WEB_KEEPALIVE_REQUESTS", "").strip()
    if not raw:
        return KEEPALIVE_REQUESTS_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"TENSAFE_WEB_KEEPALIVE_REQUESTS must be a whole number of requests, 0 or more "
            f"(0: no limit); got {raw!r}"
        )
    return value


class BalancedThreadWorker(ThreadWorker):
    """gthread, closing each connection after `keepalive_requests()` requests."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.keepalive_requests = keepalive_requests()

    def handle_request(self, req, conn):
        # The request is parsed; a request that must close makes its response say
        # "Connection: close" and the worker close the connection once it is written.
        conn.requests_served = getattr(conn, "requests_served", 0) + 1
        if self.keepalive_requests and conn.requests_served >= self.keepalive_requests:
            req.must_close = True
        return super().handle_request(req, conn)
