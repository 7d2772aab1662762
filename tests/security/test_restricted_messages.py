"""Restricted incidents in messages (issue 12, finding 3): every message about a restricted
security incident carries no title, description, services or other details to a recipient
who cannot open it, only "Restricted security incident INC-n: open the link <url>"; a user
who may open it gets the details by email, and anything that is not a user (a Slack channel,
a webhook, an outside address) always gets the redacted form. Paging does not grant access:
the acknowledge link of someone who cannot open the incident acknowledges nothing.

Two actors throughout: an insider (security group) and outsiders paged about the incident."""

import json
import re
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.utils import timezone

from comms.models import Delivery, TeamWebhook
from comms.services import update_post
from comms.services.deliveries import KIND as DELIVERY_KIND
from incidents import services
from incidents.models import ContactMethod, Page, Service, Team
from incidents.outbox import outbox_deliver
from incidents.services.paging import KIND as PAGE
from incidents.services.paging import ack_token
from incidents.services.timers import deadlines_fire_due
from integrations.models import WebhookDelivery, WebhookSubscription
from tests.factories import UserFactory, declare
from tests.timers.conftest import make_schedule

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
TITLE = "Credential stuffing against auth"
DESCRIPTION = "Attacker replaying leaked passwords from 203.0.113.7"
# Words of the incident that no outsider may read: title, description, service, severity.
SECRETS = ["Credential stuffing", "203.0.113.7", "authentication", "Authentication", "P1"]


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.PUBLIC_BASE_URL = "http://testserver-base"


@pytest.fixture
def people(db, http_target):
    """Insiders: the security lead and a security engineer (security group). Outsiders: the
    identity team's on-call engineers, their manager and the executives, who are paged by a
    P1's declaration notice. Every outsider has a Slack contact method besides email."""
    team = Team.objects.get(slug=Service.objects.get(slug="authentication").team.slug)
    em = UserFactory(username="olga-em", rank="engineering_manager", team=team)
    on_call = [
        UserFactory(username=name, team=team, manager=em, groups=["responder"])
        for name in ("oscar", "otto")
    ]
    make_schedule(team, "auth-primary", [{"members": on_call}])
    outsiders = [
        em,
        *on_call,
        UserFactory(username="vera-vp", rank="vp_engineering"),
        UserFactory(username="carl-cto", rank="cto"),
        UserFactory(username="cleo-ceo", rank="ceo"),
    ]
    for person in outsiders:
        ContactMethod.objects.create(user=person, kind="email", target=person.email)
        ContactMethod.objects.create(
            user=person, kind="slack", target=f"{http_target.url}/slack/{person.username}"
        )
    lead = UserFactory(username="sam-seclead", rank="security_lead", groups=["security"])
    ContactMethod.objects.create(user=lead, kind="email", target=lead.email)
    ContactMethod.objects.create(user=lead, kind="slack", target=f"{http_target.url}/slack/sam")
    return {"lead": lead, "outsiders": outsiders}


@pytest.fixture
def restricted(people, time_machine):
    time_machine.move_to(T0, tick=False)
    return declare(
        actor=people["lead"],
        title=TITLE,
        description=DESCRIPTION,
        severity="P1",
        security=True,
        services=[Service.objects.get(slug="authentication")],
    )


def redacted(incident) -> str:
    return (
        f"Restricted security incident INC-{incident.pk}: open the link "
        f"http://testserver-base/incidents/{incident.pk}/"
    )


def assert_no_secrets(*texts):
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text)


# --- pages ---------------------------------------------------------------------------------------
def test_p1_security_declaration_pages_outsiders_without_its_details(
    restricted, people, http_target, allow_local
):
    deadlines_fire_due(now=T0)
    pages = list(Page.objects.filter(incident=restricted).select_related("recipient"))
    paged = {p.recipient.username for p in pages}
    outsiders = {p.username for p in people["outsiders"]}
    assert len(outsiders & paged) >= 5, paged  # the "eight people", give or take
    assert "sam-seclead" in paged

    for page in pages:
        outsider = page.recipient.username in outsiders
        if outsider or page.channel != "email":
            assert page.subject == f"Restricted security incident INC-{restricted.pk}"
            assert page.body == redacted(restricted)
            assert_no_secrets(page.subject, page.body, json.dumps(page.payload))
            assert "/ack/" not in page.body  # paging grants nothing, acknowledging included
        else:  # the security lead's own email: the details
            assert TITLE in page.subject and DESCRIPTION not in page.body
            assert f"INC-{restricted.pk}: {TITLE}" in page.body

    for page in pages:
        assert outbox_deliver(PAGE, page.pk) == "sent"
    received = [r.body.decode() for r in http_target.received]
    assert len(received) == len([p for p in pages if p.channel == "slack"])
    assert_no_secrets(*received)  # no Slack post names it, not even the lead's
    for message in mail.outbox:
        if message.to != [people["lead"].email]:
            assert_no_secrets(message.subject, message.body)
    (lead_mail,) = [m for m in mail.outbox if m.to == [people["lead"].email]]
    assert TITLE in lead_mail.subject


def test_paging_an_outsider_by_hand_sends_the_redacted_form(
    api, restricted, people, mailoutbox, django_capture_on_commit_callbacks, eager_tasks
):
    outsider = people["outsiders"][1]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(people["lead"]).post(
            f"/api/v1/incidents/{restricted.pk}/page/",
            {"username": outsider.username, "reason": "need the auth logs from 203.0.113.7"},
            format="json",
        )
    assert response.status_code == 201, response.content
    (email,) = [m for m in mailoutbox if m.to == [outsider.email]]
    assert email.subject == f"Restricted security incident INC-{restricted.pk}"
    assert email.body == redacted(restricted)
    # ...and the outsider still cannot open it: paging granted nothing.
    assert api(outsider).get(f"/api/v1/incidents/{restricted.pk}/").status_code == 404


