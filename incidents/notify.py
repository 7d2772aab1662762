"""Transports that deliver a page: email (Django's email backend), Slack-compatible incoming
webhooks, JSON webhooks signed with HMAC-SHA256, and PagerDuty (an Events API v2 trigger sent
with PagerDuty's own client). Each returns an `Outcome`; none raises.

Every HTTP call goes through `incidents.outbound`, the platform's one outbound client: the
URL is parsed once, its host resolved once and refused when non-public unless allow-listed
(TENSAFE_OUTBOUND_ALLOWLIST), and the connection made to the address that was checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.template.loader import render_to_string

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


def standard_webhooks_secret(secret: str) -> str:
    """`secret` as a Standard Webhooks receiver is given it (standardwebhooks.com): "whsec_"
    and the base64 of the key's bytes."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def standard_webhooks_headers(secret: str, message_id: str, timestamp: str, body: bytes) -> dict:
    """The Standard Webhooks signature headers (spec v1): base64 HMAC-SHA256 with the key's
    bytes over "<webhook-id>.<webhook-timestamp>.<body>"; the id stays the same on every
    retry, so a receiver can drop a repeat."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{base64.b64encode(mac).decode()}",
    }


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
    except (OutboundRefused, OutboundFailed) as exc:
        return outbound_failure(exc)
    return http_outcome(response.status, response.headers)


def outbound_failure(exc: OutboundRefused | OutboundFailed) -> Outcome:
    """A target refused (final) or a call without an answer (worth another try)."""
    if isinstance(exc, OutboundRefused):
        return Outcome(ok=False, retryable=False, error=str(exc))
    error = "timed out" if exc.timed_out else f"connection failed: {exc}"
    return Outcome(ok=False, retryable=True, error=error)


def http_outcome(code: int, headers) -> Outcome:
    """The Outcome of an HTTP answer: 2xx sent; 5xx and 429 worth another try (after the
    answer's Retry-After, if it gives one); any other status final."""
    if 200 <= code < 300:
        return Outcome(ok=True, code=code)
    # 429 and 503 may say when to come back (RFC 9110 10.2.3).
    header = headers.get("Retry-After", "") if code in (429, 503) else ""
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


def email_compose(
    *, subject: str, text: str, to: str, headers: dict, unsubscribe_url: str = ""
) -> EmailMultiAlternatives:
    """An email of the platform (pages, customer emails, status subscribers): the text as its
    plain part and the same words as an HTML part (escaped, with its links clickable, and an
    unsubscribe link when there is one), for mail clients that show only HTML."""
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
    )
    # The text may come from a rendered .txt template, which Django marks as safe HTML: it is
    # not HTML (an update's words can hold "<script>"), so it goes in as a plain str, escaped.
    html = render_to_string(
        "email/message.html",
        {
            "subject": "".join([subject]),
            "text": "".join([text]),
            "unsubscribe_url": unsubscribe_url,
        },
    )
    message.attach_alternative(html, "text/html")
    return message


def send_email(page) -> Outcome:
    """A page or a comms delivery (its subject, body and address) as an email."""
    return email_send(
        email_compose(
            subject=page.subject,
            text=page.body,
            to=page.target,
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


# PagerDuty's event severities for ours. A restricted incident's page carries no severity
# (incidents.redaction): it is sent as critical, which wakes the person up.
PAGERDUTY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}


def _pagerduty_client(routing_key: str, base_url: str):
    """PagerDuty's Events API client on the outbound client, with its own retries off: the
    outbox retries a page with its backoff and records every try, while the library would
    sleep in the worker (without limit on a 429). A status listed in `retry` with
    max_http_attempts below zero is returned at its first answer."""
    import pagerduty

    from .outbound_transport import OutboundTransport

    client = pagerduty.EventsApiV2Client(
        routing_key, base_url=base_url.rstrip("/"), transport=OutboundTransport()
    )
    client.retry = {status: 1 for status in (429, 500, 502, 503, 504)}
    client.max_http_attempts = -1
    return client


def send_pagerduty(page) -> Outcome:
    """One Events API v2 trigger to the contact method's PagerDuty service: target is the
    Events API's base URL (https://events.pagerduty.com, or the EU's), secret the service's
    integration key (routing key). The page's idempotency key is the dedup_key, so a page
    sent again after a lost answer stays one PagerDuty alert. The library is imported here,
    not at start-up: ~0.2 s that no process which never pages through PagerDuty pays."""
    import pagerduty

    follow_up = page.payload.get("event_action")
    if follow_up is None:
        incident = page.payload.get("incident", {})
        links = [{"href": incident["url"], "text": f"Open {incident['reference']} in TenSafe IR"}]
        if page.payload.get("acknowledge_url"):
            links.append({"href": page.payload["acknowledge_url"], "text": "Acknowledge"})
    try:
        client = _pagerduty_client(page.secret, page.target)
    except pagerduty.UrlError as refused:  # a target changed since it was checked: not https
        return Outcome(ok=False, retryable=False, error=f"PagerDuty: {refused}")
    try:
        if follow_up is not None:
            # The incident was acknowledged or resolved here: PagerDuty's alert of the page
            # (its dedup_key) follows, so PagerDuty stops notifying.
            client.send_event(follow_up, dedup_key=page.payload["dedup_key"])
        else:
            client.send_event(
                "trigger",
                dedup_key=page.idempotency_key,
                payload={
                    "summary": page.subject[:1024],
                    "source": "TenSafe IR",
                    "severity": PAGERDUTY_SEVERITY.get(incident.get("severity"), "critical"),
                    "component": incident["reference"],
                    "custom_details": {"message": page.body},
                },
                links=links,
                client="TenSafe IR",
                client_url=incident["url"],
            )
    except (OutboundRefused, OutboundFailed) as exc:
        return outbound_failure(exc)
    except pagerduty.HttpError as refused:
        return http_outcome(refused.response.status_code, refused.response.headers)
    except pagerduty.Error as broken:  # an answer that is not PagerDuty's (no dedup_key)
        return Outcome(ok=False, retryable=True, error=f"PagerDuty: {broken}"[:500])
    finally:
        client.close()
    return Outcome(ok=True, code=202)


TRANSPORTS = {
    "email": send_email,
    "slack": send_slack,
    "webhook": send_webhook,
    "pagerduty": send_pagerduty,
}


def deliver(page) -> Outcome:
    return TRANSPORTS[page.channel](page)
