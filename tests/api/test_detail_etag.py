"""The incident detail's ETag (incidents/api/detail.py): a caller that read an incident asks
again with If-None-Match and gets 304 with no body, from one query, while nothing the body
shows has changed; 200 with the new body and a new tag as soon as anything has, whoever
changed it; never a 304 for an incident the caller may not see."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from incidents import services
from incidents.models import ChecklistItem, SeverityPolicy
from incidents.services.timers import deadlines_fire_due
from tests.factories import UserFactory, declare, drive_to

from .conftest import assert_error, incident_url

pytestmark = pytest.mark.django_db


def _get(client, incident, tag=None):
    headers = {"HTTP_IF_NONE_MATCH": tag} if tag is not None else {}
    return client.get(incident_url(incident), **headers)


def _tag(client, incident) -> str:
    response = _get(client, incident)
    assert response.status_code == 200, response.content
    return response["ETag"]


def test_unchanged_is_304_changed_is_200_then_304(api, ic_user, responder, incident):
    reader, writer = api(responder), api(ic_user)
    first = _get(reader, incident)
    tag = first["ETag"]
    assert tag.startswith('"') and tag.endswith('"')

    again = _get(reader, incident, tag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == tag

    assert (
        writer.patch(
            incident_url(incident), {"title": "Gateway 502s, EU only"}, format="json"
        ).status_code
        == 200
    )

    changed = _get(reader, incident, tag)
    assert changed.status_code == 200
    assert changed.json()["title"] == "Gateway 502s, EU only"
    assert changed.json() == {**first.json(), **changed.json()} != first.json()
    new_tag = changed["ETag"]
    assert new_tag != tag
    assert _get(reader, incident, new_tag).status_code == 304


def _transition(incident, ic_user, sre_lead, responder):
    services.incident_transition(actor=ic_user, incident_id=incident.pk, to="identified")


def _severity(incident, ic_user, sre_lead, responder):
    services.incident_update(actor=ic_user, incident_id=incident.pk, severity="P2", reason="less")


def _role(incident, ic_user, sre_lead, responder):
    services.incident_assign_role(
        actor=ic_user, incident_id=incident.pk, role="sme", user=responder
    )


def _deadline_fires(incident, ic_user, sre_lead, responder):
    with time_machine.travel(incident.detected_at + timedelta(minutes=6), tick=False):
        assert deadlines_fire_due()


def _bridge(incident, ic_user, sre_lead, responder):
    services.incident_update(actor=ic_user, incident_id=incident.pk, severity="P3", reason="x")
    services.incident_bridge_request(actor=sre_lead, incident_id=incident.pk)


def _policy(incident, ic_user, sre_lead, responder):
    policy = SeverityPolicy.objects.get(severity=incident.severity)
    services.policy_object_update(
        actor=sre_lead, obj=policy, values={"target_resolution_minutes": 999}, reason="test"
    )


def _rename_holder(incident, ic_user, sre_lead, responder):
    ic_user.first_name = "Renamed"
    ic_user.save()


def _security(incident, ic_user, sre_lead, responder):
    # The responder declared nothing and holds no role: assign one so they still see it.
    _role(incident, ic_user, sre_lead, responder)
    services.incident_security_set(
        actor=UserFactory(rank="security_lead", groups=["security"]),
        incident_id=incident.pk,
        security=True,
        reason="a leaked key",
    )


@pytest.mark.parametrize(
    "change",
    [
        _transition,
        _severity,
        _role,
        _deadline_fires,
        _bridge,
        _policy,
        _rename_holder,
        _security,
    ],
)
def test_every_change_the_body_shows_changes_the_tag(
    api, ic_user, responder, sre_lead, incident, change
):
    services.incident_assign_role(
        actor=ic_user, incident_id=incident.pk, role="incident_commander", user=ic_user
    )
    reader = api(responder)
    before = _get(reader, incident)
    change(incident, ic_user, sre_lead, responder)
    after = _get(reader, incident, before["ETag"])
    assert after.status_code == 200, after.content
    assert after["ETag"] != before["ETag"]
    assert after.json() != before.json()


def test_a_resolution_criterion_ticked_changes_the_tag(api, ic_user, responder):
    incident = declare(actor=ic_user, severity="P3")
    drive_to(incident, "monitoring", ic_user)
    reader = api(responder)
    before = _get(reader, incident)
    item = ChecklistItem.objects.filter(incident=incident, checklist="resolution")[0]
    services.incident_checklist_set(
        actor=ic_user, incident_id=incident.pk, item_id=item.pk, done=True
    )
    after = _get(reader, incident, before["ETag"])
    assert after.status_code == 200
    assert len(after.json()["resolution_blockers"]) < len(before.json()["resolution_blockers"])


def test_the_stability_window_minutes_change_the_tag(api, ic_user, responder):
    incident = declare(actor=ic_user, severity="P3")
    drive_to(incident, "monitoring", ic_user)
    reader = api(responder)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        tag = _tag(reader, incident)
    with time_machine.travel(now + timedelta(seconds=1), tick=False):
        assert _get(reader, incident, tag).status_code == 304
    with time_machine.travel(now + timedelta(minutes=1, seconds=1), tick=False):
        later = _get(reader, incident, tag)
    assert later.status_code == 200
    assert later["ETag"] != tag


def test_each_viewer_has_their_own_tag(api, ic_user, responder, incident):
    """The IC may make transitions a responder may not: their bodies and tags differ, and
    one's tag is no 304 for the other."""
    services.incident_assign_role(
        actor=ic_user, incident_id=incident.pk, role="incident_commander", user=ic_user
    )
    ic_tag, responder_tag = _tag(api(ic_user), incident), _tag(api(responder), incident)
    assert ic_tag != responder_tag
    assert _get(api(responder), incident, ic_tag).status_code == 200


