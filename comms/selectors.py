"""Reads of the communications app. Incidents are reached only through
`incidents.selectors.incident_get_for_user` / `incident_list_for_user`; everything here takes
an incident the caller was allowed to see."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from incidents.models import Incident, User

from .models import ChatIdentity, CommsObligation, Delivery, Update


def update_list_for_incident(incident: Incident) -> QuerySet[Update]:
    """The incident's updates, oldest first, with what the API shows beside them (a fixed
    number of queries)."""
    return (
        Update.objects.filter(incident=incident)
        .select_related("posted_by")
        .prefetch_related(
            Prefetch("deliveries", queryset=Delivery.objects.only("id", "update_id", "status"))
        )
        .order_by("posted_at", "id")
    )


def _seconds(later, earlier) -> int | None:
    if later is None or earlier is None:
        return None
    return int((later - earlier).total_seconds())


def incident_conformance(incident: Incident) -> dict:
    """How the incident's communications kept to the procedures' deadlines (2.1, 6.3).

    Returns::

        {
          "incident": 42,                      # incident id
          "severity": "P1",                    # the severity in force now
          "obligations": [                     # oldest deadline first; cancelled ones
            {                                  # (no longer applying) are left out
              "channel": "status_page",        # status_page | internal | customer_email |
                                               # customer_first (first customer
                                               # communication: status page or email)
              "sequence": 1,                   # 1, 2, ... per channel
              "kind": "first",                 # first (from detection) | cadence (from the
                                               # last update) | resolved (at resolution)
              "target_at": datetime | None,    # the deadline; None: expected, no deadline
              "actual_at": datetime | None,    # when the update that covered it was posted
              "update": 7 | None,              # that update's id
              "status": "met",                 # pending | met | missed
              "late_seconds": int | None,      # actual - target when missed and posted
            },
            ...
          ],
          "summary": {"total": 5, "met": 3, "missed": 1, "pending": 1,
                      "met_ratio": 0.75},      # met / (met + missed); None if neither
        }

    Times are aware datetimes (UTC). Reads only; safe to call for any incident the caller
    may see (PIR timelines, metrics)."""
    rows = list(
        CommsObligation.objects.filter(incident=incident)
        .exclude(status=CommsObligation.Status.CANCELLED)
        .order_by("channel", "sequence")
    )
    rows.sort(key=lambda r: (r.due_at is None, r.due_at or r.counted_from, r.channel, r.sequence))
    obligations = [
        {
            "channel": r.channel,
            "sequence": r.sequence,
            "kind": r.kind,
            "target_at": r.due_at,
            "actual_at": r.met_at,
            "update": r.met_by_update_id,
            "status": r.status,
            "late_seconds": _seconds(r.met_at, r.due_at)
            if r.status == CommsObligation.Status.MISSED
            else None,
        }
        for r in rows
    ]
    counts = {s: sum(1 for o in obligations if o["status"] == s) for s in ("met", "missed")}
    pending = sum(1 for o in obligations if o["status"] == "pending")
    decided = counts["met"] + counts["missed"]
    return {
        "incident": incident.pk,
        "severity": incident.severity,
        "obligations": obligations,
        "summary": {
            "total": len(obligations),
            "met": counts["met"],
            "missed": counts["missed"],
            "pending": pending,
            "met_ratio": round(counts["met"] / decided, 4) if decided else None,
        },
    }


def obligations_open(incident: Incident) -> list[CommsObligation]:
    """The incident's pending obligations, soonest first (chat `/incident status`)."""
    return list(
        CommsObligation.objects.filter(
            incident=incident, status=CommsObligation.Status.PENDING, due_at__isnull=False
        ).order_by("due_at")
    )


def chat_identity_for_slack_user(team_id: str, user_id: str) -> ChatIdentity | None:
    """The link of a Slack user (workspace and user id), whoever it names; None if unlinked."""
    if not team_id or not user_id:
        return None
    return (
        ChatIdentity.objects.filter(slack_team_id=team_id, slack_user_id=user_id)
        .select_related("user")
        .first()
    )


def chat_user(team_id: str, user_id: str) -> User | None:
    """The TenSafe IR user a Slack user acts as: only the active person who linked this
    workspace's user id. Slack's user name is the Slack user's own choice and names nobody."""
    identity = chat_identity_for_slack_user(team_id, user_id)
    if identity is None or not identity.user.is_active:
        return None
    return identity.user


def chat_identity_list_for_user(user: User) -> QuerySet[ChatIdentity]:
    """The Slack users linked to `user` (their account page)."""
    return ChatIdentity.objects.filter(user=user).order_by("slack_team_id", "slack_user_id")
