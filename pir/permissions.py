"""Who may do what with post-incident reviews: the one module that decides it
(docs/architecture.md, "Conventions"). Which admin permissions SRE leads hold on reviews is
granted in pir/groups.py."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from incidents.models import Incident
from incidents.permissions import is_sre_lead
from incidents.selectors import incident_ic_id

from .models import PostIncidentReview


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
