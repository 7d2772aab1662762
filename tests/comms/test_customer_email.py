"""Customer email (procedures 6.2 "Customer Email (P1 Only)", 6.3): one delivery row per
affected customer contact (customers using any affected service), written in the posting
transaction with an idempotency key (incident, update, contact), sent through Django's email
backend by a worker after commit, retried with backoff, re-handed by the sweeper when the
hand-off was lost; P2 only at the end of the incident, P3/P4 never; drills send nothing."""

import socket
from datetime import UTC, datetime, timedelta

import pytest

from comms.models import Customer, CustomerContact, Delivery
from comms.services import deliveries_build, update_post
from comms.services.deliveries import KIND as DELIVERY_KIND
from comms.services.deliveries import POLICY as DELIVERY_POLICY
from incidents import services
from incidents.models import Service, TimelineEvent
from incidents.outbox import outbox_deliver, outbox_requeue_stale
from incidents.states import Role, TimelineKind
from tests.factories import UserFactory, declare, drive_to, put_on_call

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def eager():
    """Celery runs tasks in-process: deliveries handed over after commit are sent at once."""
    from tensafe_ir.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def ic(db):
    ian = UserFactory(username="ian-ic", rank="engineering_manager", groups=["incident_commander"])
    put_on_call(ian)  # commands P3s and P4s too: their IC is the on-call engineer (3.1)
    return ian


@pytest.fixture
def customers(db):
    """Acme uses Inference (two contacts, one inactive), Globex the API Gateway, Initech only
    the Database (never affected here)."""
    inference, gateway, database = (
        Service.objects.get(slug=s) for s in ("inference", "api-gateway", "database")
    )
    acme = Customer.objects.create(name="Acme Corp")
    acme.services.set([inference])
    globex = Customer.objects.create(name="Globex")
    globex.services.set([gateway, inference])
    initech = Customer.objects.create(name="Initech")
    initech.services.set([database])
    CustomerContact.objects.create(customer=acme, email="ops@acme.test", name="Ops")
    CustomerContact.objects.create(customer=acme, email="cto@acme.test")
    CustomerContact.objects.create(customer=acme, email="old@acme.test", active=False)
    CustomerContact.objects.create(customer=globex, email="it@globex.test")
    CustomerContact.objects.create(customer=initech, email="noc@initech.test")
    return [inference, gateway]


def p1(ic, affected, **fields):
    incident = declare(actor=ic, severity="P1", services=affected, **fields)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    return incident


def test_one_delivery_per_affected_contact_sent_after_commit(
    ic, customers, clock, eager, mailoutbox, django_capture_on_commit_callbacks
):
    incident = p1(ic, customers)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        update = update_post(actor=ic, incident_id=incident.pk, channel="customer_email")
        assert mailoutbox == []  # nothing leaves before commit
    deliveries = list(Delivery.objects.filter(update=update).order_by("target"))
    assert [(d.target, d.status) for d in deliveries] == [
        ("cto@acme.test", "pending"),
        ("it@globex.test", "pending"),  # once, although Globex uses both affected services
        ("ops@acme.test", "pending"),
    ]
    for d in deliveries:
        assert d.idempotency_key == f"inc{incident.pk}:upd{update.pk}:contact{d.contact_id}"
    assert len(queued) == 1

    for callback in queued:
        callback()  # hands the deliveries to the (eager) workers
    assert sorted(m.to[0] for m in mailoutbox) == [
        "cto@acme.test",
        "it@globex.test",
        "ops@acme.test",
    ]
    acme_mail = next(m for m in mailoutbox if m.to == ["ops@acme.test"])
    assert acme_mail.subject == f"TenSafe Service Incident - {incident.title}"
    assert acme_mail.body.startswith("Dear Acme Corp,\n")
    assert "INCIDENT SUMMARY" in acme_mail.body
    key = f"inc{incident.pk}:upd{update.pk}:contact"
    assert acme_mail.extra_headers["X-TenSafe-Idempotency-Key"].startswith(key)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}

    (event,) = TimelineEvent.objects.filter(kind=TimelineKind.CUSTOMER_EMAIL_SENT)
    assert event.text == f"Customer email (Investigating) to 3 contact(s): {acme_mail.subject}"
    assert event.data["recipients"] == 3


def test_deliveries_are_idempotent(ic, customers, clock, mailoutbox):
    incident = p1(ic, customers)
    update = update_post(actor=ic, incident_id=incident.pk, channel="customer_email")
    assert deliveries_build(update, at=T0) == ([], 3)  # a re-run writes nothing new
    assert Delivery.objects.count() == 3
    delivery = Delivery.objects.first()
    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "sent"
    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "skipped"
    assert len(mailoutbox) == 1
    # A second customer email is a new update: new keys, new emails.
    second = update_post(actor=ic, incident_id=incident.pk, channel="customer_email")
    assert Delivery.objects.filter(update=second).count() == 3


