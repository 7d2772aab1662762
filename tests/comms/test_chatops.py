"""Slack slash commands (procedures 9.3) at POST /chatops/slack/: Slack's v0 signature (valid,
wrong, stale or replayed, missing), each command form, each mistake answered to the user alone
with the usage, Slack users mapped to TenSafe IR users, and the declaration run on a worker and
answered through `response_url` (a real local server, allow-listed)."""

import hashlib
import hmac
import time
from urllib.parse import urlencode

import pytest

from comms.chatops import slack_signature
from comms.models import ChatCommand, Update
from comms.services import chat_command_declare
from comms.services.chat import chat_commands_requeue_stale
from incidents import services
from incidents.models import Incident, Page
from incidents.states import Role
from tests.comms.chat import SECRET, URL, answer, form, link, slack
from tests.factories import UserFactory, declare
from tests.http_target import HttpTarget

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.SLACK_SIGNING_SECRET = SECRET


@pytest.fixture
def http_target(settings):
    settings.TENSAFE_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.TENSAFE_OUTBOUND_TIMEOUT_SECONDS = 0.5
    target = HttpTarget()
    yield target
    target.close()


@pytest.fixture
def eager():
    from tensafe_ir.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def ian(db):
    ian = UserFactory(username="ian", rank="engineering_manager", groups=["incident_commander"])
    link(ian)
    return ian


@pytest.fixture
def incident(ian):
    """Ian's P1: taking the IC role acknowledged it."""
    incident = declare(actor=ian, severity="P1", title="Checkout failing")
    services.incident_assign_role(
        actor=ian, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ian
    )
    return incident


@pytest.fixture
def unacknowledged(ian):
    """Declared, nobody in command yet: declaring alone does not acknowledge."""
    return declare(actor=ian, severity="P1", title="Search failing")


def channel_of(incident) -> str:
    return incident.channel_name.lstrip("#")


# --- signatures ----------------------------------------------------------------------------------
def test_signature_is_slacks_v0_hmac(client, incident):
    """The documented example: v0=HMAC-SHA256(secret, 'v0:{ts}:{body}') in hex."""
    body = b"token=x&command=%2Fincident&text=status"
    expected = (
        "v0=" + hmac.new(SECRET.encode(), b"v0:1531420618:" + body, hashlib.sha256).hexdigest()
    )
    assert slack_signature(SECRET, "1531420618", body) == expected


def test_a_valid_signature_is_answered(client, incident):
    reply = answer(slack(client, form("/incident", "status", channel=channel_of(incident))))
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith(f"*INC-{incident.pk}* Checkout failing")


