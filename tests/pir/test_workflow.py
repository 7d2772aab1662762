"""Draft -> in review -> published, each on the incident's timeline; publishing refuses empty
required sections, naming them."""

import pytest

from incidents.states import TimelineKind
from pir.models import PirStatus, PostIncidentReview
from pir.sections import pir_missing_sections
from tests.pir.conftest import fill

pytestmark = pytest.mark.django_db


def _move(api, user, pir, to):
    return api(user).post(f"/api/v1/pirs/{pir.pk}/transition/", {"to": to}, format="json")


def test_the_status_field_is_protected(p1_pir):
    pir, _ic = p1_pir
    with pytest.raises(AttributeError):
        pir.status = PirStatus.PUBLISHED


def test_publishing_an_empty_review_is_refused_naming_the_sections(p1_pir, api):
    pir, ic = p1_pir
    assert _move(api, ic, pir, "in_review").status_code == 200
    response = _move(api, ic, pir, "published")
    assert response.status_code == 409
    body = response.json()
    for name in (
        "Summary",
        "Impact: Customers Affected",
        "What Happened",
        "Why It Happened",
        "Lessons Learned",
        "Review Date",
    ):
        assert name in body["missing"]
        assert name in body["detail"]
    fill(pir, lessons_learned="  ")
    response = _move(api, ic, pir, "published")
    assert response.status_code == 409
    assert response.json()["missing"] == ["Lessons Learned"]


def test_the_whole_workflow_is_on_the_incident_timeline(p1_pir, api):
    pir, ic = p1_pir
    fill(pir)
    assert _move(api, ic, pir, "published").status_code == 409  # not from draft
    assert _move(api, ic, pir, "in_review").json()["status"] == "in_review"
    assert _move(api, ic, pir, "draft").json()["status"] == "draft"
    assert _move(api, ic, pir, "in_review").status_code == 200
    body = _move(api, ic, pir, "published").json()
    assert body["status"] == "published"
    assert body["published_at"] is not None
    kinds = list(
        pir.incident.timeline.filter(data__pir=pir.pk)
        .order_by("id")
        .values_list("kind", "data__pir_transition")
    )
    assert kinds == [
        (TimelineKind.PIR_CREATED, None),
        (TimelineKind.NOTE, "submit"),
        (TimelineKind.NOTE, "return_to_draft"),
        (TimelineKind.NOTE, "submit"),
        (TimelineKind.PIR_PUBLISHED, "publish"),
    ]


def test_a_published_review_is_read_only(p1_pir, api):
    pir, ic = p1_pir
    fill(pir)
    _move(api, ic, pir, "in_review")
    _move(api, ic, pir, "published")
    response = api(ic).patch(f"/api/v1/pirs/{pir.pk}/", {"summary": "x"}, format="json")
    assert response.status_code == 409
    assert "read-only" in response.json()["detail"]


def test_only_author_ic_or_sre_lead_publish(p1_pir, api, responder, viewer):
    pir, _ic = p1_pir
    fill(pir)
    assert _move(api, responder, pir, "in_review").status_code == 200
    assert _move(api, responder, pir, "published").status_code == 403
    assert _move(api, viewer, pir, "draft").status_code == 403


def test_sections_are_edited_through_the_api_strictly(p1_pir, api):
    pir, ic = p1_pir
    url = f"/api/v1/pirs/{pir.pk}/"
    response = api(ic).patch(
        url,
        {
            "summary": "Short.",
            "five_whys": ["one", "two", "three", "four", "five"],
            "sla_impact_minutes": 12,
            "appendix_links": [{"title": "Logs", "url": "https://logs.example/q"}],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["five_whys"][4] == "five"
    assert body["appendix_links"] == [{"title": "Logs", "url": "https://logs.example/q"}]
    assert api(ic).patch(url, {"sumary": "typo"}, format="json").status_code == 400
    bad = api(ic).patch(url, {"sla_impact_minutes": -1}, format="json")
    assert bad.status_code == 400
    assert "sla_impact_minutes" in bad.json()["detail"]
    assert api(ic).patch(url, {}, format="json").status_code == 400


def test_filled_review_has_nothing_missing(p1_pir):
    pir, _ic = p1_pir
    assert "Summary" in pir_missing_sections(pir)
    assert pir_missing_sections(fill(pir)) == []
    assert PostIncidentReview.objects.count() == 1


def test_timeline_rows_are_editable_and_keep_their_source(p1_pir, api):
    pir, ic = p1_pir
    url = f"/api/v1/pirs/{pir.pk}/timeline/"
    rows = api(ic).get(url).json()
    first = rows[0]
    assert first["source_event"] is not None
    edited = (
        api(ic)
        .patch(f"{url}{first['id']}/", {"text": "Declared P1 by the on-call"}, format="json")
        .json()
    )
    assert edited["source_event"] == first["source_event"]
    assert edited["edited"] is True
    added = api(ic).post(
        url, {"occurred_at": "2026-01-01T10:00:00Z", "text": "Config pushed"}, format="json"
    )
    assert added.status_code == 201
    assert added.json()["source_event"] is None
    naive = api(ic).post(url, {"occurred_at": "2026-01-01T10:00:00", "text": "x"}, format="json")
    assert naive.status_code == 400
    assert api(ic).delete(f"{url}{first['id']}/").status_code == 204
    assert len(api(ic).get(url).json()) == len(rows)
