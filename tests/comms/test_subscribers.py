"""Email subscribers of the status page: subscribe → confirm → told of the next public update →
unsubscribe; wrong input changes nothing; deliveries are idempotent and retried."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail, signing
from django.utils import timezone

from comms import subscribers
from comms.models import Subscriber, SubscriberDelivery, Update
from comms.subscribers import confirm_url, unsubscribe_url
from incidents.outbox import outbox_deliver, outbox_requeue_stale
from tests.comms.test_status_page import incident, post
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_tasks():
    """Celery runs tasks in-process, so deliveries handed over after commit are sent at once."""
    from tensafe_ir.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def link_in(message, kind: str) -> str:
    return path_of(re.search(rf"(https?://\S+/status/{kind}/\S+/)", message.body).group(1))


def _token_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


def subscribe(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/status/subscribe", {"email": email})


def confirmed(email="reader@example.com") -> Subscriber:
    return Subscriber.objects.create(
        email=email,
        status=Subscriber.Status.CONFIRMED,
        created_at=timezone.now(),
        confirmed_at=timezone.now(),
    )


def test_subscribe_confirm_notify_unsubscribe(
    client, django_capture_on_commit_callbacks, eager_tasks
):
    response = subscribe(client, " Reader@Example.com ", django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert "follow its link" in response.content.decode()
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.status) == ("reader@example.com", "pending")
    [confirmation] = mail.outbox
    assert confirmation.to == ["reader@example.com"]
    confirm_path = link_in(confirmation, "subscribe/confirm")

    # A pending subscriber hears nothing.
    api = ServiceFactory(slug="api", name="API")
    inc = incident("P2", [api], title="Checkout errors")
    with django_capture_on_commit_callbacks(execute=True):
        post(inc, "Investigating checkout errors.", template="investigating")
    assert len(mail.outbox) == 1

    # GET shows a button and changes nothing (mail scanners); POST confirms.
    page = client.get(confirm_path)
    assert page.status_code == 200 and "<button" in page.content.decode()
    assert Subscriber.objects.get().status == "pending"
    assert client.post(confirm_path).status_code == 200
    assert Subscriber.objects.get().status == "confirmed"

    with django_capture_on_commit_callbacks(execute=True):
        update = post(inc, "Identified: a bad deploy.", template="identified")
    [delivery] = SubscriberDelivery.objects.all()
    assert (delivery.update, delivery.status) == (update, "sent")
    assert delivery.idempotency_key == f"u{update.pk}:s{subscriber.pk}"
    notice = mail.outbox[-1]
    assert notice.to == ["reader@example.com"]
    assert notice.subject == "[TenSafe status] Checkout errors: Identified"
    assert "Identified: a bad deploy." in notice.body and "Affects: API" in notice.body
    unsubscribe_path = link_in(notice, "unsubscribe")
    # The header's link is the body's (signed with the send's clock: a link signed now may
    # differ in its timestamp) and reads back to this subscriber.
    header = notice.extra_headers["List-Unsubscribe"]
    assert header == f"<{settings.PUBLIC_BASE_URL}{unsubscribe_path}>"
    assert subscribers.subscriber_from_unsubscribe_token(_token_of(unsubscribe_path)) == subscriber
    assert notice.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Internal updates and other channels are never mailed.
    with django_capture_on_commit_callbacks(execute=True):
        post(inc, "internal only", channel=Update.Channel.INTERNAL)
    assert SubscriberDelivery.objects.count() == 1

    page = client.get(unsubscribe_path)
    assert page.status_code == 200 and "<button" in page.content.decode()
    assert Subscriber.objects.get().status == "confirmed"
    assert client.post(unsubscribe_path).status_code == 200
    assert Subscriber.objects.get().status == "unsubscribed"
    sent = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        post(inc, "Monitoring.", template="monitoring")
    assert len(mail.outbox) == sent


def test_one_click_unsubscribe_post_without_cookies(db):
    from django.test import Client

    subscriber = confirmed()
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(path_of(unsubscribe_url(subscriber)), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Subscriber.objects.get().status == "unsubscribed"


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "x" * 250 + "@example.com"])
def test_bad_email_is_refused_and_changes_nothing(
    client, email, django_capture_on_commit_callbacks
):
    response = subscribe(client, email, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not Subscriber.objects.exists() and mail.outbox == []


def _state(email: str, status: str | None) -> None:
    if status is not None:
        Subscriber.objects.create(
            email=email,
            status=status,
            created_at=timezone.now() - timedelta(days=1),
            unsubscribed_at=timezone.now() if status == "unsubscribed" else None,
        )


STATES = [None, "pending", "confirmed", "unsubscribed"]


def test_subscribe_answers_the_same_whatever_the_address_state(
    client, django_capture_on_commit_callbacks
):
    """Issue 12, finding 9: the answer does not tell whether an address is new, pending,
    subscribed or unsubscribed. Same status and page; nothing is sent in the request, and one
    notice is handed to the workers in every case."""
    answers = []
    for n, status in enumerate(STATES):
        email = f"reader{n}@example.com"
        _state(email, status)
        with django_capture_on_commit_callbacks(execute=False) as queued:
            response = client.post("/status/subscribe", {"email": email.upper()})
        answers.append((response.status_code, response.content.decode().replace(email, "EMAIL")))
        assert len(queued) == 1, status
        assert mail.outbox == []
    assert answers[0][0] == 200 and "follow its link" in answers[0][1]
    assert all(answer == answers[0] for answer in answers), [code for code, _ in answers]


@pytest.mark.parametrize("status", STATES)
def test_each_state_gets_the_right_mail_from_the_workers(
    client, status, django_capture_on_commit_callbacks, eager_tasks
):
    _state("dup@example.com", status)  # created a day ago

    subscribe(client, "DUP@example.com", django_capture_on_commit_callbacks)

    subscriber = Subscriber.objects.get()
    [message] = mail.outbox
    assert message.to == ["dup@example.com"]
    if status == "confirmed":  # nothing changes; the mailbox's owner is told, with a way out
        assert (
            subscriber.status == "confirmed"
            and subscriber.created_at < timezone.now() - timedelta(hours=1)
        )
        assert "already subscribed" in message.body
        link = link_in(message, "unsubscribe")
        assert subscribers.subscriber_from_unsubscribe_token(_token_of(link)) == subscriber
    else:  # new, pending again, or back: a (new) link to confirm
        assert subscriber.status == "pending"
        assert link_in(message, "subscribe/confirm").startswith("/status/subscribe/confirm/")


def test_subscribe_is_limited_per_address_and_per_email(
    client, settings, django_capture_on_commit_callbacks
):
    settings.TENSAFE_RATE_SUBSCRIBE_ADDRESS = (4, 3600)
    settings.TENSAFE_RATE_SUBSCRIBE_EMAIL = (2, 3600)
    codes = [
        client.post("/status/subscribe", {"email": "target@example.com"}).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    # Another address may still subscribe from here, until this address's limit.
    assert client.post("/status/subscribe", {"email": "other@example.com"}).status_code == 200
    with django_capture_on_commit_callbacks(execute=False) as queued:
        refused = client.post("/status/subscribe", {"email": "third@example.com"})
    assert refused.status_code == 429 and queued == []
    assert int(refused["Retry-After"]) > 0
    assert "Too many subscription requests" in refused.content.decode()
    assert not Subscriber.objects.filter(email="third@example.com").exists()
    # Another client address is not limited by this one.
    other = client.post("/status/subscribe", {"email": "third@example.com"}, REMOTE_ADDR="10.9.9.9")
    assert other.status_code == 200


def test_tampered_and_expired_links_are_refused_and_change_nothing(client, time_machine):
    subscriber = Subscriber.objects.create(email="p@example.com", created_at=timezone.now())
    confirm = path_of(confirm_url(subscriber))
    tampered = confirm[:-6] + ("A" if confirm[-6] != "A" else "B") + confirm[-5:]
    for path in (tampered, "/status/subscribe/confirm/garbage/", "/status/unsubscribe/garbage/"):
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 400, path
            assert "This link is not valid." in response.content.decode()
    # A confirm token is not an unsubscribe token (different salts).
    token = confirm.rstrip("/").rsplit("/", 1)[1]
    assert client.post(f"/status/unsubscribe/{token}/").status_code == 400

    time_machine.move_to(
        timezone.now() + timedelta(hours=subscribers.CONFIRM_VALID_HOURS, minutes=1)
    )
    response = client.post(confirm)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert Subscriber.objects.get().status == "pending"


def test_link_for_a_deleted_or_changed_subscriber_is_invalid(client):
    subscriber = Subscriber.objects.create(email="gone@example.com", created_at=timezone.now())
    token = signing.dumps(
        {"s": subscriber.pk, "e": "other@example.com"}, salt=subscribers.CONFIRM_SALT, compress=True
    )
    assert client.post(f"/status/subscribe/confirm/{token}/").status_code == 400
    assert Subscriber.objects.get().status == "pending"


def test_security_and_drill_updates_are_never_mailed(django_capture_on_commit_callbacks):
    confirmed()
    api = ServiceFactory(slug="api", name="API")
    for flags in ({"security": True}, {"drill": True}):
        inc = incident("P1", [api], **flags)
        with django_capture_on_commit_callbacks(execute=True):
            post(inc, "SECRET")
    assert not SubscriberDelivery.objects.exists() and mail.outbox == []


def test_deliveries_are_written_in_the_posting_transaction_and_queued_after_commit(
    django_capture_on_commit_callbacks,
):
    people = [confirmed(f"r{n}@example.com") for n in range(3)]
    Subscriber.objects.create(email="pending@example.com", created_at=timezone.now())
    inc = incident("P2", [ServiceFactory(slug="api", name="API")])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        update = post(inc, "Investigating.")
    rows = SubscriberDelivery.objects.filter(update=update)
    assert sorted(rows.values_list("subscriber_id", flat=True)) == [p.pk for p in people]
    assert set(rows.values_list("status", flat=True)) == {"pending"}
    assert len(callbacks) == 1 and mail.outbox == []
    # Re-running the hook for the same update writes nothing new (idempotency key).
    assert subscribers.deliveries_create(update, now=timezone.now()) == []
    assert rows.count() == 3


def test_failed_send_is_retried_with_backoff_then_fails(monkeypatch, time_machine):
    subscriber = confirmed()
    inc = incident("P2", [ServiceFactory(slug="api", name="API")])
    update = post(inc, "Investigating.")
    delivery = SubscriberDelivery.objects.get(update=update, subscriber=subscriber)

    def broken(self, *args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", broken)
    monkeypatch.setattr("incidents.tasks.outbox_deliver_task.apply_async", lambda *a, **k: None)
    assert outbox_deliver(subscribers.KIND, delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and "smtp down" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()
    assert outbox_deliver(subscribers.KIND, delivery.pk) == "skipped"  # not due yet
    for _ in range(subscribers.POLICY.attempts - 1):
        time_machine.move_to(timezone.now() + timedelta(seconds=subscribers.POLICY.cap_seconds + 1))
        status = outbox_deliver(subscribers.KIND, delivery.pk)
    assert status == "failed"
    delivery.refresh_from_db()
    assert delivery.attempts == subscribers.POLICY.attempts and mail.outbox == []


def test_lost_hand_offs_and_dead_senders_are_requeued(time_machine, eager_tasks):
    subscriber = confirmed()
    inc = incident("P2", [ServiceFactory(slug="api", name="API")])
    update = post(inc, "Investigating.")  # on_commit never runs here: the hand-off is "lost"
    delivery = SubscriberDelivery.objects.get(update=update, subscriber=subscriber)
    assert outbox_requeue_stale(subscribers.KIND) == []  # still within the grace period
    time_machine.move_to(
        timezone.now() + timedelta(seconds=subscribers.POLICY.requeue_grace_seconds + 1)
    )
    assert outbox_requeue_stale(subscribers.KIND) == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == "sent" and len(mail.outbox) == 1

    # A sender that died mid-send leaves the row "sending"; after its lease it is sent again
    # (the receiver sees the same idempotency key).
    SubscriberDelivery.objects.filter(pk=delivery.pk).update(
        status="sending",
        lease_until=timezone.now() - timedelta(seconds=1),
        next_attempt_at=timezone.now() - timedelta(hours=1),
    )
    assert outbox_requeue_stale(subscribers.KIND) == [delivery.pk]
    assert len(mail.outbox) == 2
    assert mail.outbox[1].extra_headers["X-TenSafe-Idempotency-Key"] == delivery.idempotency_key


def test_unsubscribing_cancels_unsent_deliveries():
    subscriber = confirmed()
    inc = incident("P2", [ServiceFactory(slug="api", name="API")])
    update = post(inc, "Investigating.")
    token = _token_of(path_of(unsubscribe_url(subscriber)))
    subscribers.subscriber_unsubscribe(token=token)
    delivery = SubscriberDelivery.objects.get(update=update)
    assert delivery.status == "cancelled"
    assert outbox_deliver(subscribers.KIND, delivery.pk) == "skipped" and mail.outbox == []


def test_subscribe_form_is_on_the_cached_status_page_without_a_csrf_token(client, settings):
    settings.TENSAFE_STATUS_VERSION_TTL_SECONDS = 0
    page = client.get("/status/").content.decode()
    assert 'action="/status/subscribe"' in page and "csrfmiddlewaretoken" not in page
    assert client.get("/status/subscribe").status_code == 200


def test_end_to_end_through_the_posting_service(
    client, sre_lead, settings, eager_tasks, django_capture_on_commit_callbacks
):
    """Posted through comms' own service: public on the page, mailed to subscribers; an
    internal update is neither."""
    from comms.services import update_post

    settings.TENSAFE_STATUS_VERSION_TTL_SECONDS = 0
    subscriber = confirmed()
    inc = incident("P2", [ServiceFactory(slug="api", name="API")], title="Search errors")
    with django_capture_on_commit_callbacks(execute=True):
        update_post(
            actor=sre_lead, incident_id=inc.pk, channel="internal", text="INTERNAL-ONLY note"
        )
        update = update_post(
            actor=sre_lead,
            incident_id=inc.pk,
            channel="status_page",
            template="investigating",
            text="We are looking into search errors.",
        )
    page = client.get("/status/").content.decode()
    assert "We are looking into search errors." in page and "INTERNAL-ONLY" not in page
    assert sre_lead.username not in page
    delivery = SubscriberDelivery.objects.get(subscriber=subscriber)
    assert delivery.update == update and delivery.status == "sent"
    [notice] = [m for m in mail.outbox if m.to == [subscriber.email]]
    assert "We are looking into search errors." in notice.body
    assert "INTERNAL-ONLY" not in notice.body