def test_a_wrong_signature_is_refused(client, unacknowledged):
    fields = form("/incident", "ack", channel=channel_of(unacknowledged))
    response = slack(client, fields, secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["detail"] == "Bad Slack signature."
    unacknowledged.refresh_from_db()
    assert unacknowledged.acknowledged_at is None


def test_a_tampered_body_is_refused(client, incident):
    fields = form("/incident", "ack", channel=channel_of(incident))
    timestamp = str(int(time.time()))
    signature = slack_signature(SECRET, timestamp, urlencode(form("/incident", "status")).encode())
    assert slack(client, fields, timestamp=timestamp, signature=signature).status_code == 401


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_stale_or_replayed_requests_are_refused(client, incident, age, time_machine):
    # The clock stands still: on a busy machine a second passing between signing and checking
    # would turn "301 s ahead" into 300 s, inside the window.
    time_machine.move_to(time.time(), tick=False)
    fields = form("/incident", "ack", channel=channel_of(incident))
    response = slack(client, fields, timestamp=int(time.time()) - age)  # correctly signed
    assert response.status_code == 401
    assert "Stale request" in response.json()["detail"]


def test_a_replay_after_five_minutes_is_refused(client, incident, time_machine):
    fields = form("/incident", "status", channel=channel_of(incident))
    timestamp = int(time.time())
    assert slack(client, fields, timestamp=timestamp).status_code == 200
    time_machine.move_to(time.time() + 301, tick=False)
    assert slack(client, fields, timestamp=timestamp).status_code == 401


def test_a_replay_two_seconds_later_is_refused(client, incident, time_machine):
    """Issue 12: a signed request replayed 2 s later was accepted again (two public posts)."""
    fields = form("/status", 'update "Fixed, monitoring"', channel=channel_of(incident))
    timestamp = int(time.time())
    first = slack(client, fields, timestamp=timestamp)
    assert answer(first)["response_type"] == "in_channel"
    time_machine.move_to(time.time() + 2, tick=False)
    replayed = slack(client, fields, timestamp=timestamp)
    assert replayed.status_code == 401
    assert replayed.json() == {
        "detail": "Replayed request: this signature was already accepted (possible replay)."
    }
    assert Update.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_replays_sent_at_once_are_refused_across_connections(incident):
    """Each thread has its own database connection, as each web process does: one of eight
    identical signed requests sent at once is accepted."""
    from django.test import Client

    from tests.test_concurrency import run_at_once

    fields = form("/status", 'update "Fixed, monitoring"', channel=channel_of(incident))
    timestamp = int(time.time())
    results, errors = run_at_once(
        8, lambda i: slack(Client(), fields, timestamp=timestamp).status_code
    )
    assert errors == [None] * 8
    assert sorted(results) == [200] + [401] * 7
    assert Update.objects.count() == 1


def test_a_replay_is_refused_even_when_the_first_one_was_refused_for_the_user(client, incident):
    """The signature is spent when it is verified, whatever the command then answers."""
    fields = form("/incident", "status", user_id="U0NOBODY", channel=channel_of(incident))
    timestamp = int(time.time())
    assert slack(client, fields, timestamp=timestamp).status_code == 200
    assert slack(client, fields, timestamp=timestamp).status_code == 401


def test_the_same_command_signed_again_is_a_new_request(client, incident):
    """A new timestamp is a new signature: typing the same command twice works twice."""
    fields = form("/incident", "status", channel=channel_of(incident))
    timestamp = int(time.time())
    assert slack(client, fields, timestamp=timestamp).status_code == 200
    assert slack(client, fields, timestamp=timestamp + 1).status_code == 200


def test_seen_signatures_are_forgotten_once_they_are_stale(client, incident, time_machine):
    from comms.models import ChatRequestSeen

    fields = form("/incident", "status", channel=channel_of(incident))
    assert slack(client, fields).status_code == 200
    assert ChatRequestSeen.objects.count() == 1
    time_machine.move_to(time.time() + 302, tick=False)
    assert slack(client, fields).status_code == 200
    assert ChatRequestSeen.objects.count() == 1  # the stale one was pruned


def test_missing_headers_or_secret_are_refused(client, incident, settings):
    unsigned = client.post(
        URL, data="command=%2Fincident", content_type="application/x-www-form-urlencoded"
    )
    assert unsigned.status_code == 401
    assert unsigned.json()["detail"] == "Missing Slack signature headers."
    settings.SLACK_SIGNING_SECRET = ""
    response = slack(client, form("/incident", "status"), secret="")
    assert response.status_code == 401
    assert "not configured" in response.json()["detail"]


def test_only_post(client):
    assert client.get(URL).status_code == 405


# --- who is typing -------------------------------------------------------------------------------
def test_unknown_slack_users_are_answered_a_link(client, incident):
    reply = answer(slack(client, form("/incident", "status", user="nobody", user_id="U0NOBODY")))
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Link your account: http://127.0.0.1:8000/chat/link/")
    assert "Checkout failing" not in reply["text"]


def test_a_linked_identity_wins_over_the_username(client, unacknowledged):
    incident = unacknowledged
    sam = UserFactory(username="sam", groups=["responder"])
    link(sam, user_id="U0SAM")
    reply = answer(
        slack(
            client,
            form("/incident", "ack", user="ian", user_id="U0SAM", channel=channel_of(incident)),
        )
    )
    assert reply == {
        "response_type": "in_channel",
        "text": f"INC-{incident.pk} acknowledged by @sam.",
    }
    incident.refresh_from_db()
    assert incident.acknowledged_by == sam


# --- /incident declare ---------------------------------------------------------------------------
def test_declare_is_queued_and_answered_in_the_channel(
    client, ian, http_target, eager, django_capture_on_commit_callbacks
):
    fields = form(
        "/incident",
        'declare "Payments API down for EU customers" severity=P1 services=api-gateway',
        response_url=f"{http_target.url}/hooks/response",
        trigger_id="13345224609.738474920.8088930838d88f008e0",
    )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        reply = answer(slack(client, fields))
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Declaring P1: “Payments API down for EU customers”")
    command = ChatCommand.objects.get()
    assert (command.status, command.user, command.args) == (
        "queued",
        ian,
        {
            "description": "Payments API down for EU customers",
            "severity": "P1",
            "services": ["api-gateway"],
        },
    )
    assert not Incident.objects.exists()
    assert len(queued) == 1

    queued[0]()  # the worker (eager) declares and answers through response_url
    incident = Incident.objects.get()
    assert (incident.title, incident.severity, incident.declared_by) == (
        "Payments API down for EU customers",
        "P1",
        ian,
    )
    assert list(incident.services.values_list("slug", flat=True)) == ["api-gateway"]
    (followup,) = http_target.received
    assert followup.path == "/hooks/response"
    message = followup.json()
    assert message["response_type"] == "in_channel"
    assert message["text"].startswith(f"INC-{incident.pk} declared (P1): Payments API down")
    assert incident.channel_name in message["text"]
    command.refresh_from_db()
    assert (command.status, command.incident) == ("done", incident)

    # Slack retrying the same command (signed again, so not a replay) does not declare again.
    again = answer(slack(client, fields, timestamp=int(time.time()) + 1))
    assert again["text"] == "Already on it: this declaration was received before."
    assert Incident.objects.count() == 1


def test_a_redelivered_declaration_runs_once(client, ian):
    answer(slack(client, form("/incident", 'declare "DB failover" severity=P2')))
    command = ChatCommand.objects.get()
    assert chat_command_declare(command.pk) == "done"
    assert chat_command_declare(command.pk) == "skipped"
    ChatCommand.objects.filter(pk=command.pk).update(status="queued")  # lost ack, redelivered
    assert chat_command_declare(command.pk) == "done"
    assert Incident.objects.count() == 1


def test_lost_declarations_are_handed_over_again(client, ian, time_machine):
    answer(slack(client, form("/incident", 'declare "DB failover" severity=P2')))
    command = ChatCommand.objects.get()
    assert chat_commands_requeue_stale() == []
    time_machine.move_to(time.time() + 60, tick=False)
    assert chat_commands_requeue_stale() == [command.pk]


def test_a_refused_declaration_is_told_to_the_user_alone(client, http_target):
    viewer_like = UserFactory(username="vic", groups=["viewer"])
    link(viewer_like)
    reply = answer(slack(client, form("/incident", 'declare "x" severity=P1', user="vic")))
    assert reply == {
        "response_type": "ephemeral",
        "text": "Viewers cannot declare incidents; ask an SRE lead for access.",
    }
    assert not ChatCommand.objects.filter(user=viewer_like).exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('declare "API down"', "severity=P1…P4 is required"),
        ('declare "API down" severity=P7', "severity=P1…P4 is required"),
        ("declare severity=P1", "Say what is happening, in quotes"),
        ('declare "API down severity=P1', "A quote is not closed."),
        ('declare "API down" severity=P1 services=warp-drive', "Unknown service(s): warp-drive."),
        ('declare "API down" severity=P1 colour=red', "Unknown option(s): colour."),
        ("", "Say what to do."),
        ("explode", "Unknown subcommand 'explode'."),
        ("ack please", "`/incident ack` takes no text."),
    ],
)
def test_incident_mistakes_get_the_usage(client, ian, text, problem):
    reply = answer(slack(client, form("/incident", text)))
    assert reply["response_type"] == "ephemeral"
    assert problem in reply["text"]
    assert '/incident declare "description" severity=P1' in reply["text"]
    assert not ChatCommand.objects.exists()


