"""Email subscribers of the public status page (issue "Communications", part 6).

Double opt-in: subscribing writes a pending row and mails (through the workers) a signed,
expiring confirmation link; only confirmed subscribers are told anything. The answer to a
subscription request is the same whatever the address's state; the mail says what applies.
Every email carries a signed unsubscribe link (and a `List-Unsubscribe` header). Links open a
page with one button and the POST does the change, so mail scanners that prefetch links change
nothing.

Each public status-page update (the `status_page_posted` timeline event of a public incident)
writes one `SubscriberDelivery` per confirmed subscriber in the posting transaction, keyed by
(update, subscriber); they are rows of the core's outbox (incidents/outbox.py, kind
"status-subscriber"), which claims, sends, retries and re-hands them; this module only says how
one is composed and sent (`SubscriberEmailSender`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from incidents.notify import Outcome, email_compose, email_send
from incidents.outbox import RetryPolicy, outbox_enqueue, register_outbox_kind
from incidents.ratelimit import client_address, slot_take, wait_text
from incidents.redaction import (
    Message,
    incident_message,
    incident_public_ready,
    incident_public_services,
    incident_public_title,
)

from .models import Subscriber, SubscriberDelivery, Update
from .status.selectors import public_updates

log = logging.getLogger(__name__)

CONFIRM_VALID_HOURS = 48
CONFIRM_SALT = "tensafe.status.confirm"
UNSUBSCRIBE_SALT = "tensafe.status.unsubscribe"
KIND = "status-subscriber"
# 6 tries, 30 s apart at first and at most an hour; a send taking longer than 2 minutes is
# presumed dead, and a hand-off not taken within 15 s lost.
POLICY = RetryPolicy(
    attempts=6, base_seconds=30, cap_seconds=3600, lease_seconds=120, requeue_grace_seconds=15
)


class SubscriptionError(Exception):
    """Wrong input (bad address, tampered or expired link): nothing was changed."""


# --- tokens -----------------------------------------------------------------------------------
def _token(subscriber: Subscriber, salt: str) -> str:
    return signing.dumps({"s": subscriber.pk, "e": subscriber.email}, salt=salt, compress=True)


def _token_read(token: str, salt: str, max_age: int | None) -> Subscriber:
    try:
        value = signing.loads(token, salt=salt, max_age=max_age)
        subscriber = Subscriber.objects.get(pk=int(value["s"]), email=value["e"])
    except signing.SignatureExpired:
        raise SubscriptionError(
            f"This link has expired (links are valid for {CONFIRM_VALID_HOURS} hours). "
            "Subscribe again to get a new one."
        ) from None
    except (signing.BadSignature, Subscriber.DoesNotExist, KeyError, TypeError, ValueError):
        raise SubscriptionError("This link is not valid.") from None
    return subscriber


def confirm_url(subscriber: Subscriber) -> str:
    token = _token(subscriber, CONFIRM_SALT)
    return settings.PUBLIC_BASE_URL + reverse("status-subscribe-confirm", args=[token])


def unsubscribe_url(subscriber: Subscriber) -> str:
    token = _token(subscriber, UNSUBSCRIBE_SALT)
    return settings.PUBLIC_BASE_URL + reverse("status-unsubscribe", args=[token])


def _status_url() -> str:
    return settings.PUBLIC_BASE_URL + reverse("status-page")


# --- services ---------------------------------------------------------------------------------
def _normalise(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise SubscriptionError("Enter a valid email address.") from None
    if len(email) > 254:
        raise SubscriptionError("Enter a valid email address.")
    return email


def subscriber_subscribe(*, email: str) -> Subscriber:
    """Ask for a subscription. What the asker sees never depends on the address's state (so it
    does not tell who subscribes): the address becomes or stays pending, or stays confirmed,
    and after commit one notice is handed to the workers, which write to the mailbox what
    applies to it (`subscriber_notice_send`). The rate limits per client address and per email
    address (subscribe_view) bound how often a mailbox hears from us."""
    email = _normalise(email)
    now = timezone.now()
    try:
        with transaction.atomic():
            subscriber = Subscriber.objects.select_for_update().filter(email=email).first()
            if subscriber is None:
                subscriber = Subscriber.objects.create(email=email, created_at=now)
            elif subscriber.status == Subscriber.Status.UNSUBSCRIBED:
                subscriber.status = Subscriber.Status.PENDING
                subscriber.created_at, subscriber.unsubscribed_at = now, None
                subscriber.save(update_fields=["status", "created_at", "unsubscribed_at"])
    except IntegrityError:  # a concurrent request created the same address first
        subscriber = Subscriber.objects.get(email=email)
    transaction.on_commit(lambda: subscriber_notice_enqueue(subscriber.pk))
    return subscriber


def subscriber_notice_enqueue(subscriber_id: int) -> None:
    """Hand the notice to the workers (after commit); with the broker down the asker simply
    asks again, as with any lost email."""
    from .status.tasks import send_subscriber_notice_task

    try:
        send_subscriber_notice_task.delay(subscriber_id)
    except Exception:
        log.warning("could not enqueue the notice to subscriber %s", subscriber_id, exc_info=True)


def subscriber_notice_send(subscriber_id: int) -> str:
    """The mail that answers a subscription request, from the state the address is in now:
    pending, a link to confirm; confirmed, "already subscribed" with a link to unsubscribe;
    unsubscribed meanwhile (or gone), nothing. Returns what was sent."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or subscriber.status == Subscriber.Status.UNSUBSCRIBED:
        return "nothing"
    context = {"status_url": _status_url(), "valid_hours": CONFIRM_VALID_HOURS}
    if subscriber.status == Subscriber.Status.CONFIRMED:
        kind, subject = "already", "You are subscribed to TenSafe status"
        context["unsubscribe_url"] = unsubscribe_url(subscriber)
    else:
        kind, subject = "confirm", "Confirm your TenSafe status subscription"
        context["confirm_url"] = confirm_url(subscriber)
    body = render_to_string(f"comms/subscribe_email_{kind}.txt", context)
    try:
        email_compose(
            subject=subject,
            text=body,
            to=subscriber.email,
            headers={},
            unsubscribe_url=context.get("unsubscribe_url", ""),
        ).send()
    except Exception:  # the person can ask again once mail works; nothing to roll back
        log.warning("could not send the notice to subscriber %s", subscriber_id, exc_info=True)
        return "failed"
    return kind


