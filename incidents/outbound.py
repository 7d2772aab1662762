"""The one HTTP client for every request the platform makes to a URL someone gave it: pages
(Slack, JSON-webhook and PagerDuty contact methods), comms deliveries to team webhooks,
outgoing webhook subscriptions and chat follow-ups through Slack's `response_url`.

A URL is checked where it is used, by what is used (docs/architecture.md, Conventions):

1. Parse it once (`outbound_url_parse`). Refused: a scheme other than http(s), user-info (an
   `@` in the authority), backslashes, whitespace or control characters, a missing or
   non-ASCII host, a bad port, and any URL on whose host or port `urllib.parse.urlsplit`
   and urllib3's `parse_url` (the parser of the client that sends) disagree.
2. Resolve the host once (`outbound_resolve`). Refused when any address it resolves to is not
   globally routable (loopback, private, link-local, ...), unless the host or a network holding
   the address is listed in TENSAFE_OUTBOUND_ALLOWLIST.
3. Connect to the addresses checked in step 2, never to a second resolution: the connection
   classes below open the socket to those addresses themselves (as healthchecks'
   `hc/lib/curl.py` checks the address curl is about to connect to), so a DNS answer that
   changes between check and connect (rebinding) changes nothing. The Host header, TLS SNI
   and certificate verification stay on the host name.
4. Never follow a redirect; bound connect and read time (TENSAFE_OUTBOUND_TIMEOUT_SECONDS)
   and the response body (at most TENSAFE_OUTBOUND_MAX_RESPONSE_BYTES bytes are read, within
   a deadline).

Client libraries of the systems called (PagerDuty's) make their requests through it too:
`incidents.outbound_transport.OutboundTransport` is it as their HTTP transport.

Saving a URL (contact methods, webhook subscriptions, team webhooks) runs steps 1 and 2 too
(`check_outbound_url`), so a wrong target is refused when it is entered; sending checks again,
because a row may predate a rule and a name may resolve elsewhere by then.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationParseError,
    NewConnectionError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Timeout, parse_url

DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
READ_CHUNK = 16 * 1024


class OutboundRefused(Exception):
    """The URL may not be called (bad syntax or a non-public address): not worth retrying."""


class OutboundFailed(Exception):
    """The call was allowed but did not get an answer (timeout, refused connection, TLS
    failure, broken response): worth retrying."""

    def __init__(self, message: str, *, timed_out: bool = False):
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True)
class OutboundUrl:
    url: str
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int
    request_target: str  # path and query, as urllib3 sends them


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes  # at most TENSAFE_OUTBOUND_MAX_RESPONSE_BYTES
    truncated: bool  # the target had more to say than was read


def _refuse_characters(url: str) -> None:
    for char in url:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            raise OutboundRefused(f"the URL contains whitespace or a control character ({char!r})")
    if "\\" in url:
        raise OutboundRefused("the URL contains a backslash")


def outbound_url_parse(url: str) -> OutboundUrl:
    """Step 1: the URL's parts, or OutboundRefused naming what is wrong with it."""
    if not isinstance(url, str) or not url:
        raise OutboundRefused("the URL is empty")
    _refuse_characters(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 address
        raise OutboundRefused(f"the URL cannot be read: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise OutboundRefused(f"only http and https URLs may be called, not {scheme or 'this'!r}")
    if "@" in parts.netloc:
        raise OutboundRefused("the URL carries user information (an '@' before the host)")
    host = parts.hostname or ""
    if not host:
        raise OutboundRefused("the URL has no host")
    if not host.isascii():
        raise OutboundRefused("the host is not ASCII; write it in its xn-- (punycode) form")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise OutboundRefused("the URL's port is not a number from 1 to 65535")
    port = port or DEFAULT_PORTS[scheme]
    if not _is_ip_literal(host) and not HOST_NAME.fullmatch(host):
        raise OutboundRefused(f"{host!r} is not a host name or an IP address")
    try:
        sent = parse_url(url)
    except LocationParseError:
        raise OutboundRefused("the URL cannot be read by the HTTP client") from None
    sent_host = (sent.host or "").strip("[]").lower()
    sent_port = sent.port or DEFAULT_PORTS.get(sent.scheme or "", 0)
    if sent.auth or sent.scheme != scheme or sent_host != host or sent_port != port:
        raise OutboundRefused("the URL is read differently by different parsers")
    return OutboundUrl(url, scheme, host, port, sent.request_uri)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _allowlisted(host: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    for entry in settings.TENSAFE_OUTBOUND_ALLOWLIST:
        if entry.lower().rstrip(".") == host.rstrip("."):
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_global


def outbound_resolve(target: OutboundUrl) -> tuple[tuple[int, tuple], ...]:
    """Step 2: resolve once; returns the (family, socket address) pairs to connect to, every
    one of them public or allow-listed, or raises OutboundRefused."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundRefused(f"cannot resolve {target.host}: {exc}") from None
    checked: list[tuple[int, tuple]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6) or (family, sockaddr) in checked:
            continue
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not _public(address) and not _allowlisted(target.host, address):
            raise OutboundRefused(
                f"{target.host} resolves to non-public address {address}; allow-list it in "
                "TENSAFE_OUTBOUND_ALLOWLIST to send there"
            )
        checked.append((family, sockaddr))
    if not checked:
        raise OutboundRefused(f"{target.host} resolves to no IP address")
    return tuple(checked)


def outbound_host(url: str) -> str:
    """The host of `url` for a log line, which must not carry the rest of it (paths and
    queries of webhook URLs are often credentials)."""
    try:
        return urlsplit(url).hostname or "(no host)"
    except ValueError:
        return "(unreadable URL)"


def check_outbound_url(url: str) -> None:
    """Steps 1 and 2, for a URL being saved: raises OutboundRefused naming the problem."""
    outbound_resolve(outbound_url_parse(url))


def validate_outbound_url(url: str, *, field: str) -> None:
    """`check_outbound_url` for a model's clean(): a ValidationError on `field` naming the
    problem (the API answers 400 with it, the admin shows it on the field)."""
    try:
        check_outbound_url(url)
    except OutboundRefused as refused:
        raise ValidationError({field: f"This URL may not be called: {refused}"}) from None


# --- step 3: connections to the checked addresses ---------------------------------------------
class _PinnedConnectionMixin:
    """Opens its socket to the addresses checked in step 2 (tried in order) instead of
    resolving `host` again; everything else (Host header, TLS server name, certificate
    verification) still uses `host`."""

    def __init__(self, *args, checked_addresses: tuple[tuple[int, tuple], ...], **kwargs):
        self.checked_addresses = checked_addresses
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        error: OSError | None = None
        for family, sockaddr in self.checked_addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(self.timeout, int | float):
                    sock.settimeout(self.timeout)
                sock.connect(sockaddr)
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out ({self.timeout} s)"
                ) from exc
            except OSError as exc:
                sock.close()
                error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")


class PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


def outbound_pool(target: OutboundUrl, checked_addresses) -> HTTPConnectionPool:
    """A one-connection pool for `target` whose connection goes to `checked_addresses`.
    HTTPS verifies the certificate against the host name (urllib3's defaults: the system's
    CA certificates, or TENSAFE_OUTBOUND_CA_FILE's, CERT_REQUIRED, server name = host)."""
    seconds = settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS
    pool_class = _PinnedHTTPSPool if target.scheme == "https" else _PinnedHTTPPool
    extra = {}
    if target.scheme == "https":
        extra["cert_reqs"] = "CERT_REQUIRED"
        if settings.TENSAFE_OUTBOUND_CA_FILE:
            extra["ca_certs"] = settings.TENSAFE_OUTBOUND_CA_FILE
    return pool_class(
        target.host,
        target.port,
        timeout=Timeout(connect=seconds, read=seconds),
        retries=False,
        maxsize=1,
        checked_addresses=checked_addresses,
        **extra,
    )


# --- step 4: one request, bounded ---------------------------------------------------------------
def _read_capped(response, deadline: float) -> tuple[bytes, bool]:
    cap = settings.TENSAFE_OUTBOUND_MAX_RESPONSE_BYTES
    chunks, size = [], 0
    while size <= cap and time.monotonic() < deadline:
        chunk = response.read1(min(READ_CHUNK, cap + 1 - size), decode_content=False)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    body = b"".join(chunks)
    return body[:cap], True


def outbound_request(method: str, url: str, *, body: bytes = b"", headers=None) -> OutboundResponse:
    """Make one request under steps 1 to 4. Raises OutboundRefused (the target may not be
    called) or OutboundFailed (no usable answer); a redirect is returned as it is, unfollowed."""
    target = outbound_url_parse(url)
    checked = outbound_resolve(target)
    seconds = settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS
    # Identity encoding: the size cap counts the bytes that arrive, and nothing is inflated.
    sent_headers = {"User-Agent": "TenSafe-IR/1", **(headers or {}), "Accept-Encoding": "identity"}
    pool = outbound_pool(target, checked)
    response = None
    try:
        response = pool.urlopen(
            method,
            target.request_target,
            body=body or None,
            headers=sent_headers,
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
        )
        content, truncated = _read_capped(response, time.monotonic() + 2 * seconds)
        return OutboundResponse(response.status, response.headers, content, truncated)
    except NewConnectionError:  # a subclass of urllib3's TimeoutError, but not a timeout
        raise OutboundFailed("NewConnectionError") from None
    except Urllib3Timeout:
        raise OutboundFailed("timed out", timed_out=True) from None
    except (HTTPError, OSError) as exc:
        raise OutboundFailed(type(exc).__name__) from None
    finally:
        if response is not None:
            response.close()  # unread bytes are dropped with the connection, never drained
        pool.close()


def outbound_post(url: str, body: bytes, headers: dict) -> OutboundResponse:
    return outbound_request("POST", url, body=body, headers=headers)
