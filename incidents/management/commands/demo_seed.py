"""`manage.py demo_seed`: the logins and incidents a fresh `make run` starts with.

Safe to run on every start: users that exist are left alone (the `admin` password only changes
when `TENSAFE_ADMIN_PASSWORD` is set explicitly), and incidents are created only into an empty
database. Everything is written through `incidents.services`, so the demo incidents have the
checklists, timelines and milestones real ones have.
"""

import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from incidents import services
from incidents.errors import DomainError
from incidents.groups import ensure_groups
from incidents.models import (
    ChecklistItem,
    Deadline,
    Incident,
    Rotation,
    RotationMember,
    Schedule,
    Service,
    Team,
    User,
)
from incidents.oncall import oncall_now
from incidents.policy import RESOLVE_ACT_KEY
from incidents.selectors import policy_for
from incidents.services.timers import deadlines_fire_due
from incidents.states import (
    Checklist,
    DetectionSource,
    GroupName,
    Rank,
    Role,
    Severity,
    Status,
)

ADMIN_USERNAME = "admin"
DEFAULT_ADMIN_PASSWORD = "admin"  # demo only (api-contract.md); printed at start
DEFAULT_DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    rank: str
    team: str | None
    groups: tuple[str, ...]
    manager: str | None


# One login per rank, every group with at least one member, and a manager for each (paged
# when an incident they command runs past its target, 5.2).
DEMO_USERS = (
    DemoUser(
        "engineer",
        "Priya",
        "Natarajan",
        Rank.ENGINEER,
        "platform",
        (GroupName.RESPONDER,),
        "manager",
    ),
    DemoUser(
        "senior",
        "Marcus",
        "Okafor",
        Rank.SENIOR_ENGINEER,
        "platform",
        (GroupName.RESPONDER,),
        "manager",
    ),
    DemoUser(
        "manager",
        "Elena",
        "Petrova",
        Rank.ENGINEERING_MANAGER,
        "platform",
        (GroupName.INCIDENT_COMMANDER,),
        "vp",
    ),
    DemoUser(
        "vp",
        "David",
        "Chen",
        Rank.VP_ENGINEERING,
        "platform",
        (GroupName.INCIDENT_COMMANDER,),
        "cto",
    ),
    DemoUser("cto", "Amara", "Osei", Rank.CTO, "platform", (GroupName.INCIDENT_COMMANDER,), "ceo"),
    DemoUser("ceo", "Jonas", "Lindqvist", Rank.CEO, None, (GroupName.VIEWER,), None),
    DemoUser(
        "support", "Sofia", "Marin", Rank.SUPPORT, "support", (GroupName.RESPONDER,), "support-lead"
    ),
    DemoUser(
        "support-lead",
        "Tom",
        "Becker",
        Rank.SUPPORT_LEAD,
        "support",
        (GroupName.RESPONDER,),
        "support-manager",
    ),
    # Support's escalation (9.4): its Support Manager, as Platform's is its Engineering
    # Manager ("manager") and Security's its Security Lead ("security-lead").
    DemoUser(
        "support-manager",
        "Nadia",
        "Haddad",
        Rank.SUPPORT_MANAGER,
        "support",
        (GroupName.RESPONDER,),
        "cto",
    ),
    DemoUser(
        "csm",
        "Hannah",
        "Kim",
        Rank.CUSTOMER_SUCCESS_MANAGER,
        "support",
        (GroupName.RESPONDER,),
        "support-lead",
    ),
    DemoUser(
        "security-lead",
        "Rafael",
        "Duarte",
        Rank.SECURITY_LEAD,
        "security",
        (GroupName.SECURITY,),
        "cto",
    ),
    DemoUser(
        "sre-lead",
        "Grace",
        "Mwangi",
        Rank.SENIOR_ENGINEER,
        "platform",
        (GroupName.SRE_LEAD,),
        "manager",
    ),
    DemoUser(
        "viewer", "Liam", "Walsh", Rank.ENGINEER, "support", (GroupName.VIEWER,), "support-lead"
    ),
)

CAN_DO = {
    GroupName.RESPONDER: "declare, acknowledge, move incidents on, take roles, notes",
    GroupName.INCIDENT_COMMANDER: "as responder, and replace a sitting IC",
    GroupName.SRE_LEAD: (
        "as responder; give a role over the on-call rule (with a reason), take the IC role "
        "(audited) to resolve; /admin/ (policy, catalog, experts, users)"
    ),
    GroupName.SECURITY: "as responder, and see restricted security incidents",
    GroupName.VIEWER: "read only",
}