def test_the_acknowledge_link_of_an_outsider_shows_nothing_and_acknowledges_nothing(
    client, restricted, people
):
    outsider, lead = people["outsiders"][0], people["lead"]
    url = f"/ack/{ack_token(restricted, outsider)}/"

    for response in (client.get(url), client.post(url)):
        assert response.status_code == 403
        content = response.content.decode()
        # The page's CSRF token (64 random letters and digits) may spell "P1" by chance.
        assert_no_secrets(re.sub(r"\b[A-Za-z0-9]{64}\b", "<csrf>", content))
        assert redacted(restricted) in content
        assert "being paged does not grant access" in content
    restricted.refresh_from_db()
    assert restricted.acknowledged_at is None

    insider = client.get(f"/ack/{ack_token(restricted, lead)}/")
    assert insider.status_code == 200 and TITLE in insider.content.decode()
    client.post(f"/ack/{ack_token(restricted, lead)}/")
    restricted.refresh_from_db()
    assert restricted.acknowledged_by == lead


# --- comms ---------------------------------------------------------------------------------------
def test_internal_update_reaches_team_channels_redacted(
    restricted, people, http_target, allow_local, django_capture_on_commit_callbacks
):
    team = Service.objects.get(slug="authentication").team
    TeamWebhook.objects.create(team=team, url=f"{http_target.url}/team")
    update = update_post(
        actor=people["lead"],
        incident_id=restricted.pk,
        channel="internal",
        text=f"{TITLE}: blocked 203.0.113.7 at the edge",
    )
    (delivery,) = Delivery.objects.filter(update=update)
    assert delivery.subject == f"Restricted security incident INC-{restricted.pk}"
    assert delivery.body == redacted(restricted)
    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "sent"
    (received,) = http_target.received
    assert_no_secrets(received.body.decode())
    assert redacted(restricted) in json.loads(received.body)["text"]
    assert TITLE in update.text  # the timeline keeps it, for those who may open it


# --- outgoing webhooks ---------------------------------------------------------------------------
def test_only_an_allow_restricted_webhook_hears_of_it(http_target, people, time_machine):
    plain = WebhookSubscription.objects.create(name="ops", url=http_target.url, events=["declared"])
    siem = WebhookSubscription.objects.create(
        name="siem", url=http_target.url, events=["declared"], allow_restricted=True
    )
    time_machine.move_to(T0, tick=False)
    incident = declare(actor=people["lead"], title=TITLE, security=True)
    assert not WebhookDelivery.objects.filter(subscription=plain).exists()
    (delivery,) = WebhookDelivery.objects.filter(subscription=siem)
    assert delivery.payload["incident"]["title"] == TITLE
    assert delivery.payload["incident"]["id"] == incident.pk


# --- the one rule --------------------------------------------------------------------------------
def test_the_rule_decides_per_recipient(restricted, people):
    from incidents.redaction import Message, incident_message, incident_url

    full = Message(
        f"[P1] {TITLE}",
        DESCRIPTION,
        {"event": "page", "id": "x1", "incident": {"title": TITLE}, "reason": "P1 declared"},
    )
    lead, outsider = people["lead"], people["outsiders"][0]
    assert incident_message(restricted, full, recipient=lead) == full
    assert incident_message(restricted, full, trusted=True) == full
    for shown in (
        incident_message(restricted, full, recipient=outsider),
        incident_message(restricted, full),  # not a user: a channel, an address, a webhook
    ):
        assert shown.subject == f"Restricted security incident INC-{restricted.pk}"
        assert shown.body == redacted(restricted)
        assert shown.payload == {
            "event": "page",
            "id": "x1",
            "restricted": True,
            "text": redacted(restricted),
            "incident": {
                "id": restricted.pk,
                "reference": f"INC-{restricted.pk}",
                "security": True,
                "url": incident_url(restricted),
            },
        }
    # A role on the incident lets a person in, and so their messages say what it is.
    services.incident_assign_role(actor=lead, incident_id=restricted.pk, role="sme", user=outsider)
    assert incident_message(restricted, full, recipient=outsider) == full


def test_an_unrestricted_incident_is_told_in_full_to_everyone(people, time_machine):
    from incidents.redaction import Message, incident_message

    time_machine.move_to(timezone.now(), tick=False)
    incident = declare(actor=people["lead"], title="Search slow")
    full = Message("Search slow", "details", {"event": "page"})
    assert incident_message(incident, full) == full
    assert incident_message(incident, full, recipient=people["outsiders"][0]) == full


# --- chat ----------------------------------------------------------------------------------------
def test_a_chat_answer_in_the_channel_names_a_restricted_incident_only(
    client, settings, restricted, people
):
    """`/pd page` in the channel: the channel is not a user, so the answer everyone there
    reads is the redacted form, whatever the reason typed; the person asking may open it."""
    from tests.comms.chat import SECRET, form, link, slack

    settings.SLACK_SIGNING_SECRET = SECRET
    link(people["lead"], user_id="U0SAM")
    outsider = people["outsiders"][1]
    text = f'page @{outsider.username} "check the 203.0.113.7 logins"'
    fields = form("/pd", text, user="sam-seclead", user_id="U0SAM")
    response = slack(client, {**fields, "text": f"INC-{restricted.pk} {text}"})
    assert response.status_code == 200, response.content
    assert response.json() == {"response_type": "in_channel", "text": redacted(restricted)}