# --- /incident ack and status --------------------------------------------------------------------
def test_ack_in_the_incident_channel(client, unacknowledged):
    incident = unacknowledged
    reply = answer(slack(client, form("/incident", "ack", channel=channel_of(incident))))
    assert reply == {
        "response_type": "in_channel",
        "text": f"INC-{incident.pk} acknowledged by @ian.",
    }
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
    again = answer(slack(client, form("/incident", "ack", channel=channel_of(incident))))
    assert again["response_type"] == "ephemeral"
    assert "already acknowledged by ian" in again["text"]


def test_ack_elsewhere_by_reference(client, unacknowledged):
    reference = f"ack INC-{unacknowledged.pk}"
    reply = answer(slack(client, form("/incident", reference, channel="random")))
    assert reply["response_type"] == "in_channel"


def test_taking_the_ic_role_was_the_acknowledgement(client, incident, ian):
    """Acknowledgement follows people (4.2, Appendix A): Ian took command, so the incident is
    acknowledged, by him, and `/incident ack` says so instead of acknowledging again."""
    incident.refresh_from_db()
    assert incident.acknowledged_by == ian
    reply = answer(slack(client, form("/incident", "ack", channel=channel_of(incident))))
    assert reply["response_type"] == "ephemeral"
    assert "already acknowledged by ian" in reply["text"]


