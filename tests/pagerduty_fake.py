"""A small PagerDuty Events API v2 on 127.0.0.1, for tests of what the platform sends to
PagerDuty: `POST /v2/enqueue` as PagerDuty documents it (developer.pagerduty.com, "Send an
Alert Event"): a JSON event with `routing_key`, `event_action` and, for a trigger, a
`payload` with summary, source and severity; answered `202 {"status": "success", "message":
"Event processed", "dedup_key"}`, or `400 {"status": "invalid event", "message": "Event
object is invalid", "errors": [...]}`, or 429 when over the rate limit. Alerts are kept by
(routing key, dedup_key), as PagerDuty deduplicates them.

It speaks HTTPS, as PagerDuty does (its client refuses any other base URL), with a
certificate for 127.0.0.1 from a throwaway CA (tests/tls.py); `ca_file` is that CA's PEM,
for the platform's TENSAFE_OUTBOUND_CA_FILE.

`respond(*statuses)` queues answers for the next events (an int status, or ("429",
seconds) with Retry-After); when the queue is empty the event is judged as PagerDuty would.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.http_target import LoopbackServer
from tests.tls import tls_server_context

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


class PagerDutyFake(LoopbackServer):
    def __init__(self, routing_keys: set[str]):
        self.routing_keys = routing_keys
        self.events: list[dict] = []  # every event received, in order
        self.alerts: dict[tuple[str, str], dict] = {}  # (routing key, dedup_key) → last event

    def start(self, directory: Path) -> PagerDutyFake:
        """Serve on 127.0.0.1 (HTTPS); the CA's certificate is written into `directory`."""
        context, self.ca_file = tls_server_context(directory)
        self.serve_json(lambda path, headers, body: self._answer(path, body), context)
        return self

    def _answer(self, path: str, body: bytes) -> tuple[int, dict, dict]:
        if path != "/v2/enqueue":
            return 404, {}, {"status": "not found"}
        try:
            event = json.loads(body)
        except ValueError:
            return 400, {}, _invalid("Event object is not JSON")
        with self.lock:
            self.events.append(event)
        queued = self.next_answer()
        if isinstance(queued, tuple) and queued[0] == "429":
            return 429, {"Retry-After": str(queued[1])}, {"status": "throttle event"}
        if queued is not None:
            return queued, {}, {"status": "error"}
        problem = self._problem(event)
        if problem:
            return 400, {}, _invalid(problem)
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        with self.lock:
            self.alerts[(event["routing_key"], dedup_key)] = event
        return 202, {}, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}

    def _problem(self, event) -> str:
        if not isinstance(event, dict):
            return "Event object is not an object"
        if event.get("routing_key") not in self.routing_keys:
            return "Invalid routing key"
        if event.get("event_action") not in ACTIONS:
            return "Event action is invalid"
        if event["event_action"] != "trigger":
            return "" if event.get("dedup_key") else "Dedup key is required"
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return "'payload' is missing or not an object"
        for name in ("summary", "source"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                return f"'payload.{name}' is missing or blank"
        if len(payload["summary"]) > 1024:
            return "'payload.summary' is longer than 1024 characters"
        if payload.get("severity") not in SEVERITIES:
            return "'payload.severity' is invalid (expected one of critical, error, warning, info)"
        return ""


def _invalid(error: str) -> dict:
    return {"status": "invalid event", "message": "Event object is invalid", "errors": [error]}
