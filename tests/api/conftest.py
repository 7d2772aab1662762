"""Helpers for the HTTP-level tests: contract request bodies, a superuser, and small
assertions about the error shape every endpoint shares (JSON with a readable `detail`)."""

from datetime import datetime

import pytest

from tests.factories import UserFactory, declare

INCIDENTS = "/api/v1/incidents/"


def incident_url(incident_or_id, action: str = "") -> str:
    pk = getattr(incident_or_id, "pk", incident_or_id)
    return f"{INCIDENTS}{pk}/" + (f"{action}/" if action else "")


def declare_body(**overrides) -> dict:
    """The declaration body of the contract."""
    body = {
        "title": "API gateway returning 502s",
        "description": "Half of the requests to /v1/infer fail.",
        "severity": "P1",
        "services": ["api-gateway"],
        "detection_source": "monitoring",
        "security": False,
    }
    body.update(overrides)
    return body


def assert_error(response, status: int) -> dict:
    """`response` has `status` and a JSON body with a non-empty string `detail`."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body.get("detail"), str), body
    assert body["detail"].strip(), body
    return body


def parse_time(value: str) -> datetime:
    """An ISO 8601 time from the API; it must carry an offset."""
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value!r} has no UTC offset"
    return parsed


@pytest.fixture
def superuser(db):
    return UserFactory(rank="cto", is_superuser=True, is_staff=True)


@pytest.fixture
def incident(ic_user):
    """A P1 declared by the IC-group Engineering Manager, affecting api-gateway."""
    from incidents.models import Service

    return declare(actor=ic_user, services=list(Service.objects.filter(slug="api-gateway")))