def test_joining_a_group_changes_the_tag(api, viewer, incident):
    reader = api(viewer)
    tag = _tag(reader, incident)
    viewer.groups.add(viewer.groups.model.objects.get(name="responder"))
    assert _get(reader, incident, tag).status_code == 200


@pytest.mark.parametrize("header", ["*", None, "tag-of-the-visible-one"])
def test_a_hidden_security_incident_is_404_whatever_the_header(
    api, security_user, responder, header
):
    secret = declare(actor=security_user, severity="P2", security=True)
    seen_tag = _tag(api(security_user), secret)
    tag = seen_tag if header == "tag-of-the-visible-one" else header
    assert_error(_get(api(responder), secret, tag), 404)


def test_an_unknown_incident_is_404_with_a_star(api, responder):
    assert_error(api(responder).get(incident_url(999_999), HTTP_IF_NONE_MATCH="*"), 404)


@pytest.mark.parametrize(
    "header",
    [
        "{tag}",
        "W/{tag}",
        '"other", {tag}',
        '"other",W/{tag}',
        "*",
    ],
)
def test_if_none_match_as_rfc_9110_says(api, responder, incident, header):
    reader = api(responder)
    tag = _tag(reader, incident)
    response = _get(reader, incident, header.format(tag=tag))
    assert response.status_code == 304
    assert response["ETag"] == tag


@pytest.mark.parametrize("header", ['"other"', 'W/"other"', "", "not a tag", '"'])
def test_other_tags_get_the_body(api, responder, incident, header):
    response = _get(api(responder), incident, header)
    assert response.status_code == 200
    assert response.json()["id"] == incident.pk


def test_a_304_is_one_query(responder, incident):
    client = APIClient()
    client.force_authenticate(responder)
    tag = _tag(client, incident)
    with CaptureQueriesContext(connection) as captured:
        response = _get(client, incident, tag)
    assert response.status_code == 304
    assert len(captured) == 1, [q["sql"] for q in captured]


def test_a_token_304_is_the_token_and_one_query(api, responder, incident):
    reader = api(responder)
    tag = _tag(reader, incident)
    with CaptureQueriesContext(connection) as captured:
        assert _get(reader, incident, tag).status_code == 304
    assert len(captured) == 2, [q["sql"] for q in captured]


def test_a_kept_body_is_the_token_and_one_query(api, responder, incident):
    """Asked again without If-None-Match (a poller that keeps no tag): the body kept for
    the tag, from the same one query."""
    reader = api(responder)
    first = _get(reader, incident)
    with CaptureQueriesContext(connection) as captured:
        again = _get(reader, incident)
    assert again.content == first.content
    assert len(captured) == 2, [q["sql"] for q in captured]
