"""Internal status updates (procedures 6.1) reach the owning teams' Slack-compatible webhooks:
one delivery per team, through the core's guarded transport, against a real local server."""

import json
from datetime import UTC, datetime

import pytest

from comms.models import Delivery, TeamWebhook
from comms.services import update_post
from comms.services.deliveries import KIND as DELIVERY_KIND
from incidents.models import Service, Team, TimelineEvent
from incidents.outbox import outbox_deliver
from incidents.states import TimelineKind
from tests.factories import UserFactory, declare

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def eager():
    from tensafe_ir.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def incident(time_machine, db):
    time_machine.move_to(T0, tick=False)
    ic = UserFactory(username="ian-ic", rank="engineering_manager", groups=["incident_commander"])
    affected = list(Service.objects.filter(slug__in=["api-gateway", "authentication"]))
    return declare(actor=ic, severity="P1", services=affected)


def hook(team_slug, url, **fields):
    return TeamWebhook.objects.create(team=Team.objects.get(slug=team_slug), url=url, **fields)


def test_internal_update_is_posted_to_each_owning_teams_webhook(
    incident, http_target, allow_local, eager, django_capture_on_commit_callbacks
):
    hook("platform", f"{http_target.url}/platform")
    hook("security", f"{http_target.url}/security")
    hook("support", f"{http_target.url}/support")  # owns no affected service
    responder = UserFactory(groups=["responder"])
    with django_capture_on_commit_callbacks(execute=True):
        update = update_post(actor=responder, incident_id=incident.pk, channel="internal")
    assert sorted(r.path for r in http_target.received) == ["/platform", "/security"]
    received = next(r for r in http_target.received if r.path == "/platform")
    message = json.loads(received.body)
    subject = f"[P1] INC-{incident.pk} {incident.title} — status update"
    assert message == {"text": f"*{subject}*\n{update.text}"}
    assert "STATUS UPDATE" in message["text"]
    delivery = Delivery.objects.get(team__slug="platform")
    assert received.headers["idempotency-key"] == delivery.idempotency_key
    assert delivery.idempotency_key == f"inc{incident.pk}:upd{update.pk}:team{delivery.team_id}"
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    event = TimelineEvent.objects.get(kind=TimelineKind.INTERNAL_UPDATE_POSTED)
    assert (
        event.text
        == "Internal status update posted (Investigating) to the timeline and 2 team channel(s)"
    )


def test_disabled_webhooks_are_skipped(incident, http_target, allow_local):
    hook("platform", http_target.url, enabled=False)
    update_post(actor=None, incident_id=incident.pk, channel="internal")
    assert not Delivery.objects.exists()


def test_server_errors_are_retried(incident, http_target, allow_local):
    hook("platform", http_target.url)
    update_post(actor=None, incident_id=incident.pk, channel="internal")
    http_target.respond(503)
    delivery = Delivery.objects.get()
    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert (delivery.response_code, delivery.attempts) == (503, 1)


def test_private_addresses_are_refused_unless_allow_listed(incident, http_target, settings):
    settings.TENSAFE_OUTBOUND_ALLOWLIST = []
    hook("platform", http_target.url)
    update_post(actor=None, incident_id=incident.pk, channel="internal")
    delivery = Delivery.objects.get()
    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "failed"
    assert http_target.received == []
    delivery.refresh_from_db()
    assert "non-public address" in delivery.last_error
    note = TimelineEvent.objects.get(incident=incident, kind=TimelineKind.NOTE)
    assert note.text.startswith("Team webhook post to http://127.0.0.1")


def test_a_failed_team_post_is_on_the_timeline_without_the_webhook_url(
    incident, api, django_capture_on_commit_callbacks
):
    """A team webhook URL is a credential (issue 12, finding 7): the failure note every reader
    of the incident sees names its host only."""
    hook("platform", "ftp://chat.example/hooks/platform-webhook-credential")
    responder = UserFactory(groups=["responder"])
    update = update_post(actor=responder, incident_id=incident.pk, channel="internal")
    (delivery,) = Delivery.objects.filter(update=update)
    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "failed"
    note = TimelineEvent.objects.filter(incident=incident, data__delivery=delivery.pk).get()
    assert note.text.startswith("Team webhook post to ftp://chat.example/… failed")
    viewer = UserFactory(groups=["viewer"])
    timeline = api(viewer).get(f"/api/v1/incidents/{incident.pk}/timeline/")
    assert "platform-webhook-credential" not in timeline.content.decode()


def test_a_backslash_webhook_saved_before_the_check_is_refused_at_send_time(
    incident, http_target, settings
):
    """`http://127.0.0.1:PORT\\@1.1.1.1/x` reads as 1.1.1.1 to urlsplit and as
    127.0.0.1:PORT to the HTTP client: a row written before the check existed is not sent."""
    settings.TENSAFE_OUTBOUND_ALLOWLIST = []
    port = http_target.server.server_address[1]
    hook("platform", f"http://127.0.0.1:{port}\\@1.1.1.1/x")
    update_post(actor=None, incident_id=incident.pk, channel="internal")
    delivery = Delivery.objects.get()
    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "backslash" in delivery.last_error
    assert http_target.received == []


def test_team_webhook_urls_are_checked_in_the_admin(client, db, http_target):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@tensafe.test", "pw")
    client.force_login(admin)
    port = http_target.server.server_address[1]
    team = Team.objects.get(slug="platform")
    for url, problem in [
        (f"http://127.0.0.1:{port}\\@1.1.1.1/x", "backslash"),
        (f"http://user@127.0.0.1:{port}/x", "user information"),
        (f"http://127.0.0.1:{port}/x", "non-public address 127.0.0.1"),
    ]:
        response = client.post(
            "/admin/comms/teamwebhook/add/", {"team": team.pk, "url": url, "enabled": "on"}
        )
        assert response.status_code == 200, url
        errors = response.context["adminform"].form.errors
        assert problem in str(errors), errors
    assert not TeamWebhook.objects.exists()
