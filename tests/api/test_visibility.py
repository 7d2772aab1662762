"""Restricted security incidents: to anyone outside the security group who holds no role on
one, it does not exist (404 everywhere, absent from lists and counts)."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from incidents import services
from incidents.models import Service
from tests.factories import UserFactory, declare

from .conftest import INCIDENTS, assert_error, incident_url

pytestmark = pytest.mark.django_db

SECRET_TITLE = "Credential stuffing against auth"
OUTSIDERS = ["responder", "viewer", "sre_lead", "ic_user"]


@pytest.fixture
def declarer(db):
    return UserFactory(rank="engineering_manager", groups=["incident_commander"])


@pytest.fixture
def security_incident(declarer):
    return declare(
        actor=declarer,
        title=SECRET_TITLE,
        severity="P1",
        security=True,
        services=list(Service.objects.filter(slug="authentication")),
    )


@pytest.fixture
def public_incident(declarer):
    return declare(
        actor=declarer,
        title="Credential page slow",
        severity="P1",
        services=list(Service.objects.filter(slug="authentication")),
    )


@pytest.fixture
def role_holder(declarer, security_incident):
    user = UserFactory(rank="engineer", groups=["responder"])
    services.incident_assign_role(
        actor=declarer, incident_id=security_incident.pk, role="sme", user=user
    )
    return user


@pytest.fixture
def relieved_holder(declarer, security_incident):
    user = UserFactory(rank="engineer", groups=["responder"])
    services.incident_assign_role(
        actor=declarer, incident_id=security_incident.pk, role="sme", user=user
    )
    services.incident_relieve_role(
        actor=declarer, incident_id=security_incident.pk, role="sme", user=user
    )
    return user


def _requests(incident, user):
    """Every incident endpoint, with a body it would accept from someone who may see it."""
    item = incident.checklist.get(key="issue_verified")
    return {
        "detail GET": ("get", incident_url(incident), None),
        "detail PATCH": ("patch", incident_url(incident), {"description": "Scope narrowed"}),
        "acknowledge": ("post", incident_url(incident, "acknowledge"), {}),
        "transition": ("post", incident_url(incident, "transition"), {"to": "identified"}),
        "roles": (
            "post",
            incident_url(incident, "roles"),
            {"role": "scribe", "username": user.username},
        ),
        "timeline GET": ("get", incident_url(incident, "timeline"), None),
        "timeline POST": ("post", incident_url(incident, "timeline"), {"text": "peek"}),
        "checklists GET": ("get", incident_url(incident, "checklists"), None),
        "checklist PATCH": (
            "patch",
            incident_url(incident, f"checklists/{item.pk}"),
            {"done": True},
        ),
    }


ENDPOINT_NAMES = [
    "detail GET",
    "detail PATCH",
    "acknowledge",
    "transition",
    "roles",
    "timeline GET",
    "timeline POST",
    "checklists GET",
    "checklist PATCH",
]


def _state(incident):
    incident.refresh_from_db()
    return (
        incident.status,
        incident.severity,
        incident.acknowledged_at,
        incident.timeline.count(),
        incident.roles.count(),
        incident.checklist.filter(done=True).count(),
    )


# --- outsiders -------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", ENDPOINT_NAMES)
@pytest.mark.parametrize("who", OUTSIDERS)
def test_outsider_gets_404_everywhere(api, request, security_incident, who, endpoint):
    user = request.getfixturevalue(who)
    method, url, body = _requests(security_incident, user)[endpoint]
    before = _state(security_incident)

    response = getattr(api(user), method)(url, body, format="json")

    error = assert_error(response, 404)
    assert SECRET_TITLE not in response.content.decode()
    assert "security" not in error["detail"].lower()
    assert _state(security_incident) == before


@pytest.mark.parametrize("who", [*OUTSIDERS, "relieved_holder"])
def test_outsider_gets_the_same_404_as_for_a_missing_incident(api, request, security_incident, who):
    client = api(request.getfixturevalue(who))
    hidden = client.get(incident_url(security_incident))
    missing = client.get(incident_url(security_incident.pk + 1000))
    assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?status=investigating",
        "?severity=P1",
        "?service=authentication",
        "?security=true",
        "?q=credential",
        "?q=stuffing",
        "?open=true",
        "?ordering=severity",
        "?page_size=1",
    ],
)
@pytest.mark.parametrize("who", [*OUTSIDERS, "relieved_holder"])
def test_outsider_list_leaves_it_out_of_results_and_count(
    api, request, security_incident, public_incident, who, query
):
    response = api(request.getfixturevalue(who)).get(INCIDENTS + query)
    assert response.status_code == 200, response.content
    body = response.json()
    ids = {row["id"] for row in body["results"]}
    assert security_incident.pk not in ids
    expected = 0 if query in ("?security=true", "?q=stuffing") else 1
    assert body["count"] == expected
    assert SECRET_TITLE not in response.content.decode()


def _incident_routes():
    """Every GET-able route under /api/v1/incidents/<pk>/, including ones added later."""
    routes = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith("api/v1/incidents/<int:pk>/"):
                    routes.append(route)

    walk(get_resolver().url_patterns, "")
    return routes


def test_every_incident_route_hides_it_from_an_outsider(api, responder, security_incident):
    routes = _incident_routes()
    assert len(routes) >= 8, routes
    client = api(responder)
    item = security_incident.checklist.first()
    for route in routes:
        url = "/" + route.replace("<int:pk>", str(security_incident.pk)).replace(
            "<int:item_id>", str(item.pk)
        )
        response = client.get(url)
        assert response.status_code in (404, 405), (url, response.status_code)
        assert SECRET_TITLE not in response.content.decode(), url


def test_a_relieved_role_holder_loses_access(api, security_incident, relieved_holder):
    client = api(relieved_holder)
    assert_error(client.get(incident_url(security_incident)), 404)
    assert_error(client.get(incident_url(security_incident, "timeline")), 404)
    assert_error(
        client.post(incident_url(security_incident, "timeline"), {"text": "x"}, format="json"),
        404,
    )


def test_access_follows_the_role_over_http(api, declarer, responder, security_incident):
    """Assigning gives access at once; relieving takes it away at once."""
    outsider = api(responder)
    assert_error(outsider.get(incident_url(security_incident)), 404)

    assign = api(declarer).post(
        incident_url(security_incident, "roles"),
        {"role": "tech_lead", "username": responder.username},
        format="json",
    )
    assert assign.status_code == 200, assign.content
    assert outsider.get(incident_url(security_incident)).status_code == 200
    assert outsider.get(INCIDENTS).json()["count"] == 1

    relieve = api(declarer).post(
        incident_url(security_incident, "roles"),
        {"role": "tech_lead", "username": responder.username, "remove": True},
        format="json",
    )
    assert relieve.status_code == 200, relieve.content
    assert_error(outsider.get(incident_url(security_incident)), 404)
    assert outsider.get(INCIDENTS).json()["count"] == 0


# --- insiders ----------------------------------------------------------------------------------
INSIDERS = ["security_user", "role_holder", "declarer", "superuser"]


@pytest.mark.parametrize("endpoint", ["detail GET", "timeline GET", "checklists GET"])
@pytest.mark.parametrize("who", INSIDERS)
def test_insider_can_read(api, request, security_incident, who, endpoint):
    user = request.getfixturevalue(who)
    method, url, body = _requests(security_incident, user)[endpoint]
    response = getattr(api(user), method)(url, body, format="json")
    assert response.status_code == 200, response.content
    if endpoint == "detail GET":
        assert response.json()["title"] == SECRET_TITLE
        assert response.json()["security"] is True


@pytest.mark.parametrize("who", INSIDERS)
def test_insider_sees_it_in_the_list(api, request, security_incident, public_incident, who):
    client = api(request.getfixturevalue(who))
    body = client.get(INCIDENTS).json()
    assert body["count"] == 2
    assert security_incident.pk in {row["id"] for row in body["results"]}
    filtered = client.get(INCIDENTS + "?security=true&q=stuffing").json()
    assert [row["id"] for row in filtered["results"]] == [security_incident.pk]
    assert filtered["count"] == 1


@pytest.mark.parametrize(
    "endpoint",
    ["acknowledge", "transition", "timeline POST", "checklist PATCH", "detail PATCH", "roles"],
)
@pytest.mark.parametrize("who", INSIDERS)
def test_insider_can_write(api, request, security_incident, who, endpoint):
    user = request.getfixturevalue(who)
    method, url, body = _requests(security_incident, user)[endpoint]
    before = security_incident.timeline.count()
    response = getattr(api(user), method)(url, body, format="json")
    assert response.status_code in (200, 201), response.content
    assert security_incident.timeline.count() == before + 1
