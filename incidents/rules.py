"""Rules of the procedures that decide whether something may happen. Pure functions of the
incident, the people and the policy in force; services call them before changing anything."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.text import slugify

from .errors import RuleViolation
from .permissions import may_hold_incident_roles
from .policy import RESOLVE_ACT_KEY
from .states import Checklist, Rank, Role, Status, ranks_at_or_above

if TYPE_CHECKING:
    from .models import Incident, RoleAssignment, SeverityPolicy, User
    from .oncall import OnCallNow

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
    *,
    on_call: OnCallNow | None = None,
    on_call_overridden: bool = False,
) -> None:
    """Raise RuleViolation quoting the procedures when `user` may not hold `role`.

    Where the procedures say "On-call engineer" (3.1, 3.3: the policy's `*_on_call`), whoever
    is on call at the assignment (`on_call`, incidents.oncall.oncall_now) is admitted whatever
    their rank, and an SRE lead's override (`on_call_overridden`) admits someone who is not.
    Without `on_call` (role_warnings, later on) that part is not judged again: it held when
    the role was given, and a shift ending does not unseat an IC."""
    if not user.is_active:
        raise RuleViolation(
            f"{user.username} is not an active user.", rule="active_user", field="username"
        )
    if not may_hold_incident_roles(user):
        raise RuleViolation(
            f"{user.username} is in the viewer group: viewers read incidents and hold no role "
            "on them (procedures 3).",
            rule="viewers hold no roles",
            field="username",
        )
    sev = incident.severity
    rank_rules = {
        Role.INCIDENT_COMMANDER: (
            "3.1",
            policy.ic_allowed_ranks,
            policy.ic_on_call,
            policy.ic_selection,
        ),
        Role.COMMS_LEAD: (
            "3.3",
            policy.comms_lead_allowed_ranks,
            policy.comms_lead_on_call,
            policy.comms_lead_selection,
        ),
    }
    if role in rank_rules:
        section, allowed, needs_on_call, selection = rank_rules[role]
        label = Role(role).label
        if needs_on_call:
            refused = (
                on_call is not None
                and not on_call_overridden
                and user.rank not in allowed
                and on_call.slot(user) is None
            )
            if refused:
                rank = f" is {_rank_label(user.rank)} and" if allowed else ""
                raise RuleViolation(
                    f"{sev} {label}: {selection} (procedures {section}); {user.username}{rank} "
                    f"is not on call now ({on_call.describe()}). An SRE lead may assign them "
                    "anyway with override and an override_reason.",
                    rule=f"{sev} {label}: {selection}",
                    field="username",
                )
        elif allowed and user.rank not in allowed:
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


TECH_LEAD_SELECTION = (
    "Technical Lead: subject matter expert for the affected system or senior engineer from the "
    "owning team (procedures 3.2)"
)


def tech_lead_warning(incident: Incident, user: User, services: list | None = None) -> str | None:
    """Procedures 3.2, shown and not enforced: the Technical Lead is an expert of an affected
    service (`Service.experts`) or a senior engineer (or above) of a team owning one.
    `services`: the incident's, with their teams, when the caller read them already."""
    from .selectors import service_experts_among

    if services is None:
        services = list(incident.services.select_related("team"))
    if not services:
        return (
            f"{TECH_LEAD_SELECTION}; the incident names no affected service, so "
            f"{user.username} cannot be matched to one: add the affected services."
        )
    if service_experts_among(services, user):
        return None
    teams = {s.team_id: s.team.name for s in services}
    if user.team_id in teams and user.rank in ranks_at_or_above(Rank.SENIOR_ENGINEER):
        return None
    return (
        f"{TECH_LEAD_SELECTION}; {user.username} is not an expert of "
        f"{', '.join(s.name for s in services)} and not a senior engineer of "
        f"{', '.join(sorted(set(teams.values())))}."
    )


def role_warnings(
    incident: Incident,
    active: list[RoleAssignment],
    policy: SeverityPolicy,
    services: list | None = None,
) -> list[str]:
    """Rules that current holders do not meet (after a severity change, or 3.2's Technical Lead
    selection): shown, not enforced, so nothing is blocked in the middle of an outage.
    `services`: as tech_lead_warning."""
    warnings = []
    for assignment in active:
        if assignment.role == Role.TECH_LEAD:
            warning = tech_lead_warning(incident, assignment.user, services)
            if warning:
                warnings.append(warning)
            continue
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
