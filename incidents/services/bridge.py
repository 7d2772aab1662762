"""The incident's bridge call (procedures 6.1): "P1: Always establish video bridge", "P2: Voice
bridge recommended", none for P3/P4 unless the IC asks for one. Which severity sets one up is
its policy's `bridge` (required / recommended / none), changed by SRE leads; the room is the
policy's `bridge_base_url` plus the channel name."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..errors import TransitionRefused
from ..models import Incident
from ..permissions import require_can_request_bridge
from ..selectors import incident_get_for_user, incident_ic_id, policy_for, policy_settings
from ..states import TimelineKind
from .timeline import timeline_record

BRIDGE_KIND = {"required": "Video bridge", "recommended": "Voice bridge"}


def bridge_url_for(channel_name: str) -> str:
    base = policy_settings().bridge_base_url.rstrip("/")
    return f"{base}/{channel_name.lstrip('#')}"


def bridge_follow_severity(incident: Incident) -> str:
    """After a severity change (incident locked, new severity saved): open the bridge the new
    severity sets up, or close one it does not have (unless the IC asked for it). Returns what
    changed, for the severity change's timeline event ("" when nothing did)."""
    setting = policy_for(incident.severity).bridge
    if setting != "none" and not incident.bridge_url:
        incident.bridge_url = bridge_url_for(incident.channel_name)
        incident.save(update_fields=["bridge_url", "updated_at"])
        wording = "always" if setting == "required" else "recommended"
        return (
            f"{BRIDGE_KIND[setting]} opened (6.1: {wording} for {incident.severity}): "
            f"{incident.bridge_url}"
        )
    if setting == "none" and incident.bridge_url and incident.bridge_requested_at is None:
        incident.bridge_url = ""
        incident.save(update_fields=["bridge_url", "updated_at"])
        return f"Bridge closed (6.1: none for {incident.severity} unless the IC asks for one)"
    return ""


def incident_bridge_request(*, actor, incident_id, at: datetime | None = None) -> Incident:
    """The IC asks for a bridge the severity does not set up by itself (6.1). An incident that
    has one already keeps it and nothing changes."""
    with transaction.atomic():
        incident = incident_get_for_user(actor, incident_id, for_update=True)
        require_can_request_bridge(actor, incident_ic_id(incident))
        if not incident.is_open:
            raise TransitionRefused(
                f"{incident.reference} is resolved: a bridge is for an open incident; "
                "reopen it first.",
                allowed=[],
            )
        if incident.bridge_url:
            return incident
        now = at or timezone.now()
        incident.bridge_url = bridge_url_for(incident.channel_name)
        incident.bridge_requested_at = now
        incident.save(update_fields=["bridge_url", "bridge_requested_at", "updated_at"])
        who = actor.username if actor is not None else "the platform"
        timeline_record(
            incident,
            TimelineKind.BRIDGE_OPENED,
            f"Bridge opened at {who}'s request (6.1): {incident.bridge_url}",
            actor=actor,
            occurred_at=now,
            data={"bridge_url": incident.bridge_url, "requested": True},
        )
    return incident
