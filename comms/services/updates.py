"""Posting a communication (procedures 6): a status page update, an internal status update
or a customer email, from the procedures' templates or the poster's own text."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from incidents.errors import RuleViolation
from incidents.models import Incident
from incidents.outbox import outbox_enqueue
from incidents.permissions import require_writer
from incidents.selectors import incident_get_for_user, policy_for
from incidents.services.timeline import timeline_record
from incidents.services.timers import deadlines_replan
from incidents.states import Status, TimelineKind

from ..models import CommsObligation, Update
from ..permissions import require_may_post_publicly
from ..render import PUBLIC_WORDS_RULE, require_public_words, update_draft
from .deliveries import KIND as DELIVERY_KIND
from .deliveries import deliveries_build
from .obligations import obligation_pending, obligations_meet

PUBLIC_CHANNELS = (Update.Channel.STATUS_PAGE, Update.Channel.CUSTOMER_EMAIL)
TIMELINE_KIND = {
    Update.Channel.STATUS_PAGE: TimelineKind.STATUS_PAGE_POSTED,
    Update.Channel.INTERNAL: TimelineKind.INTERNAL_UPDATE_POSTED,
    Update.Channel.CUSTOMER_EMAIL: TimelineKind.CUSTOMER_EMAIL_SENT,
}


def _check_channel_rules(actor, incident: Incident, channel: str) -> None:
    """Raise unless `actor` may post on `channel` for this incident now."""
    if channel not in PUBLIC_CHANNELS:
        return
    require_may_post_publicly(actor, incident, Update.Channel(channel).label.lower())
    require_public_words(incident)  # a security incident: its approved public words, first
    if channel != Update.Channel.CUSTOMER_EMAIL:
        return
    policy = policy_for(incident.severity)
    if policy.customer_email_mode == "none":
        raise RuleViolation(
            f"{incident.severity} incidents get no customer email (procedures 6.3: Customer "
            "Email N/A; 6.2: Customer Email (P1 Only)).",
            rule=f"{incident.severity} customer email: N/A",
            field="channel",
        )
    if policy.customer_email_mode == "end_of_incident" and incident.status != Status.RESOLVED:
        raise RuleViolation(
            f"{incident.severity} customers are emailed at the end of the incident (procedures "
            "6.3); resolve it first.",
            rule=f"{incident.severity} customer email: end of incident",
            field="channel",
        )


def _content(incident, channel, template, text, now) -> tuple[str, str]:
    """(subject, text): the template prefilled from the incident, unless `text` is given."""
    draft = update_draft(incident, channel, template, now=now)
    if text is None:
        return draft.subject, draft.text
    if incident.security and channel in PUBLIC_CHANNELS:
        raise RuleViolation(
            f"{incident.reference} is a security incident: its {Update.Channel(channel).label} "
            "posts are its approved public title and text in the procedures' template, not "
            "text of your own. Leave text out, or have the security group approve new public "
            "words.",
            rule=PUBLIC_WORDS_RULE,
            field="text",
        )
    text = text.strip()
    if not text:
        raise RuleViolation("text must not be empty.", rule="update text required", field="text")
    if channel == Update.Channel.STATUS_PAGE:
        return text.splitlines()[0][:300], text
    if channel == Update.Channel.INTERNAL:
        return "", text
    return draft.subject, text


def _timeline_text(update: Update, recipients: int) -> str:
    state = Status(update.template).label
    if update.channel == Update.Channel.STATUS_PAGE:
        return f"Status page updated ({state}): {update.subject}"
    if update.channel == Update.Channel.INTERNAL:
        teams = f" and {recipients} team channel(s)" if recipients else ""
        return f"Internal status update posted ({state}) to the timeline{teams}"
    return f"Customer email ({state}) to {recipients} contact(s): {update.subject}"


def update_post(
    *,
    actor,
    incident_id,
    channel: str,
    template: str | None = None,
    text: str | None = None,
    at: datetime | None = None,
) -> Update:
    """Post one communication.

    1. Lock the incident row (the cadence, deliveries and timeline move together).
    2. Check the rules: writers post; the status page and customer email are for the IC,
       the Communications Lead or an SRE lead, for a security incident only once the
       security group approved its public title and text, and customer email only where the
       policy sends it (P1; P2 at the end).
    3. Write the update (template prefilled from the incident unless `text` is given; a
       security incident's public posts are always its public words in the template), settle
       the obligations it meets, re-plan the deadlines so the cadence counts from this post.
    4. Write one delivery row per recipient and the timeline event; after commit, hand the
       deliveries to the workers.
    """
    if channel not in Update.Channel.values:
        raise RuleViolation(
            f"channel must be one of {', '.join(Update.Channel.values)}.",
            rule="channel",
            field="channel",
        )
    if template is not None and template not in Update.Template.values:
        raise RuleViolation(
            f"template must be one of {', '.join(Update.Template.values)}.",
            rule="template",
            field="template",
        )
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        if actor is not None:
            require_writer(actor)
        _check_channel_rules(actor, incident, channel)
        now = at or timezone.now()
        template = template or incident.status
        subject, body = _content(incident, channel, template, text, now)
        update = Update.objects.create(
            incident=incident,
            channel=channel,
            template=template,
            subject=subject,
            text=body,
            posted_by=actor,
            posted_at=now,
        )
        settled = obligations_meet(incident, update)
        deadlines_replan(incident, now=now)
        next_due = obligation_pending(incident, channel)
        if next_due is not None and next_due.kind != CommsObligation.Kind.RESOLVED:
            update.next_update_at = next_due.due_at
            update.save(update_fields=["next_update_at"])
        delivery_ids, recipients = deliveries_build(update, at=now)
        timeline_record(
            incident,
            TIMELINE_KIND[channel],
            _timeline_text(update, recipients),
            actor=actor,
            occurred_at=now,
            data={
                "update": update.pk,
                "channel": channel,
                "template": template,
                "recipients": recipients,
                "met": [
                    {"channel": o.channel, "sequence": o.sequence, "status": o.status}
                    for o in settled
                ],
                "next_update_at": update.next_update_at.isoformat()
                if update.next_update_at
                else None,
            },
        )
        transaction.on_commit(lambda: outbox_enqueue(DELIVERY_KIND, delivery_ids))
    return update
