"""What the schema fuzzer (tests/fuzz) found, held by plain tests: bodies are JSON only, values
have the JSON type the schema states, query parameters are validated rather than ignored, and
inputs that used to reach the database as errors (NUL, out-of-range times and hours) are 400s.
Every error is JSON, with its Content-Type, including from file downloads and unknown paths."""

import pytest

from incidents.models import Service
from pir.models import PostIncidentReview
from tests.factories import UserFactory, declare, drive_to

from .conftest import assert_error, declare_body, incident_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead():
    return UserFactory(rank="engineering_manager", groups=["sre_lead", "incident_commander"])


def test_a_form_encoded_body_is_415_and_changes_nothing(api, lead):
    response = api(lead).post("/api/v1/incidents/", declare_body(), format="multipart")

    body = assert_error(response, 415)
    assert "multipart/form-data" in body["detail"]
    assert api(lead).get("/api/v1/incidents/").json()["count"] == 0


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("security", "true", "Must be true or false, not a string."),
        ("title", 42, "Must be a string, not a number."),
        ("services", "api-gateway", "Must be a list, not a string."),
        ("services", ["api-gateway", 7], "1: Must be a string, not a number."),
    ],
)
def test_a_value_of_another_json_type_is_400_naming_the_field(api, lead, field, value, expected):
    response = api(lead).post("/api/v1/incidents/", declare_body(**{field: value}), format="json")

    assert assert_error(response, 400)[field] == [expected]


def test_an_empty_patch_of_a_review_is_400_not_a_server_error(api):
    ic = UserFactory(rank="engineering_manager", groups=["incident_commander"])
    incident = drive_to(declare(actor=ic), "resolved", ic)
    pir = PostIncidentReview.objects.get(incident=incident)
    response = api(ic).patch(f"/api/v1/pirs/{pir.pk}/", {}, format="json")

    assert "Nothing to change" in assert_error(response, 400)["detail"]


def test_nul_in_a_severity_map_key_or_a_text_filter_is_400(api, lead):
    created = api(lead).post(
        "/api/v1/integrations/",
        {"kind": "alertmanager", "name": "am", "severity_map": {"crit\x00": "P1"}},
        format="json",
    )
    listed = api(lead).get("/api/v1/pirs/action-items/", {"owner": "a\x00b"})

    assert assert_error(created, 400)["severity_map"] == ["Keys: Null characters are not allowed."]
    assert assert_error(listed, 400)["owner"] == ["Null characters are not allowed."]


def test_query_parameters_are_checked_not_ignored(api, lead):
    client = api(lead)
    for url, params, name in [
        ("/api/v1/incidents/", {"security": "maybe"}, "security"),
        ("/api/v1/incidents/", {"severity": ""}, "severity"),
        ("/api/v1/incidents/", {"detected_after": ""}, "detected_after"),
        ("/api/v1/incidents/", {"page_size": "ten"}, "page_size"),
        ("/api/v1/deadlines/", {"incident": "abc"}, "incident"),
        ("/api/v1/escalation-contacts/", {"incident": "0"}, "incident"),
        ("/api/v1/deadlines/lateness/", {"hours": "18446744073709551617"}, "hours"),
        ("/api/v1/pirs/action-items/jira/", {"project": "OPS\x05"}, "project"),
        ("/api/v1/pirs/action-items/metrics/", {"since": ""}, "since"),
    ]:
        response = client.get(url, params)
        assert name in assert_error(response, 400), (url, params)


def test_a_time_filter_with_an_offset_postgresql_cannot_store_still_works(api, lead):
    declare(actor=lead, services=list(Service.objects.filter(slug="api-gateway")))

    response = api(lead).get("/api/v1/incidents/", {"detected_after": "2000-01-01T00:00:00+20:18"})

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_an_unknown_api_path_and_a_file_download_error_are_json(api, lead):
    unknown = api(lead).get("/api/v1/incidents/not-a-number/")
    pdf = api(lead).get("/api/v1/pirs/999999/pdf/", HTTP_ACCEPT="application/pdf")

    assert assert_error(unknown, 404)["detail"].startswith("Not found")
    assert assert_error(pdf, 404)["detail"]


def test_deadlines_are_a_paginated_list_like_the_schema_says(api, lead):
    incident = declare(actor=lead)

    body = api(lead).get("/api/v1/deadlines/", {"incident": incident.pk}).json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == len(body["results"]) > 0
    assert assert_error(api(lead).get(incident_url(incident, "pages") + "x/"), 404)["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/pirs/?incident=18446744073709551616",
        "/api/v1/deadlines/?incident=18446744073709551616",
        "/api/v1/pirs/?incident=0",
    ],
)
def test_an_id_beyond_64_bits_is_400_not_a_database_error(api, lead, url):
    """SQLite refuses integers over 64 bits (OverflowError, a 500 before); no id is that big."""
    name = url.split("?")[1].split("=")[0]
    body = assert_error(api(lead).get(url), 400)
    assert name in body


def test_a_timeline_cursor_beyond_64_bits_is_400(api, lead):
    incident = declare(actor=lead, title="Cursor")
    response = api(lead).get(incident_url(incident.pk, "timeline") + "?after=18446744073709551616")
    assert_error(response, 400)
