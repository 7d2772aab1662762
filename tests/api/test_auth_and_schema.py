"""Auth (token), the error shape of anonymous calls, and the OpenAPI schema and docs."""

import re
from html.parser import HTMLParser

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import PASSWORD, declare

from .conftest import assert_error

# Every /api/v1/ endpoint of the contract that exists now, with a method each accepts.
# `{id}` and `{item_id}` are filled with real ids so only authentication can refuse.
ENDPOINTS = [
    ("get", "/api/v1/incidents/"),
    ("post", "/api/v1/incidents/"),
    ("get", "/api/v1/incidents/{id}/"),
    ("patch", "/api/v1/incidents/{id}/"),
    ("post", "/api/v1/incidents/{id}/acknowledge/"),
    ("post", "/api/v1/incidents/{id}/transition/"),
    ("post", "/api/v1/incidents/{id}/roles/"),
    ("get", "/api/v1/incidents/{id}/timeline/"),
    ("post", "/api/v1/incidents/{id}/timeline/"),
    ("get", "/api/v1/incidents/{id}/checklists/"),
    ("patch", "/api/v1/incidents/{id}/checklists/{item_id}/"),
    ("post", "/api/v1/triage/"),
    ("get", "/api/v1/policy/"),
    ("patch", "/api/v1/policy/"),
    ("get", "/api/v1/services/"),
    ("get", "/api/v1/users/"),
    ("post", "/api/v1/users/"),
    ("get", "/api/v1/users/me/"),
]

CONTRACT_PATHS = {
    "/api/v1/incidents/",
    "/api/v1/incidents/{}/",
    "/api/v1/incidents/{}/acknowledge/",
    "/api/v1/incidents/{}/transition/",
    "/api/v1/incidents/{}/roles/",
    "/api/v1/incidents/{}/timeline/",
    "/api/v1/incidents/{}/checklists/",
    "/api/v1/incidents/{}/checklists/{}/",
    "/api/v1/triage/",
    "/api/v1/policy/",
    "/api/v1/services/",
    "/api/v1/users/",
}


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


