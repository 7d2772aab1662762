"""Email over real SMTP: status subscribers' mail, customer email (6.2) and email pages go through
Django's SMTP backend to an SMTP server on 127.0.0.1 (aiosmtpd), and arrive as a mail client
reads them: a text part and an HTML part with the same words, the subscriber's
`List-Unsubscribe` and one-click headers, the idempotency key.

Adversaries: an update whose text carries HTML (escaped in the HTML part, not run), and mail
servers that refuse a recipient for good (550: a final failure) or for now (451: retried)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from comms import subscribers
from comms.models import Customer, CustomerContact, Delivery, SubscriberDelivery
from comms.services import update_post
from comms.services.deliveries import KIND as DELIVERY_KIND
from incidents import services
from incidents.models import Service
from incidents.outbox import outbox_deliver
from incidents.services.paging import KIND as PAGE
from incidents.services.paging import pages_build
from incidents.states import Role
from tests.comms.test_status_page import incident, post
from tests.comms.test_subscribers import confirmed
from tests.factories import ServiceFactory, UserFactory, declare, put_on_call

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


def parts(message) -> dict[str, str]:
    """The text and HTML parts of a multipart/alternative message, by content type."""
    assert message.get_content_type() == "multipart/alternative"
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def test_a_subscriber_gets_text_html_and_one_click_unsubscribe(smtp_server):
    subscriber = confirmed("reader@example.com")
    inc = incident("P2", [ServiceFactory(slug="api", name="API")])
    update = post(inc, "Checkout is slow. <script>alert('x')</script> We are on it.")
    delivery = SubscriberDelivery.objects.get(update=update, subscriber=subscriber)

    assert outbox_deliver(subscribers.KIND, delivery.pk) == "sent"

    (received,) = smtp_server.received
    assert received.recipients == ["reader@example.com"]
    message = received.message
    unsubscribe = message["List-Unsubscribe"].strip().removeprefix("<").removesuffix(">")
    token = unsubscribe.rstrip("/").rsplit("/", 1)[1]
    assert subscribers.subscriber_from_unsubscribe_token(token) == subscriber
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-TenSafe-Idempotency-Key"] == delivery.idempotency_key
    text, html = parts(message).values()
    assert "Checkout is slow. <script>" in text  # plain text is shown as it is
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert f'<a href="{unsubscribe}"' in html
    delivery.refresh_from_db()
    assert delivery.status == "sent"


def test_a_customer_email_arrives_as_text_and_html(smtp_server, time_machine):
    time_machine.move_to(T0, tick=False)
    ic = UserFactory(username="ian-ic", rank="engineering_manager", groups=["incident_commander"])
    put_on_call(ic)
    inference = Service.objects.get(slug="inference")
    acme = Customer.objects.create(name="Acme Corp")
    acme.services.set([inference])
    CustomerContact.objects.create(customer=acme, email="ops@acme.test")
    p1 = declare(actor=ic, severity="P1", services=[inference], title="Inference API down")
    services.incident_assign_role(
        actor=ic, incident_id=p1.pk, role=Role.INCIDENT_COMMANDER, user=ic
    )
    update = update_post(actor=ic, incident_id=p1.pk, channel="customer_email")
    (delivery,) = Delivery.objects.filter(update=update)

    assert outbox_deliver(DELIVERY_KIND, delivery.pk) == "sent"

    (received,) = smtp_server.received
    assert received.recipients == ["ops@acme.test"]
    assert received.message["Subject"] == "TenSafe Service Incident - Inference API down"
    text, html = parts(received.message).values()
    assert text.startswith("Dear Acme Corp,")
    assert "Dear Acme Corp," in html and "INCIDENT SUMMARY" in html


def test_an_email_page_links_its_acknowledge_url(smtp_server, time_machine, settings):
    settings.PUBLIC_BASE_URL = "https://ir.example.com"
    time_machine.move_to(T0, tick=False)
    alice = UserFactory(username="alice", email="alice@tensafe.test")
    ic = UserFactory(username="ian-ic", rank="engineering_manager", groups=["incident_commander"])
    p3 = declare(actor=ic, severity="P3", services=[Service.objects.get(slug="api-gateway")])
    (page_id,), _ = pages_build(
        p3,
        deadline=None,
        rule_key="manual:t",
        reason="Paged by ian-ic",
        people=[("", alice)],
        at=T0,
    )

    assert outbox_deliver(PAGE, page_id) == "sent"

    (received,) = smtp_server.received
    assert received.recipients == ["alice@tensafe.test"]
    text, html = parts(received.message).values()
    ack = next(
        line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Acknowledge")
    )
    assert ack.startswith("https://ir.example.com/ack/")
    assert f'<a href="{ack}"' in html


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("550 5.1.1 No such user here", "failed"),
        ("451 4.3.0 Try again later", "pending"),
    ],
)
def test_a_refused_recipient_is_final_and_a_busy_server_is_retried(smtp_server, reply, outcome):
    subscriber = confirmed("gone@example.com")
    smtp_server.refuse("gone@example.com", reply)
    update = post(incident("P2", [ServiceFactory(slug="api", name="API")]), "Investigating.")
    delivery = SubscriberDelivery.objects.get(update=update, subscriber=subscriber)

    assert outbox_deliver(subscribers.KIND, delivery.pk) == outcome

    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert reply.split(" ")[0] in delivery.last_error
    assert delivery.status == outcome
    assert smtp_server.received == []


def test_without_a_mail_server_the_log_shows_each_email_once_as_text():
    """`make run`'s default backend prints mail to the worker's log: the text part only, since
    the HTML part repeats it (a page would take three times the lines)."""
    import io

    from django.core.mail import get_connection

    from incidents.notify import email_compose

    stream = io.StringIO()
    backend = get_connection("tensafe_ir.mail.ConsoleEmailBackend", stream=stream)
    message = email_compose(
        subject="[P1] INC-7 Checkout down",
        text="Why you are paged: P1 declared",
        to="a@b.c",
        headers={},
    )
    assert backend.send_messages([message]) == 1
    printed = stream.getvalue()
    assert "Why you are paged: P1 declared" in printed
    assert "text/html" not in printed and "<!DOCTYPE" not in printed
    assert len(message.alternatives) == 1, "the message itself keeps its HTML part"
