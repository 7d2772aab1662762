"""The services catalog (procedures 9.2) and creating people (SRE leads)."""

import pytest

from incidents.models import User

from .conftest import assert_error

pytestmark = pytest.mark.django_db

SERVICES = "/api/v1/services/"
USERS = "/api/v1/users/"

CATALOG = {
    ("api-gateway", "API Gateway", "platform", "docs/runbooks/api-gateway.md"),
    ("training", "Training Service", "platform", "docs/runbooks/training.md"),
    ("inference", "Inference Service", "platform", "docs/runbooks/inference.md"),
    ("database", "Database", "platform", "docs/runbooks/database.md"),
    ("authentication", "Authentication", "security", "docs/runbooks/auth.md"),
    ("encryption", "Encryption Service", "security", "docs/runbooks/encryption.md"),
}


# --- services -------------------------------------------------------------------------------------
def test_services_lists_the_seeded_catalog(api, viewer):
    response = api(viewer).get(SERVICES)
    assert response.status_code == 200
    rows = response.json()
    assert isinstance(rows, list)
    for row in rows:
        assert {"slug", "name", "team", "runbook"} <= set(row)
    listed = {(r["slug"], r["name"], r["team"], r["runbook"]) for r in rows}
    assert listed >= CATALOG, CATALOG - listed
    gateway = next(r for r in rows if r["slug"] == "api-gateway")
    assert gateway["runbook"] == "docs/runbooks/api-gateway.md"
    assert gateway["team"] == "platform"


# --- users ----------------------------------------------------------------------------------------
def _new_user(**overrides):
    body = {
        "username": "dana",
        "password": "lantern-orbit-velvet",
        "email": "dana@tensafe.test",
        "rank": "senior_engineer",
        "team": "platform",
        "groups": ["responder", "incident_commander"],
    }
    body.update(overrides)
    return body


def test_sre_lead_creates_a_user_who_can_then_get_a_token(api, sre_lead):
    response = api(sre_lead).post(USERS, _new_user(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body
    assert body["username"] == "dana"
    assert body["email"] == "dana@tensafe.test"
    assert body["rank"] == "senior_engineer"
    assert body["team"] == "platform"
    assert body["groups"] == ["incident_commander", "responder"]
    user = User.objects.get(username="dana")
    assert user.check_password("lantern-orbit-velvet")
    assert not user.is_staff and not user.is_superuser

    token = api().post(
        "/api/v1/auth/token/",
        {"username": "dana", "password": "lantern-orbit-velvet"},
        format="json",
    )
    assert token.status_code == 200, token.content
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    me = client.get("/api/v1/users/me/").json()
    assert (me["username"], me["rank"], me["team"]) == ("dana", "senior_engineer", "platform")
    # The new person's groups are in force: a responder may declare.
    declared = client.post(
        "/api/v1/incidents/",
        {"title": "Queue stuck", "severity": "P3", "detection_source": "internal_report"},
        format="json",
    )
    assert declared.status_code == 201, declared.content


def test_superuser_creates_an_sre_lead(api, superuser):
    response = api(superuser).post(
        USERS, _new_user(username="sam", groups=["sre_lead"]), format="json"
    )
    assert response.status_code == 201, response.content
    assert User.objects.get(username="sam").is_staff


def test_sre_lead_lists_users(api, sre_lead, responder):
    response = api(sre_lead).get(USERS)
    assert response.status_code == 200
    assert {u["username"] for u in response.json()} >= {sre_lead.username, responder.username}


@pytest.mark.parametrize("who", ["responder", "viewer", "ic_user", "security_user"])
def test_only_sre_leads_create_users(api, request, who):
    body = assert_error(
        api(request.getfixturevalue(who)).post(USERS, _new_user(), format="json"), 403
    )
    assert "SRE" in body["detail"]
    assert not User.objects.filter(username="dana").exists()


@pytest.mark.parametrize("who", ["responder", "viewer"])
def test_only_sre_leads_list_users(api, request, who):
    assert_error(api(request.getfixturevalue(who)).get(USERS), 403)


@pytest.mark.parametrize(
    ("overrides", "field", "named"),
    [
        ({"rank": "wizard"}, "rank", "wizard"),
        ({"groups": ["responder", "admins"]}, "groups", "admins"),
        ({"team": "marketing"}, "team", "marketing"),
        ({"password": "short"}, "password", "too short"),
        ({"password": "12345678901"}, "password", "numeric"),
        ({"password": "dana-tensafe"}, "password", "similar"),
        ({"username": "has space"}, "username", "username"),
        ({"email": "not-an-email"}, "email", "email"),
        ({"is_superuser": True}, "is_superuser", "is_superuser"),
    ],
)
def test_create_user_refuses_bad_input_naming_it(api, sre_lead, overrides, field, named):
    body = _new_user(**overrides)
    error = assert_error(api(sre_lead).post(USERS, body, format="json"), 400)
    assert field in error, error
    assert named.lower() in error["detail"].lower(), error
    assert not User.objects.filter(username=body["username"]).exists()


@pytest.mark.parametrize("missing", ["username", "password", "rank"])
def test_create_user_requires_fields(api, sre_lead, missing):
    body = _new_user()
    del body[missing]
    error = assert_error(api(sre_lead).post(USERS, body, format="json"), 400)
    assert missing in error


@pytest.mark.parametrize("username", ["dana", "DANA"])
def test_create_user_refuses_a_taken_username(api, sre_lead, username):
    client = api(sre_lead)
    assert client.post(USERS, _new_user(), format="json").status_code == 201
    error = assert_error(client.post(USERS, _new_user(username=username), format="json"), 400)
    assert "username" in error
    assert "taken" in error["detail"]
    assert User.objects.filter(username__iexact="dana").count() == 1
