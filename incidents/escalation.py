"""Automatic escalations (procedures 5.1, 5.2) and who is told at declaration (2.1), planned
from the policy in force, and escalation targets (5.3) resolved to people.

`plan_deadlines` is pure: given the incident and the rules it says which deadlines should be
pending and when they are due. `services.timers.deadlines_replan` applies the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .models import EscalationContact, EscalationRule, Incident, SeverityPolicy, Team, User
from .oncall import oncall_at
from .states import Rank, Role, Severity, Status

TARGET_LABELS = {
    "backup_on_call": "Backup on-call",
    "on_call": "On-call engineer",
    "engineering_manager": "Engineering Manager",
    "manager": "Manager",
    "vp_engineering": "VP Engineering",
    "cto": "CTO",
    "ceo": "CEO",
    "security_lead": "Security Lead",
    "ic_manager": "The IC's manager",
    "all_hands": "All hands (every responder on call)",
    "executives": "Executives",
    "engineering_queue": "Engineering queue",
}
RANK_TARGETS = {
    "vp_engineering": Rank.VP_ENGINEERING,
    "cto": Rank.CTO,
    "ceo": Rank.CEO,
    "security_lead": Rank.SECURITY_LEAD,
}


@dataclass
class Planned:
    kind: str
    due_at: datetime
    data: dict = field(default_factory=dict)


def _rule_reason(rule: EscalationRule, incident: Incident, policy: SeverityPolicy) -> str:
    sev = rule.severity or incident.severity
    if rule.trigger == "unacknowledged":
        return f"{sev} not acknowledged in {rule.after_minutes} min"
    if rule.trigger == "open":
        return f"{sev} open > {rule.after_minutes} min"
    if rule.trigger == "security":
        return "Security incident"
    return (
        f"Resolution taking longer than the {sev} target ({policy.target_resolution_minutes} min)"
    )


def plan_deadlines(
    incident: Incident, rules: list[EscalationRule], policy: SeverityPolicy, now: datetime
) -> dict[str, Planned]:
    """The deadlines that should be pending for `incident` now, by key. Every timer counts from
    `detected_at`, so an incident declared late has its overdue escalations due at once."""
    if incident.status == Status.RESOLVED:
        return {}
    plan: dict[str, Planned] = {
        f"notify:{incident.severity}": Planned(
            "notify",
            now,
            {"audiences": list(policy.notify_at_declaration), "severity": incident.severity},
        )
    }
    for rule in rules:
        if not rule.enabled or rule.severity not in ("", incident.severity):
            continue
        if rule.trigger == "unacknowledged" and incident.acknowledged_at is not None:
            continue
        if rule.trigger == "security" and not incident.security:
            continue
        if rule.trigger == "over_target":
            after = policy.target_resolution_minutes
        else:
            after = rule.after_minutes or 0
        plan[f"rule:{rule.pk}"] = Planned(
            "escalation",
            incident.detected_at + timedelta(minutes=after),
            {
                "trigger": rule.trigger,
                "severity": rule.severity,
                "after_minutes": after,
                "target": rule.target,
                "reason": _rule_reason(rule, incident, policy),
            },
        )
    return plan


def deadline_still_applies(incident: Incident, data: dict, kind: str) -> bool:
    """Checked again when a deadline fires (the plan is re-made on every change, this is the
    belt to its braces)."""
    if incident.status == Status.RESOLVED:
        return False
    if kind == "notify":
        return True
    if data.get("severity") and data["severity"] != incident.severity:
        return False
    if data.get("trigger") == "unacknowledged" and incident.acknowledged_at is not None:
        return False
    return not (data.get("trigger") == "security" and not incident.security)


def escalation_next_contact(
    late_target: str,
    incident: Incident,
    contacts: list[EscalationContact],
    already_paged: set[str],
) -> EscalationContact | None:
    """The next step after a contact who did not answer in time (5.3): the next contact in the
    table's order (`contacts`, as seeded) that this incident may reach — the CEO for P1 only,
    the Security Lead for security incidents only — and that is not reached already
    (`already_paged`: `selectors.escalation_contacts_engaged`)."""
    roles = [c.role for c in contacts]
    if late_target not in roles:
        return None
    for contact in contacts[roles.index(late_target) + 1 :]:
        if contact.p1_only and incident.severity != Severity.P1:
            continue
        if contact.role == "security_lead" and not incident.security:
            continue
        if contact.role not in already_paged:
            return contact
    return None


class Recipients:
    """Resolves escalation targets and audiences to people, caching per sweep (a batch of
    deadlines shares on-call lookups)."""

    def __init__(self, at: datetime):
        self.at = at
        self._oncall: dict[int, list] = {}
        self._by_rank: dict[str, list[User]] = {}

    def _teams(self, incident: Incident | None) -> list[Team]:
        teams = {s.team_id: s.team for s in incident.services.all()} if incident else {}
        if teams:
            return list(teams.values())
        return list(Team.objects.filter(schedules__isnull=False).distinct()[:1])

    def _team_oncall(self, team: Team) -> list:
        if team.pk not in self._oncall:
            self._oncall[team.pk] = [oncall_at(s, self.at) for s in team.schedules.all()]
        return self._oncall[team.pk]

    def _rank(self, rank: str, team_ids: set[int] | None = None) -> list[User]:
        if rank not in self._by_rank:
            self._by_rank[rank] = list(
                User.objects.filter(rank=rank, is_active=True).order_by("id")
            )
        people = self._by_rank[rank]
        if team_ids:
            in_team = [u for u in people if u.team_id in team_ids]
            return in_team or people
        return people

    def team_escalation(self, teams: list[Team]) -> tuple[list[User], str, str]:
        """Each team's escalation target (procedures 9.4, `Team.escalation_rank`): one member
        of the team holding that rank, else anyone holding it. Returns the people, what they
        are ("Engineering Manager", "Security Lead", …) and a note naming the teams whose
        escalation is not the Engineering Manager 5.1 speaks of."""
        people, labels, notes = [], [], []
        for team in teams:
            label = Rank(team.escalation_rank).label
            people += self._rank(team.escalation_rank, {team.pk})[:1]
            labels.append(label)
            if team.escalation_rank != Rank.ENGINEERING_MANAGER:
                notes.append(f"{team.name} escalates to its {label} (9.4)")
        what = " / ".join(dict.fromkeys(labels)) or Rank.ENGINEERING_MANAGER.label
        return _unique(people), what, "; ".join(notes)

    def resolve(self, target: str, incident: Incident | None) -> tuple[list[User], str]:
        """People for a target, and a note when a fallback was used or nobody was found.
        The Engineering Manager (5.1), a P2's manager (2.1) and the stand-in for a missing
        backup are each affected team's own escalation target (9.4)."""
        teams = self._teams(incident)
        if target in ("on_call", "backup_on_call"):
            attr = "primary" if target == "on_call" else "backup"
            people = [getattr(oc, attr) for t in teams for oc in self._team_oncall(t)]
            people = [p for p in people if p is not None]
            if people or target == "on_call":
                return _unique(people), "" if people else "nobody is on call for the affected teams"
            managers, what, _note = self.team_escalation(teams)
            if not managers:
                return [], f"no backup on call and no {what} to page instead"
            return managers, f"no backup on call; paged the {what} instead"
        if target in ("engineering_manager", "manager"):
            managers, _what, note = self.team_escalation(teams)
            return managers, note
        if target in RANK_TARGETS:
            return self._rank(RANK_TARGETS[target])[:1], ""
        if target == "ic_manager":
            if incident is None:
                return [], "depends on the incident's IC"
            ic = next(
                (
                    a.user
                    for a in incident.roles.filter(
                        relieved_at__isnull=True, role=Role.INCIDENT_COMMANDER
                    )
                ),
                None,
            )
            if ic is not None and ic.manager_id:
                return [ic.manager], ""
            ic_teams = [ic.team] if ic is not None and ic.team_id else teams
            managers, what, _note = self.team_escalation(ic_teams)
            return managers, "" if ic is not None else f"no IC assigned; paged the team's {what}"
        if target == "all_hands":
            people = []
            for team in Team.objects.filter(schedules__isnull=False).distinct():
                for oc in self._team_oncall(team):
                    people += [p for p in (oc.primary, oc.backup) if p is not None]
            return _unique(people), ""
        if target == "executives":
            ranks = [Rank.VP_ENGINEERING, Rank.CTO]
            # 5.3: the CEO for P1 only, as the policy in force says (contact.ceo.p1_only).
            ceo_p1_only = (
                EscalationContact.objects.filter(role="ceo")
                .values_list("p1_only", flat=True)
                .first()
            )
            if incident is None or incident.severity == Severity.P1 or ceo_p1_only is False:
                ranks.append(Rank.CEO)
            return _unique([u for r in ranks for u in self._rank(r)[:1]]), ""
        if target == "engineering_queue":
            return [], "added to the engineering queue; nobody is paged"
        return [], f"unknown target {target!r}"


def _unique(people: list[User]) -> list[User]:
    return list({p.pk: p for p in people}.values())


def without_role_holders(
    incident: Incident, people: list[User], holders: list | None = None
) -> tuple[list[User], list[str]]:
    """An escalation never pages someone who already holds a role on the incident: they are
    in it already, and paging the IC about their own incident (as the IC's manager, say) asks
    nobody new. Returns the people to page and a note per person skipped. `holders` are the
    incident's active role assignments when the caller has them."""
    if holders is None:
        holders = list(incident.roles.filter(relieved_at__isnull=True))
    held: dict[int, list[str]] = {}
    for assignment in holders:
        held.setdefault(assignment.user_id, []).append(Role(assignment.role).label)
    kept = [p for p in people if p.pk not in held]
    notes = [
        f"skipped {p.username}: already {' and '.join(held[p.pk])} on this incident"
        for p in people
        if p.pk in held
    ]
    return kept, notes