def test_outside_an_incident_channel_without_a_reference(client, incident):
    reply = answer(slack(client, form("/incident", "ack", channel="random")))
    assert reply["response_type"] == "ephemeral"
    assert "This is not an incident channel" in reply["text"]
    assert "INC-42" in reply["text"]


def test_a_security_incident_is_invisible_to_others(client, security_user):
    secret_incident = declare(actor=security_user, severity="P1", security=True)
    link(UserFactory(username="rita", groups=["responder"]))
    reply = answer(
        slack(client, form("/incident", f"status INC-{secret_incident.pk}", user="rita"))
    )
    assert reply["text"] == f"No incident INC-{secret_incident.pk} that you can see."
    in_channel = answer(
        slack(client, form("/incident", "ack", user="rita", channel=channel_of(secret_incident)))
    )
    assert "This is not an incident channel" in in_channel["text"]


def test_status_summarises_the_incident_and_the_next_updates_due(client, incident, unacknowledged):
    reply = answer(slack(client, form("/incident", "status", channel=channel_of(incident))))
    text = reply["text"]
    assert "P1 · Investigating" in text
    assert " · acknowledged" in text
    assert "Incident Commander: @ian" in text
    assert "Next status page update due" in text
    fresh = answer(slack(client, form("/incident", "status", channel=channel_of(unacknowledged))))
    assert "NOT acknowledged" in fresh["text"]
    assert "No roles assigned yet." in fresh["text"]


# --- /status update ------------------------------------------------------------------------------
def test_status_update_posts_to_the_status_page(client, incident):
    reply = answer(
        slack(
            client,
            form(
                "/status",
                'update "We have found the cause and are deploying a fix." state=identified',
                channel=channel_of(incident),
            ),
        )
    )
    assert reply["response_type"] == "in_channel"
    assert reply["text"].startswith(
        f"Status page updated for INC-{incident.pk} (Identified) by @ian"
    )
    update = Update.objects.get()
    assert (update.channel, update.template, update.text, update.posted_by.username) == (
        "status_page",
        "identified",
        "We have found the cause and are deploying a fix.",
        "ian",
    )


def test_status_update_takes_the_incident_state_by_default(client, incident):
    answer(slack(client, form("/status", 'update "Looking into it"', channel=channel_of(incident))))
    assert Update.objects.get().template == "investigating"


def test_status_update_is_for_the_ic_or_comms_lead(client, incident):
    link(UserFactory(username="rita", groups=["responder"]))
    reply = answer(
        slack(client, form("/status", 'update "hello"', user="rita", channel=channel_of(incident)))
    )
    assert reply["response_type"] == "ephemeral"
    assert "Incident Commander or Communications Lead" in reply["text"]
    assert not Update.objects.exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("update", "Say the update, in quotes"),
        ('update "x" state=panicking', "state must be one of investigating"),
        ('update "x" urgency=high', "Unknown option(s): urgency."),
        ('publish "x"', "Unknown subcommand 'publish'."),
    ],
)
def test_status_mistakes_get_the_usage(client, incident, text, problem):
    reply = answer(slack(client, form("/status", text, channel=channel_of(incident))))
    assert reply["response_type"] == "ephemeral"
    assert problem in reply["text"]
    assert '/status update "message" state=investigating' in reply["text"]
    assert not Update.objects.exists()


