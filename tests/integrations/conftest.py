"""Fixtures for the integration tests: payloads shaped as the senders send them (payloads/),
integrations with their secrets, a poster, the services the payloads name, and a real local
HTTP server for outgoing webhooks."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import Client

from integrations.services.integrations import integration_create
from tests.factories import ServiceFactory, TeamFactory

PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


@pytest.fixture(autouse=True)
def _apply_inline(settings):
    """Most tests look at the incident right after the request: open it in the request. The
    default (a worker opens it) is covered by test_deferred_declaration_*."""
    settings.TENSAFE_INGEST_APPLY_INLINE = True


@pytest.fixture
def catalog(db):
    """The services the payloads name."""
    team = TeamFactory(slug="platform", name="Platform")
    return {
        slug: ServiceFactory(slug=slug, name=slug.replace("-", " ").title(), team=team)
        for slug in ("inference-api", "training-scheduler", "postgres", "encryption-api")
    }


@dataclass
class Sender:
    integration: object
    secret: str
    client: Client = field(default_factory=Client)

    @property
    def path(self) -> str:
        return f"/integrations/{self.integration.pk}/alerts/"

    def post(self, payload, *, secret: str | None = "default", raw: bytes | None = None, **headers):
        body = raw if raw is not None else json.dumps(payload).encode()
        token = self.secret if secret == "default" else secret
        if token is not None:
            headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {token}")
        return self.client.generic(
            "POST", self.path, body, content_type="application/json", **headers
        )


@pytest.fixture
def sender(db):
    """sender(kind, **options) -> a Sender for a new integration of that kind."""

    def make(kind: str, **options) -> Sender:
        integration, secret = integration_create(
            actor=None, kind=kind, name=options.pop("name", f"{kind} prod"), **options
        )
        return Sender(integration, secret)

    return make


# --- a local HTTP server for outgoing webhooks -----------------------------------------------
@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class HttpTarget:
    """Answers each POST with the next queued (status, headers) — 200 when none is queued —
    and records what it received."""

    def __init__(self):
        self.received: list[Received] = []
        self.answers: list[tuple[int, dict]] = []
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with target.lock:
                    target.received.append(Received(self.path, dict(self.headers), body))
                    code, headers = target.answers.pop(0) if target.answers else (200, {})
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/tensafe"

    def respond(self, *answers) -> None:
        self.answers.extend(a if isinstance(a, tuple) else (a, {}) for a in answers)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_target():
    target = HttpTarget()
    yield target
    target.close()


@pytest.fixture
def allow_local(settings):
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
