"""Reads, and the one place that decides who may see which incident.

Every request-driven read of incidents goes through `incident_list_for_user` or
`incident_get_for_user`: a security incident is visible only to the security group, to the
people who hold a role on it, to whoever declared it, and to superusers; to everyone else it
does not exist (404, absent from lists and counts).
"""

from __future__ import annotations

import hashlib
import math
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, timedelta
from functools import cache

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .db import planned_once_cursor
from .errors import RuleViolation
from .models import (
    ApiToken,
    AuditEvent,
    ChecklistItem,
    ContactMethod,
    EscalationContact,
    EscalationResponse,
    EscalationRule,
    Incident,
    PolicyChange,
    PolicySettings,
    RoleAssignment,
    Schedule,
    Service,
    SeverityPolicy,
    TimelineEvent,
    User,
)
from .permissions import can_request_bridge, can_transition, require_sre_lead
from .states import GroupName, Role, Status


# --- access -----------------------------------------------------------------------------------
def sees_every_incident(user) -> bool:
    """Superusers and the security group see security incidents as everyone sees the rest."""
    return user.is_authenticated and (user.is_superuser or GroupName.SECURITY in user.group_names)


def _visibility_filter(user) -> Q:
    if not user.is_authenticated:
        return Q(pk__in=[])
    if sees_every_incident(user):
        return Q()
    # Uncorrelated: PostgreSQL reads the user's roles once (a hashed subplan), where the
    # correlated EXISTS it replaces was a probe per row; with the covering index
    # `incident_visibility` a responder's COUNT reads that index only (issue 15).
    holds_role = RoleAssignment.objects.filter(user=user, relieved_at__isnull=True)
    return Q(security=False) | Q(declared_by=user) | Q(pk__in=holds_role.values("incident_id"))


def incident_list_for_user(user) -> QuerySet[Incident]:
    return Incident.objects.filter(_visibility_filter(user))


