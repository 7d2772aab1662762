"""What the public status page shows, computed from the database.

The one public visibility rule lives in `public_incidents`: an incident is public once a
status-page `Update` has been posted for it, never when it is a drill, and a security
incident only once the security group approved its public title and text; it is then shown
by that public title alone, with no components (which services a breach touches is one of its
details; it counts in the overall status). Everything public (HTML, JSON, feeds, subscriber
emails) reads through here, and only status-page updates are ever read. No person is ever
named: posters, declarers and role holders are not selected at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from incidents.models import Incident, Service
from incidents.redaction import PUBLIC_READY, incident_public_services, incident_public_title
from incidents.states import Severity, Status

from ..models import Maintenance, Update

HISTORY_DAYS = 90
FEED_ITEMS = 50


class ComponentState:
    """Public component states, best first. A state's rank orders them: worst wins."""

    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    ORDER = (OPERATIONAL, DEGRADED, PARTIAL_OUTAGE, MAJOR_OUTAGE)
    LABELS = {
        OPERATIONAL: "Operational",
        DEGRADED: "Degraded performance",
        PARTIAL_OUTAGE: "Partial outage",
        MAJOR_OUTAGE: "Major outage",
    }
    # An open P4 incident leaves its components operational, but is itself still a problem.
    INCIDENT_LABELS = {**LABELS, OPERATIONAL: "Minor issue"}
    OVERALL = {
        OPERATIONAL: "All systems operational",
        DEGRADED: "Some systems degraded",
        PARTIAL_OUTAGE: "Partial outage",
        MAJOR_OUTAGE: "Major outage",
    }
    BY_SEVERITY = {
        Severity.P1: MAJOR_OUTAGE,
        Severity.P2: PARTIAL_OUTAGE,
        Severity.P3: DEGRADED,
        Severity.P4: OPERATIONAL,
    }

    @classmethod
    def worst(cls, states) -> str:
        return max(states, key=cls.ORDER.index, default=cls.OPERATIONAL)


# Not a drill; a security incident only with its public words approved (incidents.redaction).
PUBLIC = Q(drill=False) & PUBLIC_READY


def public_updates() -> QuerySet[Update]:
    """Status-page updates of incidents that may be shown publicly."""
    public = Incident.objects.filter(PUBLIC).values("pk")
    return Update.objects.filter(channel=Update.Channel.STATUS_PAGE, incident__in=public)


def public_incidents() -> QuerySet[Incident]:
    """Incidents the public may see: posted to the status page, not a drill, and not a
    security incident unless its public title and text are approved."""
    posted = Update.objects.filter(incident=OuterRef("pk"), channel=Update.Channel.STATUS_PAGE)
    return Incident.objects.filter(Exists(posted)).filter(PUBLIC)


# --- the snapshot the page, the JSON and the feeds render -----------------------------------
@dataclass
class PublicUpdate:
    id: int
    label: str
    template: str
    text: str
    posted_at: datetime


@dataclass
class PublicIncident:
    id: int
    title: str
    status: str  # the last state published on the status page, never the internal one
    status_label: str
    state: str
    state_label: str
    started_at: datetime
    components: list[tuple[str, str]]  # (slug, name)
    updates: list[PublicUpdate]  # newest first
    resolved_at: datetime | None = None


@dataclass
class Component:
    slug: str
    name: str
    state: str
    state_label: str
    days: list[tuple[date, str, str, int]] = field(default_factory=list)
    # (day, state, label, number of public incidents that day)

    @property
    def incident_days(self) -> int:
        return sum(1 for *_, count in self.days if count)


@dataclass
class PublicMaintenance:
    id: int
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    in_progress: bool
    components: list[tuple[str, str]]


@dataclass
class StatusSnapshot:
    generated_at: datetime
    overall: str
    overall_label: str
    components: list[Component]
    incidents: list[PublicIncident]
    maintenances: list[PublicMaintenance]
    days: list[date]
    past: list[PublicIncident] = field(default_factory=list)  # resolved, last HISTORY_DAYS


def _update_label(update: Update) -> str:
    return update.get_template_display() if update.template else "Update"


def _published_state(updates: list[PublicUpdate]) -> str:
    """The incident's state as the public was last told it: the newest update posted with a
    state template (investigating, identified, monitoring, resolved); investigating when no
    update named one. What the responders know meanwhile is not published by itself."""
    return next((u.template for u in updates if u.template), Update.Template.INVESTIGATING)


def _public(incidents: QuerySet[Incident]) -> list[PublicIncident]:
    """The public form of `incidents` (already filtered to public ones), in two queries
    besides theirs: their services and their status-page updates."""
    newest_first = Update.objects.filter(channel=Update.Channel.STATUS_PAGE).order_by(
        "-posted_at", "-id"
    )
    rows = incidents.only(
        "id",
        "title",
        "public_title",
        "security",
        "status",
        "severity",
        "started_at",
        "detected_at",
        "resolved_at",
    ).prefetch_related(
        Prefetch("services", queryset=Service.objects.only("id", "slug", "name")),
        Prefetch("updates", queryset=newest_first, to_attr="public_updates"),
    )
    result = []
    for incident in rows:
        state = ComponentState.BY_SEVERITY[incident.severity]
        updates = [
            PublicUpdate(u.pk, _update_label(u), u.template, u.text, u.posted_at)
            for u in incident.public_updates
        ]
        published = _published_state(updates)
        result.append(
            PublicIncident(
                id=incident.pk,
                title=incident_public_title(incident),
                status=published,
                status_label=Update.Template(published).label,
                state=state,
                state_label=ComponentState.INCIDENT_LABELS[state],
                started_at=incident.started_at or incident.detected_at,
                components=[
                    (s.slug, s.name)
                    for s in incident_public_services(incident, incident.services.all())
                ],
                updates=updates,
                resolved_at=incident.resolved_at,
            )
        )
    return result


