"""What is withheld from whom, decided in one place.

**Restricted incidents in outbound messages.** Every message the platform sends about an
incident (pages, comms deliveries, chat posts, status subscribers, outgoing webhooks, review
digests) is composed in full by its sender and then passed through `incident_message` with
its recipient. When the incident is restricted (`selectors.incident_is_restricted`) and the
recipient cannot open it, the message is replaced by the redacted form: no title,
description, services, severity, reason or text, only "Restricted security incident INC-n:
open the link <url>". The recipient is

- a user: decided with `selectors.incident_visible_to`, the rule every page and API uses;
- anything else (`recipient=None`): a Slack channel, a customer's or subscriber's address, a
  JSON webhook, including a person's own Slack or webhook contact method, whose readers we
  cannot know: always redacted, unless the sender says the target is `trusted` (an outgoing
  webhook subscription with `allow_restricted`, granted by the security lead).

**Public words.** A restricted incident is told to the public (status page, subscribers,
customer email) only through its public title and text, once the security group approved
them: `incident_public_ready`, `incident_public_title`, `incident_public_services`; a sender
that composed its message from those alone passes `public=True`.

Paging a person does not grant access to a restricted incident (docs/architecture.md,
"Restricted incidents in messages"): the page carries the link, and the security group grants
access.

**Contact targets.** Email addresses and webhook URLs of contact methods are credentials
(a Slack incoming-webhook URL posts to the channel). Anyone but their owner and SRE leads sees
them through `contact_target_for`: `a***@example.com`, `https://hooks.example.com/…`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from .permissions import may_see_contact_target
from .selectors import incident_is_restricted, incident_visible_to


def incident_url(incident) -> str:
    """The incident's link in every message (the redacted form included): its page in the
    dashboard, which every responder can open (the admin's page is for SRE leads only)."""
    return settings.PUBLIC_BASE_URL + reverse("dashboard:incident", args=[incident.pk])


@dataclass(frozen=True)
class Message:
    """An outbound message: subject and text, and for JSON receivers the payload."""

    subject: str
    body: str
    payload: dict | None = None


def restricted_text(incident) -> str:
    link = incident_url(incident)
    return f"Restricted security incident {incident.reference}: open the link {link}"


def message_withheld(
    incident, recipient=None, *, trusted: bool = False, public: bool = False
) -> bool:
    """Whether a message about `incident` to `recipient` (a user; None for anything that is
    not one) must be the redacted form. `public`: the sender composed it for the public from
    the incident's public words only (below), which may go out once they are approved."""
    if trusted or not incident_is_restricted(incident):
        return False
    if public:
        return not incident_public_ready(incident)
    return recipient is None or not incident_visible_to(recipient, incident)


def incident_message(
    incident, message: Message, *, recipient=None, trusted=False, public=False
) -> Message:
    """`message` as its sender composed it when `recipient` may read it (or, `public`, when
    the incident's public words are approved); otherwise the redacted form, which keeps only
    the payload's event name, id, time and drill flag."""
    if not message_withheld(incident, recipient, trusted=trusted, public=public):
        return message
    text = restricted_text(incident)
    subject = f"Restricted security incident {incident.reference}"
    if incident.drill:
        subject = f"[DRILL] {subject}"
    payload = None
    if message.payload is not None:
        kept = ("id", "event", "occurred_at", "drill")
        payload = {k: message.payload[k] for k in kept if k in message.payload}
        payload.update(
            restricted=True,
            text=text,
            incident={
                "id": incident.pk,
                "reference": incident.reference,
                "security": True,
                "url": incident_url(incident),
            },
        )
    return Message(subject=subject, body=text, payload=payload)


# --- what the public may be told of a restricted incident ---------------------------------------
# `incident_public_ready` as a query (the status page selects with it).
PUBLIC_READY = Q(security=False) | Q(public_approved_at__isnull=False)


def incident_public_ready(incident) -> bool:
    """Whether the status page, its subscribers and customer email may speak of `incident`:
    an ordinary incident always; a restricted one once the security group has approved its
    public title and text (`services.security.incident_public_text_approve`)."""
    return not incident_is_restricted(incident) or incident.public_approved_at is not None


def incident_public_title(incident) -> str:
    """The title the public reads: an ordinary incident's own, a restricted incident's
    approved public title, never its internal one."""
    return incident.public_title if incident_is_restricted(incident) else incident.title


def incident_public_services(incident, services) -> list:
    """The affected services the public is told of: none of a restricted incident (which
    systems a breach touches is one of its details)."""
    return [] if incident_is_restricted(incident) else list(services)


# --- contact targets -----------------------------------------------------------------------------
def contact_target_masked(target: str) -> str:
    """An email address as `a***@example.com`, a URL as its scheme and host (`https://h/…`),
    anything else as `***`."""
    target = (target or "").strip()
    if "://" in target:
        try:
            parts = urlsplit(target)
            host = parts.hostname
        except ValueError:
            host = None
        return f"{parts.scheme}://{host}/…" if host else "***"
    local, at, domain = target.rpartition("@")
    if at and local and domain:
        return f"{local[0]}***@{domain}"
    return "***"


def contact_target_for(viewer, owner_id: int | None, target: str) -> str:
    """The target as `viewer` may see it: in full for its owner and SRE leads (superusers
    included), masked for everyone else."""
    if may_see_contact_target(viewer, owner_id):
        return target
    return contact_target_masked(target)


def text_without_target(text: str, target: str) -> str:
    """`text` (an error message, a timeline line) with `target` masked wherever it is quoted."""
    if not target or not text:
        return text
    masked = contact_target_masked(target)
    return text.replace(repr(target)[1:-1], masked).replace(target, masked)
