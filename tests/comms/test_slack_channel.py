"""The incident's Slack channel (6.1, Appendix A) through slack_sdk, against a Slack Web API
fake on 127.0.0.1 (tests/slack_fake.py): created with the 6.1 name, topic, links pinned,
people invited, announced with buttons; changes and internal updates posted; archived when the
channel closes. Every call is an outbox row, in order per incident, retried after a 429 and
safe to repeat after a lost answer.

Second actors: the IC and role holders (invited by their linked Slack user), and a responder
clicking Acknowledge on the announcement. Adversaries: a restricted incident (its words never
reach Slack), a forged button click (401, nothing changes), a click from an unlinked Slack
user (told to link, nothing changes), a button value that is not an incident id."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from comms import slack
from comms.models import ChatIdentity, SlackCall, SlackChannel
from comms.services import update_post
from incidents import services
from incidents.outbox import outbox_deliver
from incidents.services.timers import deadlines_fire_due
from incidents.states import Role, Status
from tests.factories import UserFactory, declare, drive_to, put_on_call
from tests.slack_fake import SlackFake

pytestmark = pytest.mark.django_db

TOKEN = "xoxb-test-token"
SIGNING_SECRET = "slack-signing-secret"


@pytest.fixture
def slack_api(settings):
    fake = SlackFake(TOKEN).start()
    settings.SLACK_BOT_TOKEN = TOKEN
    settings.SLACK_API_URL = fake.api_url
    settings.SLACK_SIGNING_SECRET = SIGNING_SECRET
    settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS = 2
    yield fake
    fake.close()


def link(user, slack_user_id: str) -> None:
    ChatIdentity.objects.create(user=user, slack_team_id="T0001", slack_user_id=slack_user_id)


@pytest.fixture
def ic(db):
    ian = UserFactory(username="ian-ic", rank="engineering_manager", groups=["incident_commander"])
    put_on_call(ian)
    link(ian, "U0IAN")
    return ian


def drain() -> list[str]:
    """What the workers do with the hand-offs: each due call in order, until nothing moves."""
    outcomes = []
    for _ in range(30):
        due = list(
            SlackCall.objects.filter(status="pending", next_attempt_at__lte=timezone.now())
            .order_by("id")
            .values_list("pk", flat=True)
        )
        moved = [outbox_deliver(slack.KIND, pk) for pk in due]
        outcomes += moved
        if all(outcome in ("skipped", "waiting") for outcome in moved):
            return outcomes
    stuck = SlackCall.objects.exclude(status="sent").values_list("method", "status", "last_error")
    raise AssertionError(f"Slack calls still moving after 30 rounds: {list(stuck)}")


def p1(ic, **fields):
    incident = declare(actor=ic, severity="P1", **fields)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    return incident


def test_a_declaration_creates_the_channel_pins_the_links_and_announces(slack_api, ic):
    incident = p1(ic, title="Checkout API 5xx above 5%")
    drain()

    name = incident.channel_name.lstrip("#")
    channel = slack_api.channel_named(name)
    assert channel is not None and not channel.is_private
    assert slack_api.methods()[:4] == [
        "conversations.create",
        "conversations.setTopic",
        "chat.postMessage",
        "pins.add",
    ]
    assert channel.topic.startswith(f"{incident.reference} P1 · Investigating · IC ian-ic")
    links = channel.messages[0]  # then the IC's assignment and acknowledgement
    assert channel.pins == [links["ts"]]
    assert any("Incident Commander: ian-ic" in m["text"] for m in channel.messages[1:])
    assert f"/incidents/{incident.pk}/" in links["text"] and "Bridge:" in links["text"]
    assert "Status page:" in links["text"]
    assert channel.members == {"U0IAN"}
    (announced,) = slack_api.channel_named("incidents").messages
    assert f"{incident.reference} [P1] Checkout API 5xx above 5%" in announced["text"]
    buttons = announced["blocks"][1]["elements"]
    assert (buttons[0]["action_id"], buttons[0]["value"]) == ("acknowledge", str(incident.pk))
    assert buttons[1]["url"].endswith(f"/incidents/{incident.pk}/")
    stored = SlackChannel.objects.get(incident=incident)
    assert (stored.channel_id, stored.links_ts) == (channel.id, links["ts"])
    assert set(SlackCall.objects.values_list("status", flat=True)) == {"sent"}


def test_changes_are_posted_holders_invited_and_the_closed_channel_archived(
    slack_api, ic, time_machine
):
    incident = p1(ic)
    drain()
    channel = slack_api.channel_named(incident.channel_name.lstrip("#"))
    lead = UserFactory(username="tina", groups=["responder"])
    link(lead, "U0TINA")

    services.incident_assign_role(actor=ic, incident_id=incident.pk, role=Role.TECH_LEAD, user=lead)
    services.incident_transition(actor=ic, incident_id=incident.pk, to=Status.IDENTIFIED)
    update_post(actor=ic, incident_id=incident.pk, channel="internal", text="Rolled back 4.2.1.")
    drain()

    assert channel.members == {"U0IAN", "U0TINA"}
    texts = [m["text"] for m in channel.messages]
    assert any("Identified" in t and "(ian-ic)" in t for t in texts)
    assert "Rolled back 4.2.1." in texts
    assert "Identified" in channel.topic

    drive_to(incident, Status.RESOLVED, actor=ic)  # waits out the stability window
    incident.refresh_from_db()
    closing = incident.resolved_at + timedelta(hours=24, seconds=1)
    time_machine.move_to(closing, tick=False)
    deadlines_fire_due(now=closing)
    drain()
    assert channel.is_archived
    assert SlackChannel.objects.get(incident=incident).archived_at is not None


def test_a_restricted_incidents_words_never_reach_slack(slack_api, ic):
    security_ic = UserFactory(
        username="sec-ic", rank="security_lead", groups=["incident_commander", "security"]
    )
    incident = declare(
        actor=security_ic, severity="P1", title="Credential stuffing on login", security=True
    )
    drain()

    channel = slack_api.channel_named(incident.channel_name.lstrip("#"))
    assert channel.is_private
    everything = json.dumps([args for _, args in slack_api.calls])
    assert "Credential stuffing" not in everything
    assert f"Restricted security incident {incident.reference}" in channel.topic


def test_a_rate_limit_waits_in_the_outbox_and_later_calls_wait_their_turn(
    slack_api, ic, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    slack_api.respond(("429", 7))
    incident = p1(ic)

    drain()

    assert slack_api.methods() == ["conversations.create"]  # nothing before the channel exists
    create = SlackCall.objects.filter(incident=incident).order_by("id").first()
    assert (create.status, create.response_code) == ("pending", 429)
    assert create.next_attempt_at == timezone.now() + timedelta(seconds=7)
    time_machine.move_to(timezone.now() + timedelta(seconds=7), tick=False)
    drain()
    assert slack_api.channel_named(incident.channel_name.lstrip("#")).pins


def test_a_create_whose_answer_was_lost_finds_its_channel(slack_api, ic):
    incident = p1(ic)
    name = incident.channel_name.lstrip("#")
    made = slack_api.add_channel(name)  # Slack created it; the answer never came back

    drain()

    assert SlackChannel.objects.get(incident=incident).channel_id == made.id
    assert len([c for c in slack_api.channels.values() if c.name == name]) == 1
    assert made.pins


def test_without_a_token_or_for_a_drill_nothing_goes_to_slack(slack_api, ic, settings):
    declare(actor=ic, severity="P2", drill=True)
    settings.SLACK_BOT_TOKEN = ""
    declare(actor=ic, severity="P2")
    assert not SlackCall.objects.exists() and not SlackChannel.objects.exists()
    assert slack_api.calls == []


def test_a_final_failure_is_noted_on_the_timeline(slack_api, ic, settings):
    settings.SLACK_BOT_TOKEN = "xoxb-revoked"
    incident = p1(ic)
    drain()
    create = SlackCall.objects.filter(incident=incident).order_by("id").first()
    assert (create.status, create.last_error) == (
        "failed",
        "Slack conversations.create: invalid_auth",
    )
    assert incident.timeline.filter(
        text__startswith="Slack conversations.create failed after 1 attempt(s)"
    ).exists()


# --- the Acknowledge button ------------------------------------------------------------------
def click(client, *, user_id: str, value: str, response_url: str, secret=SIGNING_SECRET):
    payload = {
        "type": "block_actions",
        "team": {"id": "T0001", "domain": "tensafe"},
        "user": {"id": user_id, "username": "someone", "team_id": "T0001"},
        "trigger_id": f"trig-{user_id}-{value}-{time.monotonic_ns()}",
        "response_url": response_url,
        "actions": [{"action_id": "acknowledge", "value": value, "action_ts": "1.2"}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(time.time()))
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return client.post(
        "/chatops/slack/interactions/",
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=timestamp,
        HTTP_X_SLACK_SIGNATURE=signature,
    )


def test_acknowledge_on_the_announcement_acts_as_the_linked_person(
    slack_api, ic, client, http_target, allow_local
):
    incident = declare(actor=ic, severity="P2", title="Search latency")
    responder = UserFactory(username="rita", groups=["responder"])
    link(responder, "U0RITA")

    response = click(client, user_id="U0RITA", value=str(incident.pk), response_url=http_target.url)

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.acknowledged_by == responder
    (answer,) = http_target.received
    assert answer.json()["text"] == f"{incident.reference} acknowledged by @rita."


def test_forged_unlinked_and_malformed_clicks_change_nothing(
    slack_api, ic, client, http_target, allow_local
):
    incident = declare(actor=ic, severity="P2")
    responder = UserFactory(username="rita", groups=["responder"])
    link(responder, "U0RITA")

    forged = click(
        client,
        user_id="U0RITA",
        value=str(incident.pk),
        response_url=http_target.url,
        secret="guess",
    )
    assert forged.status_code == 401

    unlinked = click(
        client, user_id="U0NOBODY", value=str(incident.pk), response_url=http_target.url
    )
    assert unlinked.status_code == 200
    assert "Link your account" in http_target.received[-1].json()["text"]

    odd = click(
        client, user_id="U0RITA", value=f"{incident.pk} severity=P4", response_url=http_target.url
    )
    assert odd.status_code == 200
    assert "INC-" in http_target.received[-1].json()["text"]  # asked which incident

    incident.refresh_from_db()
    assert incident.acknowledged_at is None
    assert incident.severity == "P2"


def test_the_incident_page_says_where_the_channel_stands(slack_api, ic, client, settings):
    client.force_login(ic)
    incident = p1(ic)
    page = lambda: client.get(f"/incidents/{incident.pk}/").content.decode()  # noqa: E731
    assert "being created in Slack" in page()
    drain()
    assert "open in Slack" in page()
    settings.SLACK_BOT_TOKEN = ""
    assert "no Slack workspace is connected (SLACK_BOT_TOKEN)" in page()
