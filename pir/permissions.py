"""Who may do what with post-incident reviews: the one module that decides it
(docs/architecture.md, "Conventions"). Which admin permissions SRE leads hold on reviews is
granted in pir/groups.py."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from incidents.models import Incident
from incidents.permissions import is_sre_lead
from incidents.selectors import incident_ic_id

from .models import ActionItem, PostIncidentReview


def may_own_review(actor, incident: Incident, pir: PostIncidentReview | None = None) -> bool:
    """The incident's IC (and the review's author), or an SRE lead (None: the system)."""
    if actor is None or is_sre_lead(actor):
        return True
    ids = {incident_ic_id(incident)}
    if pir is not None:
        ids.add(pir.author_id)
    return actor.pk in ids


def require_may_create_review(actor, incident: Incident) -> None:
    if not may_own_review(actor, incident):
        raise PermissionDenied(
            "Only the incident's Incident Commander (or an SRE lead) may create its "
            "post-incident review."
        )


def require_may_publish_review(actor, incident: Incident, pir: PostIncidentReview) -> None:
    if not may_own_review(actor, incident, pir):
        raise PermissionDenied(
            "Only the review's author, the incident's IC or an SRE lead may publish it."
        )


def require_may_manage_action_items(
    actor, incident: Incident, pir: PostIncidentReview, what: str
) -> None:
    """Adding and removing action items: they come out of the review (8.3, "Action Item
    Creation": identify improvements, assign owners), so whoever owns the review does it."""
    if not may_own_review(actor, incident, pir):
        raise PermissionDenied(
            f"Only the review's author, the incident's IC or an SRE lead may {what} action "
            "items (procedures 8.3: the review assigns them their owners)."
        )


def may_change_action_item(
    actor, incident: Incident, pir: PostIncidentReview, item: ActionItem
) -> bool:
    """Whoever owns the review, and the item's own owner (who reports its progress)."""
    return may_own_review(actor, incident, pir) or (
        actor is not None and item.owner_id is not None and item.owner_id == actor.pk
    )


def require_may_change_action_item(
    actor, incident: Incident, pir: PostIncidentReview, item: ActionItem
) -> None:
    if not may_change_action_item(actor, incident, pir, item):
        raise PermissionDenied(
            "Only the action item's owner, the review's author, the incident's IC or an SRE "
            "lead may change it."
        )