def incident_get_for_user(user, incident_id, *, for_update: bool = False) -> Incident:
    """The incident if `user` may see it, else Http404. `user=None` is the platform itself."""
    qs = Incident.objects.all() if user is None else incident_list_for_user(user)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(pk=incident_id)
    except (Incident.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No incident with that id.") from None


def incident_is_restricted(incident: Incident) -> bool:
    """A restricted incident is a security incident: shown only to those the visibility rule
    lets in, and named only in redacted form in messages to anyone else (incidents.redaction)."""
    return incident.security


def incident_visible_to(user, incident: Incident) -> bool:
    """Whether `user` may open `incident`, by the same rule as every list and page."""
    if user is None:
        return False
    return incident_list_for_user(user).filter(pk=incident.pk).exists()


def active_roles_prefetch() -> Prefetch:
    return Prefetch(
        "roles",
        queryset=RoleAssignment.objects.filter(relieved_at__isnull=True).select_related("user"),
        to_attr="active_roles",
    )


def incident_list_for_api(user) -> QuerySet[Incident]:
    """The list endpoint's queryset: a fixed number of queries whatever the page size."""
    return (
        incident_list_for_user(user)
        .select_related("declared_by", "acknowledged_by")
        .prefetch_related("services", active_roles_prefetch())
    )


def incident_active_roles(incident: Incident) -> list[RoleAssignment]:
    if hasattr(incident, "active_roles"):
        return incident.active_roles
    return list(incident.roles.filter(relieved_at__isnull=True).select_related("user"))


def incident_ic_id(incident: Incident) -> int | None:
    for assignment in incident_active_roles(incident):
        if assignment.role == Role.INCIDENT_COMMANDER:
            return assignment.user_id
    return None


def incident_timeline(incident: Incident) -> QuerySet[TimelineEvent]:
    return incident.timeline.select_related("actor").order_by("occurred_at", "id")


def incident_checklist(incident: Incident) -> QuerySet[ChecklistItem]:
    return incident.checklist.select_related("done_by").order_by("checklist", "position")


def incident_transitions_from(incident: Incident) -> dict[str, str]:
    """target status -> transition method name, for the transitions leaving the current state."""
    return {
        str(t.target): t.name
        for t in incident.get_all_status_transitions()
        if t.source == incident.status
    }


def incident_allowed_targets(incident: Incident, user=None) -> list[str]:
    """Statuses the incident may move to now (conditions met and, given a user, permitted).
    The API's 409 `allowed` and the page's buttons both come from here."""
    ic_id = incident_ic_id(incident)
    return [
        str(t.target)
        for t in incident.get_available_status_transitions()
        if user is None or can_transition(user, t.name, ic_id)
    ]


def incident_detail_for_user(user, incident_id) -> Incident:
    """One incident with what the detail view shows beside its fields: the transitions this
    user may make now, what blocks resolving, role rules no longer met, the target time."""
    from .rules import resolution_blockers, role_warnings

    incident = (
        incident_list_for_user(user)
        .select_related("declared_by", "acknowledged_by", "public_approved_by")
        .prefetch_related(
            # Their teams too, for the Technical Lead's check (rules.tech_lead_warning).
            Prefetch("services", queryset=Service.objects.select_related("team")),
            active_roles_prefetch(),
        )
        .filter(pk=incident_id)
        .first()
        if str(incident_id).isascii() and str(incident_id).isdigit()
        else None
    )
    if incident is None:
        raise Http404("No incident with that id.")
    policy = policy_for(incident.severity)
    incident.allowed_transitions = incident_allowed_targets(incident, user)
    incident.resolution_blockers = (
        resolution_blockers(incident) if incident.status == Status.MONITORING else []
    )
    incident.role_warnings = role_warnings(
        incident, incident_active_roles(incident), policy, list(incident.services.all())
    )
    incident.target_resolution_at = incident.detected_at + timedelta(
        minutes=policy.target_resolution_minutes
    )
    # Every deadline read once for the pending ones and the escalations (was two to four
    # queries).
    deadlines = list(incident.deadlines.order_by("due_at", "id"))
    incident.deadlines_pending = incident_deadlines_pending(incident, deadlines)
    incident.escalation_responses_shown = escalation_responses_for(incident, deadlines)
    incident.bridge = incident_bridge(incident, user, policy)
    return incident


def incident_detail_version(user, incident_id, at) -> tuple | None:
    """Everything the incident detail shows `user` at `at` depends on, read in one query;
    None when there is no such incident or `user` may not see it (the rule of
    `_visibility_filter`, with the security group's membership asked in the query). Two equal
    versions: the same body (incidents/api/detail.py keeps bodies and answers 304 by it).

    - The incident: its row's `updated_at`, and its newest timeline event, which every
      change to an incident writes in the same transaction (status, severity, texts,
      services, roles, acknowledgement, checklist ticks, bridge, public text, escalations
      and their answers, every fired deadline); its deadlines' newest `updated_at` (planned,
      moved or cancelled without an event by a re-plan or the sweeper).
    - Time: in Monitoring within the stability window, the whole minutes elapsed
      (resolution_blockers words them, and `resolve` waits for the window); how many
      escalation deadlines are due by `at` (escalation_contacts_engaged: the next contact
      offered to a late one).
    - The rest of the platform: the newest audit event (a user's name, rank, team, active
      flag, groups, tokens) and policy change (severity policies, settings, escalation
      contacts: bridge, targets, role rules, the window).
    - The viewer (allowed transitions, `bridge.can_request`): id, superuser flag, rank and
      which of the platform's groups they are in.

    Not seen: the service catalog edited in the admin (a service's slug, team or experts).

    Hand-written SQL: the same query built with the ORM cost 9 ms of Python per request
    (bench/load.py, 10,000 incidents), five times its time in PostgreSQL."""
    if not user.is_authenticated or not (str(incident_id).isascii() and str(incident_id).isdigit()):
        return None
    ops = connection.ops
    params = [
        ops.adapt_datetimefield_value(at),
        *GroupName.values,
        user.pk,
        int(incident_id),
        user.is_superuser,
        user.pk,
        user.pk,
        user.pk,
        GroupName.SECURITY,
    ]
    with planned_once_cursor() as cursor:
        cursor.execute(_detail_version_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    updated_at, status, mitigated_at, *rest = row
    window = rest[3] or 0
    stability = None
    if status == Status.MONITORING and mitigated_at is not None:
        if isinstance(mitigated_at, str):
            mitigated_at = parse_datetime(mitigated_at)
        if timezone.is_naive(mitigated_at):  # SQLite's cursor: UTC without its zone
            mitigated_at = mitigated_at.replace(tzinfo=UTC)
        elapsed = (at - mitigated_at).total_seconds() / 60
        stability = int(elapsed) if elapsed < window else "elapsed"
    viewer = (user.pk, user.is_superuser, user.rank)
    return (str(updated_at), status, stability, *(str(v) for v in rest), viewer)


def incident_detail_etag(version: tuple) -> str:
    """A strong tag of `incident_detail_version`: the same version renders the same bytes
    (the API's detail) and the same panels (the dashboard's incident page)."""
    digest = hashlib.sha256(repr(version).encode()).hexdigest()[:32]
    return f'"{digest}"'


@cache
def _detail_version_sql() -> str:
    from .models import AuditEvent, Deadline, PolicyChange

    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    memberships, group = User.groups.through, User.groups.field.related_model
    bits = " ".join(f"WHEN %s THEN {1 << n}" for n in range(len(GroupName.values)))
    in_group = (
        f"FROM {table(memberships)} m JOIN {table(group)} g ON g.id = m.group_id "
        "WHERE m.user_id = %s"
    )
    return f"""
        SELECT i.updated_at, i.status, i.mitigated_at,
            (SELECT MAX(e.id) FROM {table(TimelineEvent)} e WHERE e.incident_id = i.id),
            (SELECT MAX(d.updated_at) FROM {table(Deadline)} d WHERE d.incident_id = i.id),
            (SELECT COUNT(*) FROM {table(Deadline)} d WHERE d.incident_id = i.id
                AND d.kind = 'escalation' AND d.due_at <= %s
                AND d.status <> '{Deadline.Status.CANCELLED}'),
            (SELECT s.stability_window_minutes FROM {table(PolicySettings)} s WHERE s.id = 1),
            (SELECT MAX(a.id) FROM {table(AuditEvent)} a),
            (SELECT MAX(p.id) FROM {table(PolicyChange)} p),
            (SELECT COALESCE(SUM(CASE g.name {bits} END), 0) {in_group})
        FROM {table(Incident)} i
        WHERE i.id = %s AND (
            %s OR NOT i.security OR i.declared_by_id = %s
            OR EXISTS (SELECT 1 FROM {table(RoleAssignment)} r WHERE r.incident_id = i.id
                AND r.user_id = %s AND r.relieved_at IS NULL)
            OR EXISTS (SELECT 1 {in_group} AND g.name = %s)
        )
    """  # noqa: S608  # nosec B608  # table names from model metadata, values as parameters


def incident_deadlines_pending(incident: Incident, deadlines: list | None = None) -> list:
    """The incident's pending deadlines, soonest first, each with its `label` (the caller has
    checked that the incident is visible). `deadlines`: all of the incident's, soonest first,
    when the caller read them already."""
    from .models import Deadline

    if deadlines is None:
        pending = incident.deadlines.filter(status=Deadline.Status.PENDING)
        pending = list(pending.order_by("due_at", "id"))
    else:
        pending = [d for d in deadlines if d.status == Deadline.Status.PENDING]
    for deadline in pending:
        deadline.label = deadline_label(deadline)
    return pending


def deadline_label(deadline) -> str:
    """What a deadline is for, in words: the label its kind planned, else the escalation's
    target and reason, else its key."""
    from .escalation import TARGET_LABELS

    data = deadline.data or {}
    if data.get("label"):
        return data["label"]
    target, reason = data.get("target"), data.get("reason") or ""
    if deadline.kind == "escalation" and target:
        return f"Escalation to {TARGET_LABELS.get(target, target)}: {reason}".rstrip(": ")
    if deadline.kind == "notify":
        return "Declaration notifications (2.1)"
    return reason or deadline.key


def escalation_responses_current(
    incident: Incident, deadlines: list | None = None
) -> list[EscalationResponse]:
    """Every escalation contact of 5.3 paged about `incident`, oldest first: the recorded
    responses (5.4 requests; 5.1 escalations answered or late), and for each fired 5.1
    escalation to a contact with nothing recorded yet an unsaved one (`pk` None), awaiting
    since the escalation fired. `deadlines`: all of the incident's, soonest first, when the
    caller read them already."""
    from .models import Deadline

    responses = {
        r.rule_key: r for r in incident.escalation_responses.select_related("acknowledged_by")
    }
    if deadlines is None:
        fired = list(
            incident.deadlines.filter(kind="escalation", status=Deadline.Status.FIRED).exclude(
                key__in=list(responses)
            )
        )
    else:
        fired = [
            d
            for d in deadlines
            if d.kind == "escalation"
            and d.status == Deadline.Status.FIRED
            and d.key not in responses
        ]
    if fired:
        contacts = {c.role: c for c in EscalationContact.objects.all()}
        # The response time as its deadline was planned (the policy at the last re-plan).
        responding = (
            incident.deadlines.filter(kind="response")
            if deadlines is None
            else [d for d in deadlines if d.kind == "response"]
        )
        planned = {d.data.get("rule_key"): d.data.get("minutes") for d in responding}
    for deadline in fired:
        contact = contacts.get(deadline.data.get("target"))
        if contact is None:
            continue
        minutes = planned.get(deadline.key) or contact.response_minutes
        responses[deadline.key] = EscalationResponse(
            incident=incident,
            rule_key=deadline.key,
            target=contact.role,
            contact_name=contact.name,
            response_minutes=minutes,
            trigger=deadline.data.get("trigger", ""),
            paged_at=deadline.fired_at,
            due_at=deadline.fired_at + timedelta(minutes=minutes),
        )
    return sorted(responses.values(), key=lambda r: (r.paged_at, r.pk or 0))


def _pages_of(incident: Incident, responses) -> QuerySet:
    """The pages of the escalations behind `responses` (one rule key each)."""
    from .models import Page

    return Page.objects.filter(incident=incident, rule_key__in=[r.rule_key for r in responses])


def escalation_response_people(incident: Incident, responses) -> dict[str, list[str]]:
    """rule key -> the usernames its escalation paged, in one query."""
    people: dict[str, set[str]] = {r.rule_key: set() for r in responses}
    for key, name in _pages_of(incident, responses).values_list("rule_key", "recipient__username"):
        people[key].add(name)
    return {key: sorted(names) for key, names in people.items()}


def escalation_responses_paging(incident: Incident, user, responses) -> list:
    """Those of `responses` whose escalation paged `user`."""
    if user is None or not user.is_authenticated or not responses:
        return []
    keys = set(
        _pages_of(incident, responses).filter(recipient=user).values_list("rule_key", flat=True)
    )
    return [r for r in responses if r.rule_key in keys]


def escalation_awaits(incident: Incident, user) -> bool:
    """Whether `user` was paged as an escalation contact (5.3) and has not answered yet."""
    if user is None or not user.is_authenticated:
        return False
    open_ = [r for r in escalation_responses_current(incident) if r.status != "acknowledged"]
    return bool(escalation_responses_paging(incident, user, open_))


# The escalation deadlines that page someone: not those cancelled or skipped by a catch-up.
LADDER_REACHES = ("pending", "fired")


def escalation_contacts_engaged(incident: Incident, at, deadlines: list | None = None) -> set[str]:
    """The 5.3 contacts already reached for `incident` by `at`: paged (a response is timed),
    or due to be paged by a 5.1 rule now (a deadline due by `at`, pending or fired), so the
    next step after a late contact is never one the ladder is paging anyway. `deadlines`: all
    of the incident's, when the caller read them already."""
    from .models import Deadline

    engaged = set(incident.escalation_responses.values_list("target", flat=True))
    if deadlines is None:
        due = Deadline.objects.filter(
            incident=incident, kind="escalation", due_at__lte=at, status__in=LADDER_REACHES
        )
    else:
        due = [
            d
            for d in deadlines
            if d.kind == "escalation" and d.due_at <= at and d.status in LADDER_REACHES
        ]
    engaged |= {d.data.get("target") for d in due if d.data.get("target")}
    return engaged


def escalation_responses_for(incident: Incident, deadlines: list | None = None) -> list[dict]:
    """Each escalation contact paged about the incident (5.3): who, when, until when they had
    to answer, whether they did (`awaiting`, `acknowledged`, `late`), and for a late one still
    unanswered the next contact offered (`next_contact`) until it is paged (`next_response`).
    `deadlines`: all of the incident's, soonest first, when the caller read them already."""
    from .escalation import escalation_next_contact

    responses = escalation_responses_current(incident, deadlines)
    if not responses:
        return []
    people = escalation_response_people(incident, responses)
    contacts = list(EscalationContact.objects.order_by("id"))
    paged = escalation_contacts_engaged(incident, timezone.now(), deadlines)
    out = []
    for r in responses:
        following = None
        if r.status == "late" and r.next_response_id is None and incident.is_open:
            following = escalation_next_contact(r.target, incident, contacts, paged)
        out.append(
            {
                "id": r.pk,
                "key": r.rule_key,
                "contact": r.target,
                "contact_name": r.contact_name,
                "people": people[r.rule_key],
                "paged_at": r.paged_at,
                "response_minutes": r.response_minutes,
                "due_at": r.due_at,
                "status": r.status,
                "acknowledged_at": r.acknowledged_at,
                "acknowledged_by": r.acknowledged_by.username if r.acknowledged_by else None,
                "late_at": r.late_at,
                "next_contact": (
                    {
                        "role": following.role,
                        "name": following.name,
                        "response_minutes": following.response_minutes,
                    }
                    if following is not None
                    else None
                ),
                "next_response": r.next_response_id,
            }
        )
    return out


def incident_bridge(incident: Incident, user, policy: SeverityPolicy | None = None) -> dict:
    """The bridge call (6.1) as the incident shows it: the link ("" when there is none), the
    severity's setting, what it is in words, and whether `user` may ask for one now."""
    setting = (policy or policy_for(incident.severity)).bridge
    severity = incident.severity
    if not incident.bridge_url:
        label = f"No bridge (6.1: {severity} has none unless the IC asks for one)"
        if setting != "none":
            label = f"No bridge yet (6.1: {severity} policy: {setting})"
    elif setting == "required":
        label = f"Video bridge (6.1: always for {severity})"
    elif setting == "recommended":
        label = f"Voice bridge (6.1: recommended for {severity})"
    elif incident.bridge_requested_at is not None:
        label = "Bridge (opened at the IC's request)"
    else:
        label = f"Bridge (6.1: {severity} policy: none)"
    return {
        "url": incident.bridge_url,
        "setting": setting,
        "label": label,
        "requested_at": incident.bridge_requested_at,
        "can_request": (
            incident.is_open
            and not incident.bridge_url
            and can_request_bridge(user, incident_ic_id(incident))
        ),
    }


# --- policy in force ----------------------------------------------------------------------------
def _ensure_policy() -> None:
    if not PolicySettings.objects.filter(pk=1).exists():
        from .services.policy import policy_seed_defaults

        policy_seed_defaults()


# The rows read so far in a `policy_read_once` block, by (model, lookup); None outside one.
_POLICY_READ: ContextVar[dict | None] = ContextVar("policy_read", default=None)


@contextmanager
def policy_read_once():
    """Inside, each row of the policy in force is read from the database once and reused: a
    declaration or a re-plan asks for its severity's policy in several places (the bridge, the
    escalations, each deadline kind, the comms cadence). Nothing inside may edit the policy.
    Outside, every call reads anew, so an SRE lead's edit applies to the next one."""
    if _POLICY_READ.get() is not None:  # nested: the outer block's reads stand
        yield
        return
    token = _POLICY_READ.set({})
    try:
        yield
    finally:
        _POLICY_READ.reset(token)


def _policy_row(model, **lookup):
    """The row, seeding the procedures' defaults first on a database that has none (one query
    when it is there, as it is but on a fresh database)."""
    read = _POLICY_READ.get()
    key = (model, tuple(lookup.items()))
    if read is not None and key in read:
        return read[key]
    try:
        row = model.objects.get(**lookup)
    except model.DoesNotExist:
        _ensure_policy()
        row = model.objects.get(**lookup)
    if read is not None:
        read[key] = row
    return row


def policy_settings() -> PolicySettings:
    return _policy_row(PolicySettings, pk=1)


def policy_for(severity: str) -> SeverityPolicy:
    return _policy_row(SeverityPolicy, severity=severity)


def policy_rules_enabled() -> list[EscalationRule]:
    """The escalation rules in force (5.1), read once in a `policy_read_once` block."""
    read = _POLICY_READ.get()
    if read is not None and EscalationRule in read:
        return read[EscalationRule]
    policy_settings()  # seeds the defaults on a fresh database
    rules = list(EscalationRule.objects.filter(enabled=True))
    if read is not None:
        read[EscalationRule] = rules
    return rules


def policy_document() -> dict:
    """The whole policy in force, as `GET /api/v1/policy/` shows it."""
    _ensure_policy()
    return {
        "settings": PolicySettings.objects.get(pk=1),
        "severities": list(SeverityPolicy.objects.order_by("severity")),
        "escalation_rules": list(EscalationRule.objects.all()),
        "escalation_contacts": list(EscalationContact.objects.all()),
    }


# --- timers ------------------------------------------------------------------------------------
def deadlines_for_user(user) -> QuerySet:
    from .models import Deadline

    return Deadline.objects.filter(incident__in=incident_list_for_user(user)).select_related(
        "incident"
    )


def pages_for_user(user) -> QuerySet:
    from .models import Page

    return Page.objects.filter(incident__in=incident_list_for_user(user)).select_related(
        "recipient"
    )


def _percentile(sorted_values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def deadline_lateness_stats(user, *, since=None) -> dict:
    """How late fired deadlines fired (milliseconds): count, p50, p90, p99, max."""
    qs = deadlines_for_user(user).filter(status="fired", lateness_ms__isnull=False)
    if since is not None:
        qs = qs.filter(fired_at__gte=since)
    values = sorted(qs.values_list("lateness_ms", flat=True))
    return {
        "count": len(values),
        "p50_ms": _percentile(values, 0.50),
        "p90_ms": _percentile(values, 0.90),
        "p99_ms": _percentile(values, 0.99),
        "max_ms": values[-1] if values else None,
    }


# --- people, catalog, accounts ----------------------------------------------------------------
def service_list() -> QuerySet[Service]:
    """The services catalog (9.2), with each owning team and its subject matter experts."""
    return Service.objects.select_related("team").prefetch_related(
        Prefetch("experts", queryset=User.objects.order_by("username"))
    )


def service_ids(**lookup) -> list[int]:
    """The ids of the services matching `lookup` (the incident list's `?service=`, `?team=`)."""
    return list(Service.objects.filter(**lookup).values_list("id", flat=True))


def service_experts_among(services: list[Service], user) -> bool:
    """Whether `user` is a subject matter expert of any of `services` (procedures 3.2)."""
    return Service.experts.through.objects.filter(
        service_id__in=[s.pk for s in services], user_id=user.pk
    ).exists()


def user_list_for(actor) -> QuerySet[User]:
    """Everyone, by username, for an SRE lead (PermissionDenied for anyone else)."""
    require_sre_lead(actor)
    return User.objects.select_related("team").prefetch_related("groups").order_by("username")


def user_active_get(user_id) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True).first()


def incident_for_ack_link(incident_id) -> Incident | None:
    """The incident a signed acknowledge link names (the link itself is the credential; what
    the page may show of it is decided by `incidents.redaction`)."""
    return Incident.objects.select_related("acknowledged_by").filter(pk=incident_id).first()


def api_token_list_for(user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def audit_event_list() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.select_related("target_user")


def policy_change_recent(limit: int = 20) -> list[PolicyChange]:
    return list(PolicyChange.objects.select_related("changed_by")[:limit])


# --- on-call ----------------------------------------------------------------------------------
def schedule_list(*, team_slug: str = "") -> QuerySet[Schedule]:
    schedules = Schedule.objects.select_related("team").prefetch_related("rotations")
    return schedules.filter(team__slug=team_slug) if team_slug else schedules


def schedule_get(slug: str) -> Schedule:
    schedule = Schedule.objects.filter(slug=slug).select_related("team").first()
    if schedule is None:
        raise Http404("No schedule with that slug.")
    return schedule


def schedule_for_feed_token(token: str) -> Schedule:
    schedule = Schedule.objects.select_related("team").filter(feed_token=token).first()
    if schedule is None:
        raise Http404("No schedule with that feed token.")
    return schedule


def contact_method_list_for(user) -> QuerySet[ContactMethod]:
    return ContactMethod.objects.filter(user=user)


def user_for_feed_token(token: str) -> User:
    user = User.objects.filter(feed_token=token, is_active=True).first()
    if user is None:
        raise Http404("No calendar with that feed token.")
    return user


# --- the delivery outbox (incidents/outbox.py) -----------------------------------------------
OUTBOX_COLUMNS = (
    "pk",
    "idempotency_key",
    "status",
    "attempts",
    "next_attempt_at",
    "lease_until",
    "last_error",
    "response_code",
    "created_at",
    "sent_at",
)


def outbox_rows_of_kind(user, kind: str, *, for_update: bool = False) -> QuerySet:
    """The rows of outbox `kind` that `user` may see: none about an incident they may not
    open (a row about several incidents, such as a review digest, only if they may open
    every one). Raises LookupError for a kind not registered."""
    from .outbox import outbox_kind

    spec = outbox_kind(kind)
    rows = spec.model.objects.all()
    if for_update:
        rows = rows.select_for_update(of=("self",))
    if spec.incident_path and not sees_every_incident(user):
        hidden = Incident.objects.exclude(pk__in=incident_list_for_user(user).values("pk"))
        rows = rows.exclude(**{f"{spec.incident_path}__in": hidden})
    return rows


class OutboxListing:
    """The rows of several outbox kinds as one list, newest first, for a paginator: its length
    is the sum of the kinds' counts, and a slice reads at most its end's number of rows from
    each kind (a page never reads a whole table)."""

    def __init__(self, querysets: dict):
        self.querysets = querysets

    def __len__(self) -> int:
        return sum(qs.count() for qs in self.querysets.values())

    def count(self) -> int:
        return len(self)

    def __getitem__(self, window: slice) -> list[dict]:
        end = window.stop
        rows = []
        for kind, qs in self.querysets.items():
            for row in qs.order_by("-created_at", "-pk")[:end]:
                rows.append(_outbox_row(kind, row))
        rows.sort(key=lambda r: (r["created_at"], r["kind"], r["pk"]), reverse=True)
        return rows[window]


def _outbox_values(spec, rows) -> QuerySet:
    """`rows` as dicts of OUTBOX_COLUMNS and `outbox_incident`: the incident a row is about,
    None for a row about several (or none)."""
    from django.db.models import F, IntegerField, Value

    single = spec.incident_path and not spec.many_incidents
    incident = F(spec.incident_path) if single else Value(None, output_field=IntegerField())
    return rows.annotate(outbox_incident=incident).values(*OUTBOX_COLUMNS, "outbox_incident")


def _outbox_row(kind: str, values: dict) -> dict:
    row = {"kind": kind, **values}
    row["incident"] = row.pop("outbox_incident")
    return row


def outbox_list_for_user(
    user, *, kind: str | None = None, status: str | None = None, incident_id: int | None = None
) -> OutboxListing:
    """The outbox rows `user` may see (outbox_rows_of_kind), of one kind or all, optionally in
    one status and about one incident: the one read behind the API list and the admin page.

    SRE leads only (PermissionDenied for anyone else). A `kind` or `status` no registered kind
    has is a RuleViolation naming it; an incident `user` may not open is Http404, like one
    that does not exist."""
    from .outbox import OUTBOX_KINDS, outbox_statuses

    require_sre_lead(user)
    if kind is not None and kind not in OUTBOX_KINDS:
        raise RuleViolation(
            f"no outbox kind {_quoted(kind)}; kind must be one of "
            f"{', '.join(sorted(OUTBOX_KINDS))}.",
            rule="kind",
            field="kind",
        )
    if status is not None and status not in outbox_statuses():
        raise RuleViolation(
            f"no delivery status {_quoted(status)}; status must be one of "
            f"{', '.join(outbox_statuses())}.",
            rule="status",
            field="status",
        )
    if incident_id is not None:
        incident_get_for_user(user, incident_id)  # Http404 unless `user` may open it
    querysets = {}
    for name in [kind] if kind else sorted(OUTBOX_KINDS):
        spec = OUTBOX_KINDS[name]
        rows = outbox_rows_of_kind(user, name)
        if status:
            rows = rows.filter(status=status)
        if incident_id is not None:
            if not spec.incident_path:
                continue
            rows = rows.filter(**{spec.incident_path: incident_id}).distinct()
        querysets[name] = _outbox_values(spec, rows)
    return OutboxListing(querysets)


def _quoted(value: str, limit: int = 40) -> str:
    """A value someone typed, quoted for a message that names it (cut short if long)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def outbox_row_for_user(user, kind: str, row_id: int) -> dict:
    """One row as the list shows it (Http404 if not one `user` may see)."""
    from .outbox import outbox_kind

    row = _outbox_values(outbox_kind(kind), outbox_rows_of_kind(user, kind).filter(pk=row_id))
    found = row.first()
    if found is None:
        raise Http404("No such delivery in this outbox kind.")
    return _outbox_row(kind, found)
