"""The outbound client (incidents/outbound.py) as the HTTP transport of client libraries built
on httpx2 (PagerDuty's `pagerduty`). A module of its own, imported where such a library is
used, so processes that never page through PagerDuty do not import httpx2."""

from __future__ import annotations

import httpx2

from .outbound import outbound_request

# Headers the outbound client sets itself: the Host it checked, the length of the body it
# sends, its own connection handling and identity encoding.
_CLIENT_SET_HEADERS = frozenset({"host", "content-length", "connection", "accept-encoding"})


class OutboundTransport(httpx2.BaseTransport):
    """The outbound client under a client library built on httpx2 (PagerDuty's `pagerduty`):
    the library composes each request and reads the answer, and `outbound_request` makes it,
    under steps 1 to 4. OutboundRefused and OutboundFailed pass through the library to the
    caller unchanged (the library retries only its own transport errors, so it never sleeps
    on them in a worker)."""

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _CLIENT_SET_HEADERS}
        answer = outbound_request(
            request.method, str(request.url), body=request.read(), headers=headers
        )
        return httpx2.Response(
            answer.status,
            headers=list(answer.headers.items()),
            content=answer.body,
            request=request,
        )