def _active_incidents() -> list[PublicIncident]:
    return _public(
        public_incidents().exclude(status=Status.RESOLVED).order_by("-detected_at", "-id")
    )


def _past_incidents(now: datetime) -> list[PublicIncident]:
    """Resolved public incidents of the last HISTORY_DAYS days, the latest first."""
    since = now - timedelta(days=HISTORY_DAYS)
    return _public(
        public_incidents()
        .filter(status=Status.RESOLVED, resolved_at__gte=since)
        .order_by("-resolved_at", "-id")
    )


def public_incident_exists(incident_id: int) -> bool:
    """Whether the public may see the incident (one query), before its page is built."""
    return public_incidents().filter(pk=incident_id).exists()


def public_incident_get(incident_id: int) -> PublicIncident | None:
    """One incident as the public may see it (its permanent page), or None: missing, a drill,
    a security incident without approved public words, or never posted to the status page
    look the same."""
    found = _public(public_incidents().filter(pk=incident_id))
    return found[0] if found else None


def _history(services: list[Service], today: date, now: datetime) -> dict[int, list]:
    """service id -> [(day, state, label, count)] for the last HISTORY_DAYS days (UTC), the
    worst public state of any incident whose impact overlapped that day."""
    first = today - timedelta(days=HISTORY_DAYS - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    rows = (
        public_incidents()
        .filter(security=False)  # a security incident is shown without components
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=start), detected_at__lte=now)
        .values_list("pk", "severity", "started_at", "detected_at", "resolved_at", "services")
    )
    worst: dict[tuple[int, date], str] = {}
    counts: dict[tuple[int, date], set] = defaultdict(set)
    for pk, severity, started_at, detected_at, resolved_at, service_id in rows:
        if service_id is None:
            continue
        begin = max((started_at or detected_at).date(), first)
        end = min((resolved_at or now).date(), today)
        state = ComponentState.BY_SEVERITY[severity]
        day = begin
        while day <= end:
            key = (service_id, day)
            worst[key] = ComponentState.worst([worst.get(key, ComponentState.OPERATIONAL), state])
            counts[key].add(pk)
            day += timedelta(days=1)
    history = {}
    for service in services:
        days = []
        for offset in range(HISTORY_DAYS):
            day = first + timedelta(days=offset)
            state = worst.get((service.pk, day), ComponentState.OPERATIONAL)
            days.append((day, state, ComponentState.LABELS[state], len(counts[(service.pk, day)])))
        history[service.pk] = days
    return history


def _maintenances(now: datetime) -> list[PublicMaintenance]:
    rows = (
        Maintenance.objects.filter(ends_at__gt=now)
        .prefetch_related(Prefetch("services", queryset=Service.objects.only("id", "slug", "name")))
        .order_by("starts_at", "id")
    )
    return [
        PublicMaintenance(
            id=m.pk,
            title=m.title,
            description=m.description,
            starts_at=m.starts_at,
            ends_at=m.ends_at,
            in_progress=m.starts_at <= now,
            components=[(s.slug, s.name) for s in m.services.all()],
        )
        for m in rows
    ]


def status_snapshot(now: datetime) -> StatusSnapshot:
    """Everything the status page shows at `now` (a handful of queries, none per row)."""
    services = list(Service.objects.only("id", "slug", "name").order_by("name"))
    incidents = _active_incidents()
    today = now.date()
    history = _history(services, today, now)
    components = []
    for service in services:
        state = ComponentState.worst(
            i.state for i in incidents if service.slug in {slug for slug, _ in i.components}
        )
        components.append(
            Component(
                service.slug,
                service.name,
                state,
                ComponentState.LABELS[state],
                history[service.pk],
            )
        )
    overall = ComponentState.worst([c.state for c in components] + [i.state for i in incidents])
    return StatusSnapshot(
        generated_at=now,
        overall=overall,
        overall_label=ComponentState.OVERALL[overall],
        components=components,
        incidents=incidents,
        maintenances=_maintenances(now),
        days=[today - timedelta(days=n) for n in range(HISTORY_DAYS - 1, -1, -1)],
        past=_past_incidents(now),
    )


def status_feed_updates(limit: int = FEED_ITEMS) -> list[Update]:
    """The newest public updates, for the feeds, with the incident and its services."""
    return list(
        public_updates()
        .select_related("incident")
        .only(
            "id",
            "template",
            "text",
            "posted_at",
            "incident__id",
            "incident__title",
            "incident__public_title",
            "incident__security",
            "incident__severity",
        )
        .prefetch_related(
            Prefetch("incident__services", queryset=Service.objects.only("id", "slug", "name"))
        )
        .order_by("-posted_at", "-id")[:limit]
    )
