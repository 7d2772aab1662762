"""Transports that deliver a page: email (Django's email backend), Slack-compatible incoming
webhooks, and JSON webhooks signed with HMAC-SHA256. Each returns an `Outcome`; none raises.

Outgoing URLs that resolve to private, loopback, link-local or otherwise non-public addresses
are refused unless their host or network is allow-listed (TENSAFE_OUTBOUND_ALLOWLIST), so a
contact method cannot be used to reach into our own network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    code: int | None = None
    error: str = ""
    retry_after: float | None = None


class OutboundRefused(Exception):
    pass


def _allowlisted(host: str, address: ipaddress._BaseAddress) -> bool:
    for entry in settings.TENSAFE_OUTBOUND_ALLOWLIST:
        if entry == host:
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_outbound_url(url: str) -> None:
    """Raise OutboundRefused unless `url` is http(s) and every address it resolves to is public
    or allow-listed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused(f"not an http(s) URL: {url!r}")
    try:
        infos = socket.getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        )
    except socket.gaierror as exc:
        raise OutboundRefused(f"cannot resolve {parts.hostname}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global and not _allowlisted(parts.hostname, address):
            raise OutboundRefused(
                f"{parts.hostname} resolves to non-public address {address}; allow-list it in "
                "TENSAFE_OUTBOUND_ALLOWLIST to send there"
            )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def backoff_seconds(attempts: int, retry_after: float | None, *, base: float, cap: float) -> float:
    """Exponential backoff after the `attempts`-th failed try (base, 2 x base, 4 x base, ... up to
    `cap`), never sooner than the receiver's Retry-After (also capped)."""
    delay = min(cap, base * 2 ** (attempts - 1))
    if retry_after is not None:
        delay = min(cap, max(delay, retry_after))
    return delay


def retry_after_seconds(value: str) -> float | None:
    """A Retry-After header (RFC 9110: delay-seconds or an HTTP-date) as seconds from now;
    None when absent or unreadable."""
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def post_json(url: str, body: bytes, headers: dict) -> Outcome:
    """POST a JSON body through the outbound guard: refused targets, timeouts, connection
    failures and HTTP answers all become an Outcome (5xx and 429 retryable)."""
    try:
        check_outbound_url(url)
    except OutboundRefused as refused:
        return Outcome(ok=False, retryable=False, error=str(refused))
    try:
        response = requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.Timeout:
        return Outcome(ok=False, retryable=True, error="timed out")
    except requests.RequestException as exc:
        return Outcome(ok=False, retryable=True, error=f"connection failed: {type(exc).__name__}")
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(ok=True, code=code)
    # 429 and 503 may say when to come back (RFC 9110 10.2.3).
    header = response.headers.get("Retry-After", "") if code in (429, 503) else ""
    retry_after = retry_after_seconds(header)
    retryable = code == 429 or code >= 500
    return Outcome(
        ok=False, retryable=retryable, code=code, error=f"HTTP {code}", retry_after=retry_after
    )


def send_email(page) -> Outcome:
    try:
        EmailMessage(
            subject=page.subject,
            body=page.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[page.target],
            headers={"X-TenSafe-Idempotency-Key": page.idempotency_key},
        ).send()
    except Exception as exc:
        return Outcome(
            ok=False, retryable=True, error=f"email failed: {type(exc).__name__}: {exc}"[:500]
        )
    return Outcome(ok=True)


def send_slack(page) -> Outcome:
    body = json.dumps({"text": f"*{page.subject}*\n{page.body}"}).encode()
    return post_json(page.target, body, {"Idempotency-Key": page.idempotency_key})


def send_webhook(page) -> Outcome:
    body = json.dumps(page.payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    return post_json(
        page.target,
        body,
        {
            "Idempotency-Key": page.idempotency_key,
            "X-TenSafe-Timestamp": timestamp,
            "X-TenSafe-Signature": sign(page.secret, timestamp, body),
        },
    )


TRANSPORTS = {"email": send_email, "slack": send_slack, "webhook": send_webhook}


def deliver(page) -> Outcome:
    return TRANSPORTS[page.channel](page)
