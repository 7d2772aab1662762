"""The incident list's pages are kept per version and viewer (incidents/api/list_cache.py):
a repeat costs three queries, any change to an incident is seen by the next request, and no
viewer is ever served another's page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services
from incidents.models import Incident, TimelineEvent
from incidents.states import Status
from tests.factories import UserFactory, declare

from .conftest import INCIDENTS

pytestmark = pytest.mark.django_db


def _get(client, query=""):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(INCIDENTS + query)
    assert response.status_code == 200, response.content
    return response.json(), len(captured)


def test_a_repeat_is_served_from_the_cache_with_three_queries(api, ic_user, sre_lead):
    for n in range(3):
        declare(actor=ic_user, title=f"Incident {n}")
    client = api(sre_lead)
    first, built = _get(client, "?page_size=2")
    again, kept = _get(client, "?page_size=2")
    assert again == first
    # token + user, the user's groups, the version; building adds COUNT and the page's ids and
    # rows (PostgreSQL; on SQLite the page, its services, its roles)
    assert (kept, built) == (3, 6 if connection.vendor == "postgresql" else 7)


def test_a_change_is_seen_by_the_next_request(api, ic_user, sre_lead):
    incident = declare(actor=ic_user, title="Checkout errors")
    client = api(sre_lead)
    before, _ = _get(client)
    assert before["results"][0]["status"] == Status.INVESTIGATING

    services.incident_transition(actor=ic_user, incident_id=incident.pk, to=Status.IDENTIFIED)
    after, _ = _get(client)
    assert after["results"][0]["status"] == Status.IDENTIFIED

    declare(actor=ic_user, title="Second")
    assert _get(client)[0]["count"] == 2


def test_filters_and_pages_are_kept_apart(api, ic_user, sre_lead):
    declare(actor=ic_user, title="A", severity="P1")
    declare(actor=ic_user, title="B", severity="P3")
    client = api(sre_lead)
    assert _get(client, "?severity=P1")[0]["count"] == 1
    assert _get(client, "?severity=P3")[0]["results"][0]["title"] == "B"
    assert _get(client)[0]["count"] == 2


def test_no_viewer_is_served_another_viewers_page(api, ic_user, responder):
    """A security incident: its declarer and the security group see it; a responder does not,
    even right after they were served the same URL — and once given a role, they do."""
    security_user = UserFactory(rank="senior_engineer", groups=["security"])
    declare(actor=ic_user, title="Public")
    secret = declare(actor=ic_user, title="Key leak", security=True)

    assert _get(api(security_user))[0]["count"] == 2
    assert _get(api(ic_user))[0]["count"] == 2  # they declared it
    assert [r["title"] for r in _get(api(responder))[0]["results"]] == ["Public"]
    other = UserFactory(rank="engineer", groups=["responder"])
    assert _get(api(other))[0]["count"] == 1

    services.incident_assign_role(
        actor=ic_user, incident_id=secret.pk, role="scribe", user=responder
    )
    assert _get(api(responder))[0]["count"] == 2
    assert _get(api(other))[0]["count"] == 1


def test_leaving_the_security_group_takes_effect_at_once(api, ic_user):
    security_user = UserFactory(rank="senior_engineer", groups=["security"])
    declare(actor=ic_user, title="Key leak", security=True)
    client = api(security_user)
    assert _get(client)[0]["count"] == 1
    security_user.groups.clear()
    assert _get(client)[0]["count"] == 0  # the token's user is read afresh on every request


def test_what_the_version_cannot_see_lasts_at_most_the_lifetime(
    api, ic_user, sre_lead, time_machine
):
    time_machine.move_to("2026-11-27 12:00:00+00:00", tick=False)
    incident = declare(actor=ic_user, title="Before")
    client = api(sre_lead)
    assert _get(client)[0]["results"][0]["title"] == "Before"
    Incident.objects.filter(pk=incident.pk).update(title="After")  # no timeline event
    assert _get(client)[0]["results"][0]["title"] == "Before"
    time_machine.shift(11)
    assert _get(client)[0]["results"][0]["title"] == "After"


def test_errors_are_not_kept(api, ic_user, sre_lead):
    declare(actor=ic_user, title="Only")
    client = api(sre_lead)
    assert client.get(INCIDENTS + "?page=2").status_code == 404
    assert client.get(INCIDENTS + "?page=2").status_code == 404
    assert client.get(INCIDENTS + "?severity=P9").status_code == 400


def test_a_process_reuses_the_version_for_a_second_and_forgets_it_on_its_own_change(
    api, ic_user, sre_lead, settings, monkeypatch
):
    from incidents import remembered

    clock = [1000.0]
    monkeypatch.setattr(remembered, "monotonic", lambda: clock[0])
    settings.TENSAFE_INCIDENT_LIST_VERSION_TTL_SECONDS = 1
    incident = declare(actor=ic_user, title="Checkout errors")
    client = api(sre_lead)
    _get(client)
    assert _get(client)[1] == 2  # token + user, groups: no version query within the second

    # Another process's change (no commit seen here): served the kept page until it passes.
    now = incident.detected_at
    TimelineEvent.objects.create(
        incident=incident, kind="note", occurred_at=now, recorded_at=now, text="elsewhere"
    )
    Incident.objects.filter(pk=incident.pk).update(title="Renamed elsewhere")
    assert _get(client)[0]["results"][0]["title"] == "Checkout errors"
    clock[0] += 1.5
    assert _get(client)[0]["results"][0]["title"] == "Renamed elsewhere"

    # This process's own change: forgotten when recorded, seen by the very next request.
    _get(client)
    services.incident_transition(actor=ic_user, incident_id=incident.pk, to=Status.IDENTIFIED)
    assert _get(client)[0]["results"][0]["status"] == Status.IDENTIFIED


def test_the_browsable_api_is_built_each_time(api, ic_user, sre_lead):
    declare(actor=ic_user, title="Only")
    response = api(sre_lead).get(INCIDENTS, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Only" in response.content


def test_lifetime_zero_turns_it_off(api, ic_user, sre_lead, settings):
    settings.TENSAFE_INCIDENT_LIST_CACHE_SECONDS = 0
    settings.TENSAFE_INCIDENT_LIST_COUNT_SECONDS = 0
    declare(actor=ic_user, title="Only")
    client = api(sre_lead)
    # no version read: token + user, groups, COUNT, the page (2 queries on PostgreSQL, 3 else)
    built = 5 if connection.vendor == "postgresql" else 6
    assert _get(client)[1] == built
    assert _get(client)[1] == built


# --- the count, kept per filter (incident_list_count) --------------------------------------
def test_the_count_is_kept_across_pages_orderings_and_page_sizes(api, ic_user, sre_lead, settings):
    settings.TENSAFE_INCIDENT_LIST_CACHE_SECONDS = 0  # pages built anew: only the count kept
    for n in range(5):
        declare(actor=ic_user, title=f"Incident {n}", severity="P1" if n % 2 else "P3")
    client = api(sre_lead)
    first, counted = _get(client, "?severity=P3&page_size=2")
    again, kept = _get(client, "?severity=P3&page_size=1&page=3&ordering=id")
    assert (first["count"], again["count"]) == (3, 3)
    assert kept == counted - 1
    assert again["next"] is None and again["previous"] is not None
    assert _get(client, "?severity=P1")[0]["count"] == 2  # other filters: counted apart

    declare(actor=ic_user, title="Another", severity="P3")  # a new version: counted again
    assert _get(client, "?severity=P3&page_size=2")[0]["count"] == 4


def test_a_kept_count_is_never_another_viewers(api, ic_user, responder, settings):
    settings.TENSAFE_INCIDENT_LIST_CACHE_SECONDS = 0
    security_user = UserFactory(rank="security_lead", groups=["security"])
    declare(actor=ic_user, title="Public")
    declare(actor=security_user, title="Breach", security=True)
    assert _get(api(security_user), "?page_size=1")[0]["count"] == 2
    seen, _ = _get(api(responder), "?page_size=1&ordering=id")
    assert seen["count"] == 1
    assert [r["title"] for r in seen["results"]] == ["Public"]


def test_lifetime_zero_counts_every_time(api, ic_user, sre_lead, settings):
    settings.TENSAFE_INCIDENT_LIST_CACHE_SECONDS = 0
    settings.TENSAFE_INCIDENT_LIST_COUNT_SECONDS = 0
    declare(actor=ic_user, title="Only")
    client = api(sre_lead)
    assert _get(client, "?page_size=2")[1] == _get(client, "?page_size=1")[1]