def subscriber_from_confirm_token(token: str) -> Subscriber:
    return _token_read(token, CONFIRM_SALT, CONFIRM_VALID_HOURS * 3600)


def subscriber_from_unsubscribe_token(token: str) -> Subscriber:
    # No expiry: an unsubscribe link in an old email must keep working.
    return _token_read(token, UNSUBSCRIBE_SALT, None)


def subscriber_confirm(*, token: str) -> Subscriber:
    """Confirm from the emailed link: pending → confirmed (conditional UPDATE, so a double
    click confirms once)."""
    subscriber = subscriber_from_confirm_token(token)
    changed = Subscriber.objects.filter(pk=subscriber.pk, status=Subscriber.Status.PENDING).update(
        status=Subscriber.Status.CONFIRMED, confirmed_at=timezone.now()
    )
    subscriber.refresh_from_db()
    if not changed and subscriber.status != Subscriber.Status.CONFIRMED:
        raise SubscriptionError("This subscription was cancelled. Subscribe again to restart it.")
    return subscriber


def subscriber_unsubscribe(*, token: str) -> Subscriber:
    """Unsubscribe from the emailed link; deliveries not yet sent are cancelled with it."""
    subscriber = subscriber_from_unsubscribe_token(token)
    subscribers_unsubscribe([subscriber.pk])
    subscriber.refresh_from_db()
    return subscriber


@transaction.atomic
def subscribers_unsubscribe(subscriber_ids) -> int:
    """Unsubscribe (from a link or the admin) and cancel their unsent deliveries. Returns how
    many were subscribed."""
    count = (
        Subscriber.objects.filter(pk__in=subscriber_ids)
        .exclude(status=Subscriber.Status.UNSUBSCRIBED)
        .update(status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at=timezone.now())
    )
    SubscriberDelivery.objects.filter(
        subscriber_id__in=subscriber_ids, status=SubscriberDelivery.Status.PENDING
    ).update(status=SubscriberDelivery.Status.CANCELLED)
    return count