def test_security_incidents_never_reach_the_status_page_from_chat(client, security_user):
    secret_incident = declare(actor=security_user, severity="P1", security=True)
    link(UserFactory(username="sec", groups=["security"], rank="security_lead"))
    reply = answer(
        slack(
            client, form("/status", 'update "x"', user="sec", channel=channel_of(secret_incident))
        )
    )
    assert "Security incidents are never posted to the status page" in reply["text"]


# --- /pd page ------------------------------------------------------------------------------------
def test_page_a_responder(client, incident):
    bob = UserFactory(username="bob", groups=["responder"])
    reply = answer(
        slack(
            client, form("/pd", 'page @bob "need a database expert"', channel=channel_of(incident))
        )
    )
    assert reply == {
        "response_type": "in_channel",
        "text": f"Paged @bob about INC-{incident.pk} for @ian: need a database expert",
    }
    page = Page.objects.get(recipient=bob)
    assert "need a database expert" in page.subject


def test_page_by_slack_mention(client, incident):
    bob = UserFactory(username="bob", groups=["responder"])
    link(bob, user_id="U0BOB")
    answer(slack(client, form("/pd", 'page <@U0BOB|bobby> "help"', channel=channel_of(incident))))
    assert Page.objects.filter(recipient=bob).exists()


def test_a_mention_of_an_unlinked_slack_user_names_nobody(client, incident):
    """The display name in a mention is the Slack user's own choice: it names nobody here."""
    bob = UserFactory(username="bob", groups=["responder"])
    reply = answer(
        slack(client, form("/pd", 'page <@U0EVE|bob> "help"', channel=channel_of(incident)))
    )
    assert reply["response_type"] == "ephemeral"
    assert "has not linked a TenSafe IR account" in reply["text"]
    assert not Page.objects.filter(recipient=bob).exists()
    link(bob, user_id="U0BOB", team_id="T0OTHER")  # linked, but in another workspace
    reply = answer(
        slack(client, form("/pd", 'page <@U0BOB|bob> "help"', channel=channel_of(incident)))
    )
    assert "has not linked a TenSafe IR account" in reply["text"]
    assert not Page.objects.filter(recipient=bob).exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("page", "Name who to page as @username."),
        ('page bob "help"', "Name who to page as @username."),
        ('page @ghost "help"', "No TenSafe IR user named 'ghost'."),
        ("page @ian", "Say why, in quotes"),
        ('call @ian "x"', "Unknown subcommand 'call'."),
    ],
)
def test_page_mistakes_get_the_usage(client, incident, text, problem):
    reply = answer(slack(client, form("/pd", text, channel=channel_of(incident))))
    assert reply["response_type"] == "ephemeral"
    assert problem in reply["text"]
    assert '/pd page @username "reason"' in reply["text"]


def test_viewers_cannot_page(client, incident):
    link(UserFactory(username="vic", groups=["viewer"]))
    UserFactory(username="bob", groups=["responder"])
    reply = answer(
        slack(client, form("/pd", 'page @bob "x"', user="vic", channel=channel_of(incident)))
    )
    assert "Viewers cannot change incidents" in reply["text"]
    assert not Page.objects.filter(recipient__username="bob").exists()


def test_unknown_command(client, ian):
    reply = answer(slack(client, form("/deploy", "now")))
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Unknown command '/deploy'.")


def test_declare_follow_up_goes_through_the_outbound_guard(client, ian, settings, caplog):
    """A response_url that resolves to a private address is refused like any webhook."""
    settings.TENSAFE_OUTBOUND_ALLOWLIST = []
    fields = form(
        "/incident", 'declare "Disk full" severity=P3', response_url="http://127.0.0.1:9/hook"
    )
    answer(slack(client, fields))
    command = ChatCommand.objects.get()
    assert chat_command_declare(command.pk) == "done"  # declared; the answer was not sent
    assert "resolves to non-public address 127.0.0.1" in caplog.text
    assert Incident.objects.get().severity == "P3"


