"""The incident list builds its rows from `.values()` (incidents/api/list_rows.py) instead of
`IncidentOutputSerializer`; the JSON must be byte for byte what the serializer writes for the
same page, whatever the filters, ordering, page and viewer."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rest_framework.renderers import JSONRenderer

from incidents import services
from incidents.api.filters import IncidentFilter
from incidents.api.serializers import IncidentOutputSerializer
from incidents.models import Service
from incidents.selectors import incident_list_for_api
from tests.conftest import kept_for_module
from tests.factories import UserFactory, declare, drive_to, put_on_call

from .conftest import INCIDENTS

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def history(django_db_setup, django_db_blocker):
    """Incidents with every shape a row can take: no services or several, roles held, handed
    over and relieved, names blank or not, every milestone or none, a start time with
    microseconds and one given with another UTC offset, security and drill. Written once for
    the module (the tests only read them), with the people who read them."""
    with kept_for_module(django_db_blocker):
        ic_user = UserFactory(rank="engineering_manager", groups=["incident_commander"])
        responder = UserFactory(rank="engineer", groups=["responder"])
        security_user = UserFactory(rank="security_lead", groups=["security"])
        catalog = list(Service.objects.order_by("slug"))
        put_on_call(ic_user)  # the IC of a P3 or P4 is the on-call engineer (3.1)
        lead = UserFactory(
            rank="senior_engineer", groups=["responder"], first_name="", last_name=""
        )
        now = datetime.now(UTC).replace(microsecond=0)
        for n in range(12):
            detected = now - timedelta(hours=n, microseconds=123456 * (n % 2))
            started = detected - timedelta(minutes=7) if n % 3 else None
            incident = declare(
                actor=security_user if n == 5 else ic_user,
                title=f"Incident {n}",
                severity=f"P{n % 4 + 1}",
                services=catalog[n % 4 : n % 4 + n % 3],
                security=n in (5, 9),
                drill=n == 7,
                detected_at=detected.astimezone(UTC if n % 2 else _PLUS_TWO),
                started_at=started,
            )
            if n % 2:
                acknowledger = security_user if incident.security else responder
                services.incident_acknowledge(actor=acknowledger, incident_id=incident.pk)
            if n % 3 == 0:
                services.incident_assign_role(
                    actor=ic_user, incident_id=incident.pk, role="tech_lead", user=lead
                )
            if n % 4 == 0:
                services.incident_assign_role(
                    actor=ic_user, incident_id=incident.pk, role="sme", user=responder
                )
                services.incident_relieve_role(
                    actor=ic_user, incident_id=incident.pk, role="sme", user=responder
                )
            if n == 9:  # a security incident the responder sees by holding a role
                services.incident_assign_role(
                    actor=ic_user, incident_id=incident.pk, role="sme", user=responder
                )
            if n in (2, 3):
                drive_to(incident, ("monitoring", "resolved")[n - 2], ic_user)
        yield {"responder": responder, "security_user": security_user}


# The module's readers are the people the history was written with.
@pytest.fixture
def responder(history):
    return history["responder"]


@pytest.fixture
def security_user(history):
    return history["security_user"]


_PLUS_TWO = timezone(timedelta(hours=2))


def _serializer_page(user, query: dict) -> bytes:
    """The page as the list wrote it before list_rows.py: filters, ordering and slicing on
    the prefetching queryset, then the serializer."""
    from django.test import RequestFactory
    from rest_framework.request import Request

    from incidents.api.filters import IncidentOrdering
    from incidents.api.views import IncidentListCreateApi

    request = Request(RequestFactory().get(INCIDENTS, query))
    request.user = user
    view = IncidentListCreateApi(request=request, format_kwarg=None)
    incidents = IncidentFilter(query, queryset=incident_list_for_api(user)).qs
    incidents = IncidentOrdering().filter_queryset(request, incidents, view)
    size, page = int(query.get("page_size", 50)), int(query.get("page", 1))
    rows = incidents[(page - 1) * size : page * size]
    return JSONRenderer().render(IncidentOutputSerializer(rows, many=True).data)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"page_size": "5", "page": "2"},
        {"page_size": "4", "page": "3"},
        {"ordering": "severity"},
        {"ordering": "-status,id", "page_size": "7"},
        {"status": "investigating,monitoring"},
        {"severity": "P1,P2", "open": "true"},
        {"service": "api-gateway"},
        {"security": "true"},
        {"q": "Incident 1"},
    ],
)
@pytest.mark.parametrize("who", ["security_user", "responder"])
def test_list_json_is_what_the_serializer_writes(api, request, history, who, query):
    user = request.getfixturevalue(who)
    response = api(user).get(INCIDENTS, query)
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results, "the query must select some incidents"
    assert JSONRenderer().render(results) == _serializer_page(user, query)


def test_rows_carry_roles_services_and_milestones(api, security_user, history):
    """The comparison above covers these shapes (so it cannot pass on empty fields)."""
    rows = api(security_user).get(INCIDENTS).json()["results"]
    assert {len(r["services"]) for r in rows} >= {0, 1, 2}
    assert any(r["roles"] and r["roles"][-1]["name"] == "" for r in rows)
    assert any(r["resolved_at"] and r["ttr_seconds"] is not None for r in rows)
    assert any(r["started_at"] and "." in r["started_at"] for r in rows)
    assert all(r["detected_at"].endswith("Z") for r in rows)
    assert {r["security"] for r in rows} == {True, False}


def test_another_time_zone_is_written_as_the_serializer_writes_it(
    api, security_user, history, settings
):
    """PostgreSQL writes the rows only in UTC (the API's zone); in any other the rows are
    built in Python (incidents/api/list_rows.py), with the zone's offsets."""
    settings.TIME_ZONE = "Europe/Paris"
    query = {"page_size": "6"}
    results = api(security_user).get(INCIDENTS, query).json()["results"]
    assert results[0]["detected_at"].endswith(("+01:00", "+02:00"))
    assert JSONRenderer().render(results) == _serializer_page(security_user, query)