# --- token ------------------------------------------------------------------------------------
def test_token_for_right_password(api, responder):
    response = api().post(
        "/api/v1/auth/token/",
        {"username": responder.username, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    assert isinstance(token, str) and len(token) >= 20

    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/v1/users/me/")
    assert me.status_code == 200
    assert me.json()["username"] == responder.username


def test_token_refused_for_wrong_password(api, responder):
    response = api().post(
        "/api/v1/auth/token/",
        {"username": responder.username, "password": "wrong-password"},
        format="json",
    )
    body = assert_error(response, 400)
    assert "token" not in body


def test_token_refused_for_unknown_user(api, db):
    response = api().post(
        "/api/v1/auth/token/", {"username": "nobody", "password": "x" * 12}, format="json"
    )
    assert_error(response, 400)


def test_a_bad_token_is_refused(api, responder):
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    body = assert_error(client.get("/api/v1/incidents/"), 401)
    assert "token" in body["detail"].lower()


# --- anonymous ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_refuses_anonymous_calls(api, ic_user, method, path):
    incident = declare(actor=ic_user)
    item = incident.checklist.first()
    url = path.replace("{id}", str(incident.pk)).replace("{item_id}", str(item.pk))
    response = getattr(api(), method)(url, {}, format="json")
    assert response.status_code in (401, 403), (response.status_code, response.content)
    body = assert_error(response, response.status_code)
    assert "credentials" in body["detail"].lower()
    # Nothing happened on the incident's behalf.
    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    assert incident.timeline.count() == 1


def _api_routes() -> list[str]:
    """Every route under /api/v1/, including ones added after this test was written."""
    routes = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                routes.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    return [r for r in routes if r.startswith("api/v1/") and r != "api/v1/auth/token/"]


def _fill(route: str, incident_id: int, item_id: int) -> str:
    """A concrete URL for `route`: `item_id` the checklist item, other ints the incident,
    anything else (slugs) a placeholder."""

    def value(match):
        converter, name = match.groups()
        if name == "item_id":
            return str(item_id)
        return str(incident_id) if converter in ("int", None) else "x"

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, route)


def test_every_api_route_refuses_anonymous_calls_with_any_method(api, ic_user):
    incident = declare(actor=ic_user)
    item = incident.checklist.first()
    routes = _api_routes()
    assert len(routes) >= len({path for _, path in ENDPOINTS}), routes
    client = api()
    for route in routes:
        url = _fill(route, incident.pk, item.pk)
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(url, {}, format="json")
            assert response.status_code in (401, 403), (method, url, response.status_code)
            assert response.json().get("detail"), (method, url, response.content)
    incident.refresh_from_db()
    assert incident.timeline.count() == 1


# --- schema and docs ----------------------------------------------------------------------------
@pytest.fixture
def schema(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200, response.content
    document = yaml.safe_load(response.content)
    assert isinstance(document, dict)
    return document


def test_schema_is_openapi_3_without_auth(schema):
    assert str(schema["openapi"]).startswith("3.")
    assert schema["info"]["title"] == "TenSafe IR API"


def test_schema_as_json(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


def test_schema_lists_every_contract_path(schema):
    paths = {_normalise(p) for p in schema["paths"]}
    missing = CONTRACT_PATHS - paths
    assert not missing, f"schema lacks {sorted(missing)}; it has {sorted(paths)}"


def test_the_schema_is_valid_openapi(schema):
    """The reference validator accepts the published schema, as clients generated from it
    (openapi-python-client and the like) need. It refused `UserCreateInputRequest.email`, a
    `format: email` field whose default was ''."""
    from openapi_spec_validator import validate

    assert schema["openapi"].startswith("3.0")
    validate(schema)


def test_schema_documents_the_methods_of_the_contract(schema):
    methods = {_normalise(p): set(ops) for p, ops in schema["paths"].items()}
    assert {"get", "post"} <= methods["/api/v1/incidents/"]
    assert {"get", "patch"} <= methods["/api/v1/incidents/{}/"]
    assert "post" in methods["/api/v1/incidents/{}/transition/"]
    assert {"get", "post"} <= methods["/api/v1/incidents/{}/timeline/"]
    assert "patch" in methods["/api/v1/incidents/{}/checklists/{}/"]
    assert {"get", "patch"} <= methods["/api/v1/policy/"]
    assert "post" in methods["/api/v1/users/"]
    # The timeline is append-only: the schema offers no way to edit it.
    assert not {"put", "patch", "delete"} & methods["/api/v1/incidents/{}/timeline/"]


def test_schema_declares_token_auth(schema):
    schemes = schema["components"]["securitySchemes"]
    assert any(
        s.get("type") == "apiKey" and s.get("name") == "Authorization" for s in schemes.values()
    ), schemes


class _AssetParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.assets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.assets.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.assets.append(attrs["href"])


@pytest.mark.parametrize(
    ("path", "asset"), [("/api/docs/", "swagger-ui"), ("/api/redoc/", "redoc")]
)
def test_the_api_docs_use_only_local_static_files(client, db, path, asset):
    """README: the docs work offline. Redoc's template linked Google's fonts (preconnect and a
    stylesheet); ours leaves them out."""
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    parser = _AssetParser()
    parser.feed(html)
    assert parser.assets, "no <script src> or <link href> found"
    remote = [a for a in parser.assets if re.match(r"^(https?:)?//", a)]
    assert not remote, f"{path} loads from other hosts: {remote}"
    assert any(asset in a and a.startswith("/static/") for a in parser.assets), parser.assets
    for host in ("cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com", "fonts.gstatic.com"):
        assert host not in html


def test_schema_documents_the_list_as_paginated_and_filterable(schema):
    operation = schema["paths"]["/api/v1/incidents/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    listed = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"count", "next", "previous", "results"} <= set(listed["properties"]), listed
    assert listed["properties"]["results"]["type"] == "array"
    parameters = {p["name"] for p in operation["parameters"]}
    assert {"status", "severity", "service", "page", "page_size"} <= parameters, parameters