# --- notifying subscribers of public updates --------------------------------------------------
def _posted_update(incident, event) -> Update | None:
    """The status-page update an event announces: the id in its data, else the incident's
    newest status-page update."""
    updates = public_updates().filter(incident=incident)
    update_id = (event.data or {}).get("update") or (event.data or {}).get("update_id")
    if update_id is not None:
        return updates.filter(pk=update_id).first()
    return updates.order_by("-posted_at", "-id").first()


def deliveries_create(update: Update, *, now: datetime) -> list[int]:
    """One delivery per confirmed subscriber (inside the caller's transaction); keys that
    exist are skipped, so a re-run never mails twice. Returns the new rows' ids."""
    subscribers = list(
        Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED).values_list("pk", flat=True)
    )
    keys = {pk: f"u{update.pk}:s{pk}" for pk in subscribers}
    taken = set(
        SubscriberDelivery.objects.filter(update=update).values_list("subscriber_id", flat=True)
    )
    SubscriberDelivery.objects.bulk_create(
        [
            SubscriberDelivery(
                update=update,
                subscriber_id=pk,
                idempotency_key=key,
                next_attempt_at=now,
                created_at=now,
            )
            for pk, key in keys.items()
            if pk not in taken
        ],
        batch_size=500,
    )
    return list(
        SubscriberDelivery.objects.filter(update=update, status=SubscriberDelivery.Status.PENDING)
        .exclude(subscriber_id__in=taken)
        .values_list("pk", flat=True)
    )


def subscribers_on_status_page_posted(incident, event) -> None:
    """Reaction to a status page post (comms/apps.py, incidents.reactions): runs inside the
    posting transaction."""
    if incident.drill or not incident_public_ready(incident):
        return
    update = _posted_update(incident, event)
    if update is None:
        return
    ids = deliveries_create(update, now=timezone.now())
    if ids:
        transaction.on_commit(lambda: outbox_enqueue(KIND, ids))


@dataclass(frozen=True)
class _Email:
    subject: str
    body: str
    headers: dict
    unsubscribe_url: str


def _compose(delivery: SubscriberDelivery) -> _Email:
    update, subscriber = delivery.update, delivery.subscriber
    incident = update.incident
    label = update.get_template_display() if update.template else "Update"
    unsubscribe = unsubscribe_url(subscriber)
    title = incident_public_title(incident)
    body = render_to_string(
        "comms/subscribe_email_update.txt",
        {
            "title": title,
            "label": label,
            "posted_at": update.posted_at,
            "components": ", ".join(
                s.name for s in incident_public_services(incident, incident.services.all())
            ),
            "text": update.text,
            "status_url": _status_url(),
            "unsubscribe_url": unsubscribe,
        },
    )
    # A subscriber is an outside address: the public words only (a restricted incident's
    # approved public title; its update text was composed from its public text). A delivery
    # whose incident lost them meanwhile is cancelled before this (`cancelled`).
    message = incident_message(
        incident, Message(f"[TenSafe status] {title}: {label}"[:200], body), public=True
    )
    return _Email(
        subject=message.subject,
        body=message.body,
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-TenSafe-Idempotency-Key": delivery.idempotency_key,
        },
        unsubscribe_url=unsubscribe,
    )


class SubscriberEmailSender:
    """How the outbox sends a status-subscriber row: one email with the unsubscribe headers
    and the idempotency key, unless the subscriber has left meanwhile."""

    def cancelled(self, delivery: SubscriberDelivery) -> str | None:
        if delivery.subscriber.status != Subscriber.Status.CONFIRMED:
            return "unsubscribed before sending"
        if not incident_public_ready(delivery.update.incident):
            return "the incident became restricted and has no approved public words"
        return None

    def send(self, delivery: SubscriberDelivery) -> Outcome:
        email = _compose(delivery)
        return email_send(
            email_compose(
                subject=email.subject,
                text=email.body,
                to=delivery.subscriber.email,
                headers=email.headers,
                unsubscribe_url=email.unsubscribe_url,
            )
        )


def register() -> None:
    """Called from CommsConfig.ready(): subscriber emails are the outbox's "status-subscriber"
    rows (the reaction that writes them is registered beside this call)."""
    register_outbox_kind(
        KIND,
        model=SubscriberDelivery,
        sender=SubscriberEmailSender(),
        policy=POLICY,
        select_related=("update__incident", "subscriber"),
        incident_path="update__incident",
    )


