"""Rules of the procedures that decide whether something may happen. Pure functions of the
incident, the people and the policy in force; services call them before changing anything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.text import slugify

from .errors import RuleViolation
from .policy import RESOLVE_ACT_KEY
from .states import Checklist, Rank, Role, Status

if TYPE_CHECKING:
    from .models import Incident, RoleAssignment, SeverityPolicy, User

CHANNEL_MAX = 80  # Slack's limit on a channel name (without the '#')


def channel_name_for(detected_at: datetime, title: str, attempt: int = 1) -> str:
    """`#inc-YYYYMMDD-brief-desc` (procedures 6.1): lowercase letters, digits and hyphens,
    at most 80 characters after the '#'. `attempt` > 1 adds a suffix to stay unique."""
    if timezone.is_aware(detected_at):
        # The date of the instant in UTC, whatever offset the caller gave it in.
        detected_at = detected_at.astimezone(UTC)
    prefix = f"inc-{detected_at:%Y%m%d}-"
    suffix = f"-{attempt}" if attempt > 1 else ""
    desc = slugify(title).replace("_", "-") or "incident"
    desc = desc[: CHANNEL_MAX - len(prefix) - len(suffix)]
    if "-" in desc and len(slugify(title)) > len(desc):
        desc = desc.rsplit("-", 1)[0]  # cut at a word boundary, not mid-word
    return f"#{prefix}{desc.strip('-')}{suffix}"


SEVERITY_DOWNGRADE_RULE = "a lower severity needs a reason"


def bridge_or_none(incident: Incident) -> str:
    """The bridge link where messages name it (6.1), or why there is none."""
    return incident.bridge_url or (
        f"none (6.1: {incident.severity} has none unless the IC asks for one)"
    )


def severity_is_downgrade(old: str, new: str) -> bool:
    """P1 is the most severe; moving towards P4 lowers the response the procedures demand."""
    return new > old


def check_severity_reason(old: str, new: str, reason: str) -> None:
    """A downgrade cancels escalations and stretches every deadline, so it says why."""
    if severity_is_downgrade(old, new) and not (reason or "").strip():
        raise RuleViolation(
            f"reason is required to lower the severity from {old} to {new}: a lower severity "
            "cancels escalations and relaxes the communication deadlines.",
            rule=SEVERITY_DOWNGRADE_RULE,
            field="reason",
        )


def _rank_label(rank: str) -> str:
    return Rank(rank).label if rank in Rank.values else rank


def check_role_rules(
    incident: Incident,
    role: str,
    user: User,
    active: list[RoleAssignment],
    policy: SeverityPolicy,
) -> None:
    """Raise RuleViolation quoting the procedures when `user` may not hold `role`."""
    if not user.is_active:
        raise RuleViolation(
            f"{user.username} is not an active user.", rule="active_user", field="username"
        )
    sev = incident.severity
    rank_rules = {
        Role.INCIDENT_COMMANDER: ("3.1", policy.ic_allowed_ranks, policy.ic_selection),
        Role.COMMS_LEAD: ("3.3", policy.comms_lead_allowed_ranks, policy.comms_lead_selection),
    }
    if role in rank_rules:
        section, allowed, selection = rank_rules[role]
        if allowed and user.rank not in allowed:
            label = Role(role).label
            raise RuleViolation(
                f"{sev} {label}: {selection} (procedures {section}); "
                f"{user.username} is {_rank_label(user.rank)}.",
                rule=f"{sev} {label}: {selection}",
                field="username",
            )
    holders = {a.role: a.user_id for a in active if a.role != Role.SME}
    scribe_rule = "Scribe: not the IC or Technical Lead"
    if role == Role.SCRIBE:
        for other in (Role.INCIDENT_COMMANDER, Role.TECH_LEAD):
            if holders.get(other) == user.pk:
                raise RuleViolation(
                    f"The Scribe is not the IC or Technical Lead (procedures 3.4); "
                    f"{user.username} is the {other.label}.",
                    rule=scribe_rule,
                    field="username",
                )
    if role in (Role.INCIDENT_COMMANDER, Role.TECH_LEAD) and holders.get(Role.SCRIBE) == user.pk:
        raise RuleViolation(
            f"The Scribe is not the IC or Technical Lead (procedures 3.4); "
            f"{user.username} is the Scribe.",
            rule=scribe_rule,
            field="username",
        )


def role_warnings(
    incident: Incident, active: list[RoleAssignment], policy: SeverityPolicy
) -> list[str]:
    """Rules that current holders no longer meet (after a severity change): shown, not enforced,
    so a severity change is never blocked in the middle of an outage."""
    warnings = []
    for assignment in active:
        if assignment.role not in (Role.INCIDENT_COMMANDER, Role.COMMS_LEAD):
            continue
        try:
            check_role_rules(incident, assignment.role, assignment.user, [], policy)
        except RuleViolation as violation:
            warnings.append(violation.detail)
    return warnings


def resolution_blockers(incident: Incident, at: datetime | None = None) -> list[str]:
    """What stands between the incident and Resolved (procedures 7.4). Empty: it may resolve."""
    from .selectors import policy_settings

    at = at or timezone.now()
    blockers = []
    if incident.status != Status.MONITORING:
        blockers.append("the incident is not in Monitoring")
    unticked = [
        item.text
        for item in incident.checklist.all()
        if item.checklist == Checklist.RESOLUTION and item.key != RESOLVE_ACT_KEY and not item.done
    ]
    blockers += [f"resolution criterion not ticked: {text}" for text in unticked]
    window = policy_settings().stability_window_minutes
    if incident.mitigated_at is not None:
        elapsed = (at - incident.mitigated_at).total_seconds() / 60
        if elapsed < window:
            blockers.append(
                f"in Monitoring for {int(elapsed)} of the {window} minutes the stability "
                "window requires"
            )
    if not any(
        a.role == Role.INCIDENT_COMMANDER and a.relieved_at is None for a in incident.roles.all()
    ):
        blockers.append("no Incident Commander assigned (the IC declares resolved)")
    return blockers