# --- rate limit ----------------------------------------------------------------------------------
def test_commands_are_limited_per_slack_user(client, incident, settings):
    settings.TENSAFE_RATE_CHAT = (3, 60)
    for n in range(3):
        text = f'update "Update {n}"'
        assert (
            answer(slack(client, form("/status", text, channel=channel_of(incident))))[
                "response_type"
            ]
            == "in_channel"
        )
    over = answer(slack(client, form("/status", 'update "Four"', channel=channel_of(incident))))
    assert over["response_type"] == "ephemeral"
    assert over["text"].startswith("Slow down: more than 3 commands in 60 seconds. Try again in ")
    assert over["text"].endswith(" seconds.")
    assert Update.objects.count() == 3
    # Someone else, or the same user id in another workspace, is counted apart.
    link(UserFactory(username="rita", groups=["responder"]))
    other = answer(
        slack(client, form("/incident", "status", user="rita", channel=channel_of(incident)))
    )
    assert other["text"].startswith(f"*INC-{incident.pk}*")
    elsewhere = answer(
        slack(client, form("/incident", "status", team_id="T0OTHER", channel=channel_of(incident)))
    )
    assert elsewhere["text"].startswith("Link your account:")


def test_unlinked_users_are_limited_too(client, incident, settings):
    from comms.models import ChatLinkToken

    settings.TENSAFE_RATE_CHAT = (2, 60)
    for _ in range(2):
        reply = answer(slack(client, form("/incident", "status", user_id="U0EVE")))
        assert reply["text"].startswith("Link your account:")
    over = answer(slack(client, form("/incident", "status", user_id="U0EVE")))
    assert over["text"].startswith("Slow down")
    assert ChatLinkToken.objects.count() == 2


def test_the_limit_frees_up_in_the_next_window(client, incident, settings, time_machine):
    settings.TENSAFE_RATE_CHAT = (1, 60)
    minute = (int(time.time()) // 60 + 1) * 60
    time_machine.move_to(minute + 10, tick=False)
    fields = form("/incident", "status", channel=channel_of(incident))
    assert answer(slack(client, fields))["text"].startswith("*INC-")
    over = answer(slack(client, form("/incident", "status", channel=channel_of(incident))))
    assert over["text"] == (
        "Slow down: more than 1 command in 60 seconds. Try again in 50 seconds."
    )
    time_machine.move_to(minute + 60, tick=False)
    again = answer(slack(client, form("/incident", "status", channel=channel_of(incident))))
    assert again["text"].startswith("*INC-")


def test_a_refused_follow_up_logs_the_host_but_not_the_response_url(
    client, ian, settings, caplog, http_target
):
    """The response_url is a credential: whoever holds it may post in the channel."""
    settings.TENSAFE_OUTBOUND_ALLOWLIST = []
    secret_path = "/commands/T0001/1234/s3cr3tT0k3n"
    fields = form(
        "/incident", 'declare "Disk full" severity=P3', response_url=http_target.url + secret_path
    )
    answer(slack(client, fields))
    assert chat_command_declare(ChatCommand.objects.get().pk) == "done"
    assert "chat follow-up to 127.0.0.1 failed" in caplog.text
    assert "s3cr3tT0k3n" not in caplog.text
    assert http_target.received == []


def test_a_backslash_response_url_is_never_called(client, ian, settings, caplog, http_target):
    port = http_target.server.server_address[1]
    fields = form(
        "/incident",
        'declare "Disk full" severity=P3',
        response_url=f"http://127.0.0.1:{port}\\@1.1.1.1/x",
    )
    settings.TENSAFE_OUTBOUND_ALLOWLIST = []
    answer(slack(client, fields))
    assert chat_command_declare(ChatCommand.objects.get().pk) == "done"
    assert "backslash" in caplog.text
    assert http_target.received == []
