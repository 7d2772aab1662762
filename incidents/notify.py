"""Transports that deliver a page: email (Django's email backend), Slack-compatible incoming
webhooks, and JSON webhooks signed with HMAC-SHA256. Each returns an `Outcome`; none raises.

Every HTTP call goes through `incidents.outbound`, the platform's one outbound client: the
URL is parsed once, its host resolved once and refused when non-public unless allow-listed
(TENSAFE_OUTBOUND_ALLOWLIST), and the connection made to the address that was checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.core.mail import EmailMessage

from .outbound import OutboundFailed, OutboundRefused, outbound_post


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    code: int | None = None
    error: str = ""
    retry_after: float | None = None


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
    """POST a JSON body through the outbound client: refused targets, timeouts, connection
    failures and HTTP answers all become an Outcome (5xx and 429 retryable)."""
    try:
        response = outbound_post(url, body, {"Content-Type": "application/json", **headers})
    except OutboundRefused as refused:
        return Outcome(ok=False, retryable=False, error=str(refused))
    except OutboundFailed as failed:
        error = "timed out" if failed.timed_out else f"connection failed: {failed}"
        return Outcome(ok=False, retryable=True, error=error)
    code = response.status
    if 200 <= code < 300:
        return Outcome(ok=True, code=code)
    # 429 and 503 may say when to come back (RFC 9110 10.2.3).
    header = response.headers.get("Retry-After", "") if code in (429, 503) else ""
    retry_after = retry_after_seconds(header)
    retryable = code == 429 or code >= 500
    return Outcome(
        ok=False, retryable=retryable, code=code, error=f"HTTP {code}", retry_after=retry_after
    )


def email_send(message: EmailMessage) -> Outcome:
    """Send one email through Django's email backend; never raises. The mail server refusing
    the recipient or the message for good (an SMTP 5xx reply) is final; anything else
    (connection refused, timeouts, a 4xx "try later") is worth another try."""
    try:
        message.send()
    except Exception as exc:
        code = _smtp_code(exc)
        return Outcome(
            ok=False,
            retryable=code is None or code < 500,
            code=code,
            error=f"email failed: {type(exc).__name__}: {exc}"[:500],
        )
    return Outcome(ok=True)


def _smtp_code(exc: Exception) -> int | None:
    """The SMTP reply code an exception carries (for refused recipients, the highest)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        return max(code for code, _message in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return code if isinstance(code, int) else None


def send_email(page) -> Outcome:
    return email_send(
        EmailMessage(
            subject=page.subject,
            body=page.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[page.target],
            headers={"X-TenSafe-Idempotency-Key": page.idempotency_key},
        )
    )


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
