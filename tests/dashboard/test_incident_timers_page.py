"""The incident page shows the procedures' timers in words and offers their actions (issue 14,
items 8 and 12): pending deadlines by label, the bridge by its 6.1 setting with "Open a
bridge" for the IC, the channel's closure, escalation contacts late past their 5.3 response
time with "Page the next contact"; a viewer is refused both actions and nothing changes."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from incidents import services
from incidents.models import Page, TimelineEvent
from incidents.services.timers import deadlines_fire_due
from incidents.states import Role, TimelineKind
from tests.factories import UserFactory, declare, drive_to

from .conftest import parse

pytestmark = pytest.mark.django_db


def url(name, incident, *args):
    return reverse(f"dashboard:{name}", args=[incident.pk, *args])


def buttons(response) -> list[str]:
    return [b["text"] for b in parse(response).buttons]


def page(client, incident) -> str:
    response = client.get(url("incident", incident))
    assert response.status_code == 200
    return response.content.decode()


def test_pending_deadlines_are_listed_in_words(ic_client, incident):
    text = page(ic_client, incident)
    assert "Triage checklist (4.3) reminder: the first 5 minutes of triage end (4.2)" in text
    assert "Incident Commander to be assigned (Appendix A: first 5 minutes): reminder" in text
    assert "Status page update (within 10 minutes of detection): reminder" in text
    for key in ("triage:window", "roles:ic:remind", "comms:status_page:1:remind", "notify:P1"):
        assert key not in text


@pytest.fixture
def p3(ic, service):
    """A P3 commanded by emma: nobody is on call here, so an SRE lead assigns her over 3.1."""
    incident = declare(actor=ic, title="Docs typo", severity="P3", services=[service])
    services.incident_assign_role(
        actor=UserFactory(groups=["sre_lead"]),
        incident_id=incident.pk,
        role=Role.INCIDENT_COMMANDER,
        user=ic,
        override=True,
        override_reason="nobody on call in this test",
    )
    return incident


def test_the_ic_opens_a_bridge_for_a_p3(ic_client, p3):
    text = page(ic_client, p3)
    assert "No bridge (6.1: P3 has none unless the IC asks for one)" in text
    assert "Open a bridge" in buttons(ic_client.get(url("incident", p3)))

    response = ic_client.post(url("bridge", p3))

    assert response.status_code == 302
    p3.refresh_from_db()
    assert p3.bridge_url.endswith(p3.channel_name.lstrip("#"))
    text = page(ic_client, p3)
    assert "Bridge (opened at the IC&#x27;s request)" in text and p3.bridge_url in text
    assert "Open a bridge" not in buttons(ic_client.get(url("incident", p3)))


def test_a_viewer_is_not_offered_a_bridge_and_is_refused_one(client, viewer, p3):
    client.force_login(viewer)
    assert "Open a bridge" not in buttons(client.get(url("incident", p3)))
    events = TimelineEvent.objects.filter(incident=p3).count()

    response = client.post(url("bridge", p3))

    assert response.status_code == 403
    assert "Incident Commander (or an SRE lead) may ask for a bridge" in response.content.decode()
    p3.refresh_from_db()
    assert p3.bridge_url == "" and TimelineEvent.objects.filter(incident=p3).count() == events


def test_a_p1_shows_its_video_bridge(ic_client, incident):
    text = page(ic_client, incident)
    assert "Video bridge (6.1: always for P1)" in text and incident.bridge_url in text


def test_the_channel_closure_is_shown(ic_client, ic, incident):
    drive_to(incident, "resolved", ic)
    incident.refresh_from_db()
    at = incident.resolved_at + timedelta(hours=24)
    with time_machine.travel(at, tick=False):
        deadlines_fire_due()
    incident.refresh_from_db()
    assert f"Channel (6.1): closed {at:%Y-%m-%d %H:%M} UTC" in page(ic_client, incident)


@pytest.fixture
def late_vp(ic, incident):
    """The P1 acknowledged, its IC assigned, the VP paged at 30 min and late at 45."""
    vp = UserFactory(username="victor-vp", rank="vp_engineering")
    UserFactory(username="chloe-cto", rank="cto")
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    services.incident_acknowledge(actor=ic, incident_id=incident.pk)
    for after in (30, 45):
        with time_machine.travel(incident.detected_at + timedelta(minutes=after), tick=False):
            deadlines_fire_due()
    return vp


def test_a_late_contact_is_shown_and_the_next_one_offered(ic_client, incident, late_vp):
    text = page(ic_client, incident)
    assert "Escalation contacts (5.3)" in text
    assert "LATE: no acknowledgement by" in text
    next_button = "Page the next contact: CTO (responds within 15 min)"
    assert next_button in buttons(ic_client.get(url("incident", incident)))
    response_id = incident.escalation_responses.get(target="vp_engineering").pk

    response = ic_client.post(url("page-next", incident, response_id))

    assert response.status_code == 302
    (request,) = TimelineEvent.objects.filter(
        incident=incident, kind=TimelineKind.ESCALATION_REQUESTED
    )
    assert request.data["target"] == "cto"
    assert next_button not in buttons(ic_client.get(url("incident", incident)))
    again = ic_client.post(url("page-next", incident, response_id))
    assert again.status_code == 409
    assert "taken already" in again.content.decode()


def test_a_viewer_sees_the_lateness_but_cannot_page_the_next(client, viewer, incident, late_vp):
    client.force_login(viewer)
    text = page(client, incident)
    assert "LATE: no acknowledgement by" in text and "Next step: CTO" in text
    assert not any(
        b.startswith("Page the next contact")
        for b in buttons(client.get(url("incident", incident)))
    )
    response_id = incident.escalation_responses.get(target="vp_engineering").pk
    pages = Page.objects.count()

    response = client.post(url("page-next", incident, response_id))

    assert response.status_code == 403
    assert Page.objects.count() == pages
    assert incident.escalation_responses.get(pk=response_id).next_response is None


def test_the_paged_contact_is_offered_to_acknowledge(client, incident, late_vp):
    client.force_login(late_vp)
    label = "Acknowledge (you were paged as an escalation contact)"
    assert label in buttons(client.get(url("incident", incident)))

    response = client.post(url("acknowledge", incident))

    assert response.status_code == 302
    vp = incident.escalation_responses.get(target="vp_engineering")
    assert vp.status == "acknowledged" and vp.acknowledged_by == late_vp
    assert label not in buttons(client.get(url("incident", incident)))