def test_own_text_is_personalised_per_customer(ic, customers, clock, eager, mailoutbox):
    incident = p1(ic, customers)
    update_post(
        actor=ic,
        incident_id=incident.pk,
        channel="customer_email",
        text="Dear [Customer],\n\nInference is degraded; we are on it.",
    )
    bodies = sorted(d.body for d in Delivery.objects.all())
    assert bodies[0].startswith("Dear Acme Corp,")
    assert bodies[-1].startswith("Dear Globex,")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failed_sends_are_retried_with_backoff_then_recorded(ic, customers, clock, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = (
        "127.0.0.1",
        _closed_port(),
        1,
    )
    incident = p1(ic, customers[:1])  # Acme and Globex use Inference
    update = update_post(actor=ic, incident_id=incident.pk, channel="customer_email")
    delivery = Delivery.objects.filter(update=update).first()

    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.next_attempt_at == T0 + timedelta(seconds=2)
    assert "email failed" in delivery.last_error
    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "skipped"  # not before its backoff

    waits = []
    for _ in range(DELIVERY_POLICY.attempts - 1):
        delivery.refresh_from_db()
        waits.append((delivery.next_attempt_at - datetime.now(UTC)).total_seconds())
        clock.move_to(delivery.next_attempt_at, tick=False)
        status = outbox_deliver(DELIVERY_KIND, delivery.pk)
    assert waits == [2, 4, 8, 16, 32]
    assert status == "failed"
    (note,) = TimelineEvent.objects.filter(incident=incident, kind=TimelineKind.NOTE)
    # The address is masked: everyone who may open the incident reads its timeline.
    assert delivery.target == "ops@acme.test"
    assert note.text.startswith("Customer email to o***@acme.test failed after 6 attempt(s)")


def test_lost_hand_offs_and_dead_senders_are_handed_over_again(ic, customers, clock):
    incident = p1(ic, customers)
    update_post(actor=ic, incident_id=incident.pk, channel="customer_email")
    first, second, third = Delivery.objects.order_by("id")
    Delivery.objects.filter(pk=second.pk).update(
        status="sending", lease_until=T0 + timedelta(seconds=30)
    )
    assert (
        outbox_requeue_stale(DELIVERY_KIND, now=T0 + timedelta(seconds=5)) == []
    )  # within the grace
    later = T0 + timedelta(minutes=2)
    assert sorted(outbox_requeue_stale(DELIVERY_KIND, now=later)) == sorted(
        [first.pk, second.pk, third.pk]
    )
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}


# --- which severities email customers ------------------------------------------------------------
def test_p2_customers_are_emailed_only_at_the_end(ic, customers, clock, api):
    lead = UserFactory(rank="support", groups=["responder"])
    incident = declare(actor=ic, severity="P2", services=customers)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.COMMS_LEAD, user=lead
    )
    url = f"/api/v1/incidents/{incident.pk}/updates/"
    refused = api(lead).post(url, {"channel": "customer_email"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["rule"] == "P2 customer email: end of incident"
    incident = drive_to(incident, "resolved", ic)
    clock.move_to(incident.resolved_at + timedelta(minutes=1), tick=False)
    sent = api(lead).post(url, {"channel": "customer_email"}, format="json")
    assert sent.status_code == 201
    assert "Current Status: Resolved" in sent.json()["text"]
    assert (
        "We will provide updates at the conclusion of our post-incident review"
        in (sent.json()["text"])
    )
    assert Delivery.objects.count() == 3


@pytest.mark.parametrize("severity", ["P3", "P4"])
def test_p3_and_p4_never_email_customers(ic, customers, clock, api, severity):
    incident = declare(actor=ic, severity=severity, services=customers)
    services.incident_assign_role(
        actor=ic, incident_id=incident.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    response = api(ic).post(
        f"/api/v1/incidents/{incident.pk}/updates/", {"channel": "customer_email"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["rule"] == f"{severity} customer email: N/A"
    assert not Delivery.objects.exists()


def test_drills_record_customer_email_and_send_nothing(ic, customers, clock, eager, mailoutbox):
    incident = p1(ic, customers, drill=True)
    update_post(actor=ic, incident_id=incident.pk, channel="customer_email")
    assert set(Delivery.objects.values_list("status", flat=True)) == {"suppressed"}
    assert mailoutbox == []


def test_update_list_shows_delivery_outcomes(ic, customers, clock, eager, api):
    incident = p1(ic, customers)
    update_post(actor=ic, incident_id=incident.pk, channel="customer_email")
    Delivery.objects.filter(pk=Delivery.objects.first().pk).update(status="failed")
    (listed,) = api(ic).get(f"/api/v1/incidents/{incident.pk}/updates/").json()
    assert listed["deliveries"] == {"failed": 1, "pending": 2}