# --- views ------------------------------------------------------------------------------------
# Subscribing is exempt from CSRF: the form sits on the public, cached status page (a token
# there would be shared by everyone), and a forged request can only make us send a
# confirmation email to the address given — the double opt-in is the protection.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def subscribe_view(request):
    """Every POST counts against the client address's limit, and a valid address's against its
    own (TENSAFE_RATE_SUBSCRIBE_*); under them the answer is the same whatever the state."""
    if request.method == "GET":
        return render(request, "comms/subscribe.html", {})
    email = request.POST.get("email", "")
    refused = _subscribe_refused(
        request, "subscribe-address", client_address(request), "TENSAFE_RATE_SUBSCRIBE_ADDRESS"
    )
    if refused is not None:
        return refused
    try:
        normalised = _normalise(email)
        refused = _subscribe_refused(
            request, "subscribe-email", normalised, "TENSAFE_RATE_SUBSCRIBE_EMAIL"
        )
        if refused is not None:
            return refused
        subscriber_subscribe(email=normalised)
    except SubscriptionError as error:
        return render(
            request, "comms/subscribe.html", {"error": str(error), "email": email}, status=400
        )
    message = (
        f"We sent a message to {normalised}: follow its link to confirm your subscription "
        "(if the address is already subscribed, the message says so)."
    )
    return render(request, "comms/subscribe.html", {"message": message})


def _subscribe_refused(request, scope: str, who: str, setting: str):
    """The 429 page when this request is over the limit `setting` names, else None."""
    slot = slot_take(scope, who, getattr(settings, setting))
    if slot is None or slot.allowed:
        return None
    error = (
        "Too many subscription requests from this address or for this email address; "
        f"try again in {wait_text(slot.retry_after)}."
    )
    response = render(request, "comms/subscribe.html", {"error": error}, status=429)
    response["Retry-After"] = str(slot.retry_after)
    return response


def _link_page(request, *, heading, error="", message="", question="", email="", button=""):
    context = {
        "heading": heading,
        "error": error,
        "message": message,
        "question": question,
        "email": email,
        "button": button,
        "csrf": heading == "Confirm subscription",
    }
    return render(request, "comms/subscribe_confirm.html", context, status=400 if error else 200)


@require_http_methods(["GET", "POST"])
def confirm_view(request, token):
    """GET shows one button; the POST confirms (mail scanners prefetch GETs)."""
    heading = "Confirm subscription"
    try:
        if request.method == "POST":
            subscriber = subscriber_confirm(token=token)
            return _link_page(
                request,
                heading=heading,
                message=f"{subscriber.email} is subscribed to TenSafe status updates.",
            )
        subscriber = subscriber_from_confirm_token(token)
    except SubscriptionError as error:
        return _link_page(request, heading=heading, error=str(error))
    if subscriber.status == Subscriber.Status.CONFIRMED:
        return _link_page(request, heading=heading, message="This subscription is confirmed.")
    return _link_page(
        request,
        heading=heading,
        question="Send TenSafe status updates to:",
        email=subscriber.email,
        button="Confirm subscription",
    )


# Exempt from CSRF: mail clients POST here for one-click unsubscribe (RFC 8058) without any
# cookie; the signed token in the URL is what authorises the change.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request, token):
    """GET shows one button; the POST unsubscribes (mail scanners prefetch GETs)."""
    heading = "Unsubscribe"
    try:
        if request.method == "POST":
            subscriber = subscriber_unsubscribe(token=token)
            return _link_page(
                request,
                heading=heading,
                message=f"{subscriber.email} will get no more TenSafe status emails.",
            )
        subscriber = subscriber_from_unsubscribe_token(token)
    except SubscriptionError as error:
        return _link_page(request, heading=heading, error=str(error))
    if subscriber.status == Subscriber.Status.UNSUBSCRIBED:
        return _link_page(request, heading=heading, message="You are not subscribed.")
    return _link_page(
        request,
        heading=heading,
        question="Stop sending TenSafe status updates to:",
        email=subscriber.email,
        button="Unsubscribe",
    )