class Command(BaseCommand):
    help = "Create the demo logins and, into an empty database, demo incidents (idempotent)."

    def handle(self, *args, **options):
        demo_password = os.environ.get("TENSAFE_DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
        try:
            validate_password(demo_password)
        except ValidationError as invalid:
            raise CommandError(
                "TENSAFE_DEMO_PASSWORD is not a valid password: " + " ".join(invalid.messages)
            ) from None
        try:
            admin_row, user_rows, incidents = self._seed(demo_password)
        except DomainError as refused:
            # e.g. a demo login edited so it no longer meets a role rule (procedures 3)
            raise CommandError(f"Demo data not created (nothing saved): {refused.detail}") from None
        self._report(admin_row, user_rows, incidents)

    @transaction.atomic
    def _seed(self, demo_password: str):
        ensure_groups()
        admin_row = self._ensure_admin()
        policies = {str(sev): policy_for(sev) for sev in Severity.values}
        user_rows = [self._ensure_user(d, demo_password, policies) for d in DEMO_USERS]
        created = [d for d, row in zip(DEMO_USERS, user_rows, strict=True) if row["changed"]]
        _link_managers(created)
        if not Schedule.objects.exists():
            seed_oncall()
        seed_experts()
        incidents = [] if Incident.objects.exists() else seed_incidents(timezone.now())
        return admin_row, user_rows, incidents

    def _report(self, admin_row: dict, user_rows: list[dict], incidents: list[Incident]) -> None:
        self._print_logins([admin_row, *user_rows])
        changed_users = [row for row in [admin_row, *user_rows] if row["changed"]]
        if incidents:
            self.stdout.write(f"Created {len(incidents)} demo incidents:")
            for incident in incidents:
                self.stdout.write(
                    f"  {incident.reference} {incident.severity} {incident.status:<13} "
                    f"{'[security] ' if incident.security else ''}{incident.title}"
                )
        if not changed_users and not incidents:
            self.stdout.write(
                self.style.SUCCESS(
                    "Demo data already present: nothing changed (incidents exist, so none added)."
                )
            )

    # --- people -----------------------------------------------------------------------------
    def _ensure_admin(self) -> dict:
        explicit = os.environ.get("TENSAFE_ADMIN_PASSWORD") or None
        password = explicit or DEFAULT_ADMIN_PASSWORD
        row = {"username": ADMIN_USERNAME, "rank": "", "team": "", "groups": "superuser"}
        row["can_do"] = "everything, including /admin/"
        admin = User.objects.filter(username=ADMIN_USERNAME).first()
        if admin is None:
            User.objects.create_superuser(
                ADMIN_USERNAME, f"{ADMIN_USERNAME}@tensafe.test", password
            )
            return {**row, "password": password, "changed": True}
        if admin.check_password(password):
            # Still the known password: show it, as every start does (api-contract.md).
            return {**row, "password": password, "changed": False}
        if explicit:
            admin.set_password(explicit)
            admin.save(update_fields=["password"])
            return {**row, "password": explicit, "changed": True}
        return {**row, "password": None, "changed": False}

    def _ensure_user(self, demo: DemoUser, password: str, policies: dict) -> dict:
        row = {
            "username": demo.username,
            "rank": demo.rank,
            "team": demo.team or "",
            "groups": ", ".join(demo.groups),
            "can_do": "; ".join(CAN_DO[g] for g in demo.groups)
            + _may_hold(demo.rank, demo.groups, policies),
        }
        if User.objects.filter(username__iexact=demo.username).exists():
            return {**row, "password": None, "changed": False}
        team = Team.objects.get(slug=demo.team) if demo.team else None
        services.user_create(
            actor=None,
            username=demo.username,
            password=password,
            email=f"{demo.username}@tensafe.test",
            rank=demo.rank,
            team=team,
            groups=list(demo.groups),
            first_name=demo.first_name,
            last_name=demo.last_name,
        )
        return {**row, "password": password, "changed": True}

    def _print_logins(self, rows: list[dict]) -> None:
        self.stdout.write(
            "Logins (a password is shown when this run set it, or for admin while it is"
        )
        self.stdout.write("still the default or $TENSAFE_ADMIN_PASSWORD):")
        line = "  {username:<14} {password:<14} {rank:<25} {team:<9} {groups:<19} {can_do}"
        header = {"username": "login", "password": "password", "rank": "rank", "team": "team"}
        self.stdout.write(line.format(**header, groups="groups", can_do="can"))
        for row in rows:
            self.stdout.write(line.format(**{**row, "password": row["password"] or "(unchanged)"}))


def _link_managers(created: list[DemoUser]) -> None:
    """Managers are linked once everyone exists, and only for logins this run created."""
    for demo in created:
        if demo.manager:
            manager = User.objects.get(username=demo.manager)
            User.objects.filter(username=demo.username).update(manager=manager)


def _may_hold(rank: str, groups: tuple[str, ...], policies: dict) -> str:
    """The restricted roles (3.1, 3.3) this person may hold, from the policy in force: by rank,
    or while on call."""
    if GroupName.VIEWER in groups:
        return ""
    parts = []
    for role, field in (("IC", "ic"), ("comms lead", "comms_lead")):
        by_rank = [
            sev
            for sev, policy in policies.items()
            if rank in getattr(policy, f"{field}_allowed_ranks")
        ]
        on_call = [
            sev
            for sev, policy in policies.items()
            if sev not in by_rank and getattr(policy, f"{field}_on_call")
        ]
        if by_rank:
            parts.append(f"{role} {'/'.join(by_rank)}")
        if on_call:
            parts.append(f"{role} {'/'.join(on_call)} when on call")
    return f" ({', '.join(parts)})" if parts else ""


# --- incidents ----------------------------------------------------------------------------------
# On-call (procedures 9.4): Platform and Security rotate weekly, Support follows the sun with
# a rotation per region, each window in its own time zone (hand-offs at local times).
ONCALL = [
    (
        "platform",
        "platform-primary",
        "Platform weekly",
        "weekly",
        [
            ("Weekly", "Europe/London", time(9, 0), None, None, ["engineer", "senior", "sre-lead"]),
        ],
    ),
    (
        "security",
        "security-weekly",
        "Security weekly",
        "weekly",
        [
            ("Weekly", "America/New_York", time(10, 0), None, None, ["security-lead"]),
        ],
    ),
    (
        "support",
        "support-follow-the-sun",
        "Support follow-the-sun",
        "follow_the_sun",
        [
            ("APAC", "Asia/Singapore", time(8, 0), time(8, 0), time(16, 0), ["support", "csm"]),
            (
                "EMEA",
                "Europe/London",
                time(8, 0),
                time(8, 0),
                time(16, 0),
                ["support-lead", "support"],
            ),
            (
                "Americas",
                "America/New_York",
                time(11, 0),
                time(11, 0),
                time(19, 0),
                ["csm", "support-lead"],
            ),
        ],
    ),
]
ROTATION_ANCHOR = date(2026, 1, 5)  # a Monday


def seed_oncall() -> None:
    users = {u.username: u for u in User.objects.all()}
    for team, slug, name, kind, rotations in ONCALL:
        schedule = Schedule.objects.create(
            team=Team.objects.get(slug=team), slug=slug, name=name, kind=kind
        )
        for position, (label, tz, handoff, start, end, members) in enumerate(rotations):
            rotation = Rotation.objects.create(
                schedule=schedule,
                name=label,
                position=position,
                time_zone=tz,
                anchor_date=ROTATION_ANCHOR,
                handoff_time=handoff,
                shift_start=start,
                shift_end=end,
            )
            RotationMember.objects.bulk_create(
                RotationMember(rotation=rotation, user=users[u], position=i)
                for i, u in enumerate(members)
                if u in users
            )


# Subject matter experts per service (procedures 3.2), set where a service has none yet.
EXPERTS = {
    "api-gateway": ["senior"],
    "training": ["engineer", "senior"],
    "inference": ["engineer"],
    "database": ["senior"],
    "authentication": ["security-lead"],
    "encryption": ["security-lead"],
}


def seed_experts() -> None:
    users = {u.username: u for u in User.objects.filter(username__in=_demo_usernames())}
    for service in Service.objects.filter(slug__in=EXPERTS, experts__isnull=True):
        service.experts.set([users[u] for u in EXPERTS[service.slug] if u in users])


def seed_incidents(now: datetime) -> list[Incident]:
    people = {u.username: u for u in User.objects.filter(username__in=_demo_usernames())}
    incidents = [
        _resolved_p1(people, now),
        _monitoring_p2(people, now),
        _identified_p3(people, now),
        _investigating_p4(people, now),
        _security_p2(people, now),
    ]
    _replay_timers()
    return [_reloaded(incident) for incident in incidents]


def _replay_timers() -> None:
    """Fire what fell due during the demo's history at the time it fell due, as the timers
    worker would have (reminders, missed updates, escalations, and what each plans next), so
    the demo starts with nothing overdue and its timelines show what the timers did."""
    now = timezone.now()
    pending = Deadline.objects.filter(status=Deadline.Status.PENDING, due_at__lte=now)
    # A deadline can fire from when it is due or, planned already overdue, from when it was
    # planned (a later step of the history re-planned the incident).
    while times := [
        max(due, planned) for due, planned in pending.values_list("due_at", "created_at")
    ]:
        deadlines_fire_due(now=min(times))


def _demo_usernames() -> list[str]:
    return [demo.username for demo in DEMO_USERS]


def _services(*slugs: str) -> list[Service]:
    return list(Service.objects.filter(slug__in=slugs))


def _assign(incident, actor, at, *holders) -> None:
    for minutes, role, user in holders:
        services.incident_assign_role(
            actor=actor, incident_id=incident.pk, role=role, user=user, at=at(minutes)
        )


def _tick(incident, actor, checklist: str, keys: list[str] | None = None, at=None) -> None:
    items = ChecklistItem.objects.filter(incident=incident, checklist=checklist, done=False)
    for item in items.exclude(key=RESOLVE_ACT_KEY).order_by("position"):
        if keys is None or item.key in keys:
            services.incident_checklist_set(
                actor=actor, incident_id=incident.pk, item_id=item.pk, done=True, at=at
            )


def _resolved_p1(p: dict, now: datetime) -> Incident:
    """A full P1: acknowledged, staffed by the rules of 3.1-3.4, identified, rolled back,
    stable for longer than the window, criteria ticked, resolved by its IC."""
    detected = now - timedelta(hours=1, minutes=50)

    def at(minutes):
        return detected + timedelta(minutes=minutes)

    incident = services.incident_declare(
        actor=p["manager"],
        title="API gateway returning 502s for all customers",
        description="Every request through the API gateway fails with 502 Bad Gateway.",
        severity=Severity.P1,
        detection_source=DetectionSource.MONITORING,
        services=_services("api-gateway"),
        started_at=detected - timedelta(minutes=4),
        detected_at=detected,
        at=detected + timedelta(minutes=1),
    )
    iid = incident.pk
    services.incident_acknowledge(actor=p["engineer"], incident_id=iid, at=at(2))
    _assign(
        incident,
        p["manager"],
        at,
        (3, Role.INCIDENT_COMMANDER, p["manager"]),
        (5, Role.TECH_LEAD, p["senior"]),
        (6, Role.COMMS_LEAD, p["csm"]),
        (7, Role.SCRIBE, p["engineer"]),
    )
    services.incident_add_note(
        actor=p["engineer"],
        incident_id=iid,
        text="Gateway pods crash-looping since deploy gw-2291; error rate 100%.",
        occurred_at=at(9),
    )
    services.incident_transition(
        actor=p["senior"],
        incident_id=iid,
        to=Status.IDENTIFIED,
        reason="gw-2291 shipped an upstream TLS setting the backends reject",
        at=at(24),
    )
    services.incident_add_note(
        actor=p["engineer"],
        incident_id=iid,
        text="Rolling back: kubectl rollout undo deployment/api-gateway -n production.",
        occurred_at=at(27),
    )
    services.incident_transition(
        actor=p["senior"],
        incident_id=iid,
        to=Status.MONITORING,
        reason="Rollback complete; error rate back to 0.1%",
        at=now - timedelta(minutes=40),
    )
    services.incident_add_note(
        actor=p["engineer"],
        incident_id=iid,
        text="Error rate and p99 latency at baseline for 15 minutes.",
        occurred_at=now - timedelta(minutes=25),
    )
    _tick(incident, p["manager"], Checklist.IC, ["assign_roles", "begin_investigation"], at(8))
    _tick(incident, p["manager"], Checklist.RESOLUTION, at=now - timedelta(minutes=22))
    # 18 minutes in Monitoring: past the stability window.
    services.incident_transition(
        actor=p["manager"], incident_id=iid, to=Status.RESOLVED, at=now - timedelta(minutes=20)
    )
    return _reloaded(incident)


def _monitoring_p2(p: dict, now: datetime) -> Incident:
    """Fixed eight minutes ago: still inside the stability window, so not yet resolvable."""
    detected = now - timedelta(minutes=95)

    def at(minutes):
        return detected + timedelta(minutes=minutes)

    incident = services.incident_declare(
        actor=p["senior"],
        title="Inference latency 3x baseline in eu-west-1",
        description="p99 inference latency above 2 s for most customers in eu-west-1.",
        severity=Severity.P2,
        detection_source=DetectionSource.MONITORING,
        services=_services("inference"),
        detected_at=detected,
        at=detected + timedelta(minutes=1),
    )
    services.incident_acknowledge(actor=p["senior"], incident_id=incident.pk, at=at(1))
    _assign(
        incident,
        p["senior"],
        at,
        (2, Role.INCIDENT_COMMANDER, p["senior"]),
        (4, Role.TECH_LEAD, p["engineer"]),
        (6, Role.COMMS_LEAD, p["support"]),
    )
    services.incident_transition(
        actor=p["engineer"],
        incident_id=incident.pk,
        to=Status.IDENTIFIED,
        reason="GPU node pool autoscaler stuck at its minimum size",
        at=at(35),
    )
    services.incident_transition(
        actor=p["engineer"],
        incident_id=incident.pk,
        to=Status.MONITORING,
        reason="Node pool scaled manually to 24 nodes",
        at=now - timedelta(minutes=8),
    )
    _tick(incident, p["senior"], Checklist.RESOLUTION, ["error_rates_baseline"])
    return _reloaded(incident)


def _identified_p3(p: dict, now: datetime) -> Incident:
    detected = now - timedelta(hours=5)

    def at(minutes):
        return detected + timedelta(minutes=minutes)

    incident = services.incident_declare(
        actor=p["engineer"],
        title="Intermittent 5xx on training job submission",
        description="About 4% of job submissions fail; retrying succeeds.",
        severity=Severity.P3,
        detection_source=DetectionSource.CUSTOMER_REPORT,
        services=_services("training"),
        started_at=detected - timedelta(minutes=50),
        detected_at=detected,
        at=detected + timedelta(minutes=1),
    )
    services.incident_acknowledge(actor=p["engineer"], incident_id=incident.pk, at=at(6))
    _assign(
        incident,
        p["engineer"],
        at,
        (7, Role.INCIDENT_COMMANDER, _on_call_for(incident, at(7))),  # 3.1: P3 IC on call
        (12, Role.COMMS_LEAD, p["support-lead"]),
    )
    services.incident_transition(
        actor=p["engineer"],
        incident_id=incident.pk,
        to=Status.IDENTIFIED,
        reason="One scheduler replica has a stale database connection pool",
        at=at(60),
    )
    return _reloaded(incident)


def _investigating_p4(p: dict, now: datetime) -> Incident:
    incident = services.incident_declare(
        actor=p["support"],
        title="Status page footer links to the old documentation site",
        description="Reported by a customer; cosmetic.",
        severity=Severity.P4,
        detection_source=DetectionSource.CUSTOMER_REPORT,
        detected_at=now - timedelta(minutes=30),
    )
    return _reloaded(incident)


def _security_p2(p: dict, now: datetime) -> Incident:
    """Restricted: only the security group, its role holders and superusers see it."""
    detected = now - timedelta(minutes=45)

    def at(minutes):
        return detected + timedelta(minutes=minutes)

    incident = services.incident_declare(
        actor=p["security-lead"],
        title="Suspicious reuse of revoked API tokens",
        description="WAF flagged requests authenticated with tokens revoked last week.",
        severity=Severity.P2,
        detection_source=DetectionSource.SECURITY_TOOL,
        services=_services("authentication"),
        security=True,
        detected_at=detected,
        at=detected + timedelta(minutes=1),
    )
    services.incident_acknowledge(actor=p["security-lead"], incident_id=incident.pk, at=at(1))
    _assign(
        incident,
        p["security-lead"],
        at,
        (3, Role.INCIDENT_COMMANDER, p["manager"]),
        (4, Role.TECH_LEAD, p["security-lead"]),
    )
    services.incident_add_note(
        actor=p["security-lead"],
        incident_id=incident.pk,
        text="Blocked the source IP range at the WAF while we check the revocation cache.",
        occurred_at=at(10),
    )
    # What the status page and customer email may say of it (2.1), approved by the security
    # lead; its title and details stay restricted.
    services.incident_public_text_approve(
        actor=p["security-lead"],
        incident_id=incident.pk,
        public_title="Sign-in reliability",
        public_text="We are investigating unusual sign-in activity. Signing in works; we will "
        "update this page as we learn more.",
        at=at(12),
    )
    return _reloaded(incident)


def _on_call_for(incident: Incident, at: datetime) -> User:
    """Who is on call at `at` for the incident's owning team (else in any rotation): the
    person the procedures make IC of a P3 (3.1)."""
    team_ids = set(incident.services.values_list("team_id", flat=True))
    now = oncall_now(team_ids, at)
    pool = now.owning or now.elsewhere
    if not pool:
        raise CommandError(
            "Demo data not created (nothing saved): nobody is on call to command the P3 "
            "(procedures 3.1); give the demo schedules members."
        )
    return User.objects.get(pk=next(iter(pool)))


def _reloaded(incident: Incident) -> Incident:
    incident.refresh_from_db()
    return incident
