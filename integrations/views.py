"""The endpoint senders post alerts to: `POST /integrations/<id>/alerts/`, and for a
PagerDuty integration also `POST /integrations/<id>/v2/enqueue`, the path PagerDuty's own
clients (`pagerduty`, `pdpyras`) post events to under their base URL, so they work unmodified
with `base_url` set to `/integrations/<id>` (the integration's `events_api_base_url`).

CSRF-exempt and authenticated by the integration's secret only (`Authorization: Bearer
<secret>`; a PagerDuty Events v2 client may instead send it as `routing_key`, which is how
those clients authenticate). The order of the checks is the order of their cost:

1. unknown or disabled integration: 404 (and on the Events API path, an integration of
   another kind: 404 naming its kind);
2. declared body over 512 KB: 413 before anything is read (and 413 again if more arrives
   than declared; the body is read here, never through Django's request.body, whose own
   limit would answer 400 first);
3. bad or missing secret: 401 (and a bad Grafana HMAC signature, when configured);
4. not JSON, or a documented field missing or wrong: 400 naming the field, nothing stored;
5. the raw body is stored (one INSERT, committed) and the sender gets 202 at once; workers
   apply it (`inbound_apply_pending`: alerts, a new incident, resolves), woken by a hand-off
   this process sends from a thread of its own at most every KICK_INTERVAL_SECONDS (the
   request never waits on the broker) and by beat every second. The
   request does no more than that on purpose: an alert storm is when replies must stay
   fast (bench/alert_ingest.py). TENSAFE_INGEST_APPLY_INLINE=1 applies in the request
   instead (tests, single-process setups).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .models import Integration
from .payloads import PARSERS, PayloadInvalid, new_dedup_key
from .selectors import integration_enabled_get
from .services.ingest import inbound_accept, inbound_process

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
SIGNATURE_HEADER = "HTTP_X_GRAFANA_ALERTING_SIGNATURE"
TIMESTAMP_HEADERS = (
    "HTTP_X_GRAFANA_ALERTING_SIGNATURE_TIMESTAMP",
    "HTTP_X_GRAFANA_ALERTING_TIMESTAMP",
)
SIGNATURE_MAX_AGE_SECONDS = 300


KICK_INTERVAL_SECONDS = 0.5


class _Waker:
    """Asks a worker to apply stored deliveries now, from a thread of its own, at most once per
    KICK_INTERVAL_SECONDS per process: the first alert of a quiet spell is applied at once, a
    storm costs a few hand-offs instead of one per request, and no request waits on the broker
    (a Redis restarting or slow to answer holds the thread, not the replies). A delivery that
    arrives just after a hand-off is picked up by the next one or by beat's sweep within a
    second; a lost hand-off loses nothing (the row is the queue)."""

    def __init__(self):
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        with self._lock:
            # Started in the process that serves requests (not before gunicorn forks).
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="inbound-waker", daemon=True)
                self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        from .tasks import apply_inbound_task

        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                apply_inbound_task.delay()
            except Exception:  # broker down: beat's sweep applies the stored rows
                log.warning("could not wake an inbound worker", exc_info=True)
            finally:
                # With Celery eager (tests) the task ran in this thread on a connection of its
                # own: close it, so it holds no lock or transaction while the thread sleeps.
                connections.close_all()
            time.sleep(KICK_INTERVAL_SECONDS)


_waker = _Waker()


def _apply_inline() -> bool:
    return bool(getattr(settings, "TENSAFE_INGEST_APPLY_INLINE", False))


def _error(status: int, detail: str, **extra) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=status)


def _bearer(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over the limit (declared or actual)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return None
    body = request.read(MAX_BODY_BYTES + 1)
    return None if len(body) > MAX_BODY_BYTES else body


def _grafana_signature_ok(integration: Integration, request: HttpRequest, body: bytes) -> bool:
    """Grafana's HMAC option: hex HMAC-SHA256 of the body, or of "<timestamp>:<body>" when a
    timestamp header is configured (then it must be within five minutes of now)."""
    given = request.META.get(SIGNATURE_HEADER, "").strip()
    if not given:
        return False
    timestamp = next((request.META[h] for h in TIMESTAMP_HEADERS if request.META.get(h)), "")
    signed = body
    if timestamp:
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError:
            return False
        if age > SIGNATURE_MAX_AGE_SECONDS:
            return False
        signed = timestamp.encode() + b":" + body
    expected = hmac.new(integration.signing_secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.lower())


def _invalid(integration: Integration, invalid: PayloadInvalid) -> JsonResponse:
    body = {"detail": invalid.detail, "fields": invalid.fields, "errors": invalid.errors}
    if integration.kind == Integration.Kind.PAGERDUTY:
        # PagerDuty's own reply to a bad event, so its clients log something sensible.
        body |= {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": [invalid.detail],
        }
    return JsonResponse(body, status=400)


@csrf_exempt
def integration_receive(request: HttpRequest, integration_id, events_api: bool = False):
    if request.method != "POST":
        response = _error(405, "POST alerts here.")
        response["Allow"] = "POST"
        return response
    integration = integration_enabled_get(integration_id)
    if integration is None:
        return _error(404, "No such integration.")
    if events_api and integration.kind != Integration.Kind.PAGERDUTY:
        return _error(
            404,
            f"This is a {integration.get_kind_display()} integration: only a PagerDuty "
            "integration takes Events API v2 events at /v2/enqueue; post to its alerts/ URL.",
        )
    token = _bearer(request)
    pagerduty = integration.kind == Integration.Kind.PAGERDUTY
    if token is not None and not integration.check_secret(token):
        return _error(401, "Bad integration secret.")
    if token is None and not pagerduty:
        return _error(401, "Missing integration secret: send Authorization: Bearer <secret>.")
    body = _read_body(request)
    if body is None:
        return _error(413, f"Body over {MAX_BODY_BYTES // 1024} KB.")
    if (
        integration.kind == Integration.Kind.GRAFANA
        and integration.signing_secret
        and not _grafana_signature_ok(integration, request, body)
    ):
        return _error(401, "Missing or bad X-Grafana-Alerting-Signature.")
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        return _error(400, f"body: not JSON ({exc}).", fields=["body"])
    if pagerduty and token is None:
        routing_key = data.get("routing_key") if isinstance(data, dict) else None
        if not isinstance(routing_key, str) or not integration.check_secret(routing_key):
            return _error(401, "Bad or missing routing_key (or Authorization: Bearer <secret>).")
    generated = None
    if pagerduty and isinstance(data, dict) and not data.get("dedup_key"):
        generated = new_dedup_key()
    try:
        batch = PARSERS[integration.kind](data, generated_dedup_key=generated)
    except PayloadInvalid as invalid:
        return _invalid(integration, invalid)
    delivery = inbound_accept(
        integration,
        body=text,
        headers={
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
            "remote_addr": request.META.get("REMOTE_ADDR", ""),
        },
        group_key=batch.group_key,
        generated_dedup_key=generated,
    )
    if _apply_inline():
        try:
            inbound_process(delivery, batch=batch)
        except Exception:  # stored, so still accepted: a worker applies it later
            log.warning("delivery %s stored, not applied yet", delivery.pk)
    else:
        _waker.wake()
    if pagerduty:
        return JsonResponse(
            {"status": "success", "message": "Event processed", **batch.reply}, status=202
        )
    return JsonResponse({"status": "accepted", "delivery": delivery.pk}, status=202)
