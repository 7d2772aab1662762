"""The data bench/load.py runs against: people, services and incidents with what a real
history leaves behind them (services affected, roles held and handed over, timeline events,
status-page updates for the public ones), written with PostgreSQL's COPY.

Rows are written directly, not through the services: declaring 100,000 incidents through
`incident_declare` would take the better part of an hour, and the endpoints under test only
read these rows. The shapes follow what the services write (one active holder per role, a
milestone for every status reached, a timeline event for each step).
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

HISTORY_DAYS = 3 * 365
OPEN_INCIDENTS = 40  # the newest ones; everything older is resolved
SECURITY_EVERY = 50  # 2 % security incidents (visible to the security group and role holders)
DRILL_EVERY = 97  # ~1 % drills
SEVERITY_WEIGHTS = {"P1": 4, "P2": 14, "P3": 42, "P4": 40}
SERVICES = 20  # the six of the catalog migration topped up with bench services
PEOPLE = 40
TITLES = [
    "{svc} returning 5xx for a share of requests",
    "{svc} latency above twice its baseline",
    "{svc} unavailable in eu-west-1",
    "Elevated error rate on {svc}",
    "{svc} queue backlog growing",
    "Certificate about to expire on {svc}",
]
DETECTION = ["monitoring", "monitoring", "health_check", "customer_report", "internal_report"]


class Seeder:
    """Writes `total` incidents in slices (`add(count)`), so the caller can measure between
    slices. The first `newest` incidents written are the newest by detection time (the open
    ones among them), so the first page of the list is the same on the small database (the
    first slice) and on the large one: what changes between the two is only the rows behind
    it."""

    def __init__(self, total: int, newest: int, seed: int = 8):
        from django.contrib.auth.models import Group
        from django.db.models import Max

        from incidents.models import Incident, Service, Team, User
        from incidents.states import GroupName, Rank

        self.rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.total, self.newest = total, newest
        self.first_id = (Incident.objects.aggregate(n=Max("id"))["n"] or 0) + 1
        self.next_id = self.first_id
        self.timings: dict[str, float] = {}
        team = Team.objects.get(slug="platform")
        for n in range(Service.objects.count(), SERVICES):
            Service.objects.create(
                slug=f"bench-{n}", name=f"Bench service {n}", team=team, runbook="-"
            )
        self.services = list(Service.objects.order_by("id").values_list("id", "name"))
        ladder = [Rank.ENGINEER, Rank.SENIOR_ENGINEER, Rank.ENGINEERING_MANAGER]
        people = User.objects.bulk_create(
            User(
                username=f"responder{n}",
                first_name=f"Responder{n}",
                last_name="Bench",
                rank=ladder[n % 3],
                team=team,
                password="!",  # unusable: nobody logs in as them
                feed_token=f"bench-feed-{n}",
            )
            for n in range(PEOPLE)
        )
        responder = Group.objects.get(name=GroupName.RESPONDER)
        commander = Group.objects.get(name=GroupName.INCIDENT_COMMANDER)
        User.groups.through.objects.bulk_create(
            User.groups.through(user_id=p.pk, group_id=g.pk)
            for n, p in enumerate(people)
            for g in ([responder, commander] if n % 3 else [responder])
        )
        self.people = [p.pk for p in people]
        self.commanders = [p.pk for n, p in enumerate(people) if n % 3]

    # --- one slice -------------------------------------------------------------------------
    def add(self, count: int) -> dict:
        """The next `count` incidents with their related rows; how many rows of each."""
        started = time.perf_counter()
        rows = {"incidents": [], "services": [], "roles": [], "timeline": [], "updates": []}
        for incident_id in range(self.next_id, self.next_id + count):
            self._incident(incident_id, self._position(incident_id), rows)
        self.next_id += count
        built = time.perf_counter()
        self._copy(rows)
        copied = time.perf_counter()
        self.timings["build_rows_s"] = self.timings.get("build_rows_s", 0) + built - started
        self.timings["copy_s"] = self.timings.get("copy_s", 0) + copied - built
        return {name: len(values) for name, values in rows.items()}

    def _position(self, pk: int) -> int:
        """0 for the oldest incident, total - 1 for the newest."""
        n = pk - self.first_id
        return self.total - self.newest + n if n < self.newest else n - self.newest

    def _incident(self, pk: int, position: int, rows: dict) -> None:
        rng, total = self.rng, self.total
        age = timedelta(minutes=(total - position) * HISTORY_DAYS * 24 * 60 / total)
        detected = self.now - age - timedelta(seconds=rng.randint(0, 59))
        severity = rng.choices(list(SEVERITY_WEIGHTS), list(SEVERITY_WEIGHTS.values()))[0]
        is_open = total - position <= OPEN_INCIDENTS
        status = _open_status(pk) if is_open else "resolved"
        services = rng.sample(self.services, rng.choice((1, 1, 2, 3)))
        declared = detected + timedelta(seconds=rng.randint(0, 240))
        acknowledged = declared + timedelta(seconds=rng.randint(30, 600))
        identified = acknowledged + timedelta(minutes=rng.randint(5, 90))
        mitigated = identified + timedelta(minutes=rng.randint(5, 120))
        resolved = mitigated + timedelta(minutes=rng.randint(30, 240))
        reached = {
            "investigating": 0,
            "identified": 1,
            "monitoring": 2,
            "resolved": 3,
        }[status]
        security, drill = pk % SECURITY_EVERY == 0, pk % DRILL_EVERY == 0
        declarer, acknowledger = rng.choice(self.people), rng.choice(self.people)
        title = rng.choice(TITLES).format(svc=services[0][1])
        rows["incidents"].append(
            {
                "id": pk,
                "title": title,
                "description": f"{title}. Dashboards show the rise from {detected:%H:%M} UTC.",
                "symptoms": "Some requests fail or time out.",
                "impact": "A share of customers see errors." if severity in ("P1", "P2") else "",
                "workaround": "",
                "severity": severity,
                "status": status,
                "detection_source": "security_tool" if security else rng.choice(DETECTION),
                "security": security,
                "public_title": "",
                "public_text": "",
                "drill": drill,
                "channel_name": f"#inc-{pk}-bench",
                "bridge_url": "https://meet.tensafe.io/incident",
                "started_at": detected - timedelta(minutes=rng.randint(0, 30))
                if rng.random() < 0.7
                else None,
                "detected_at": detected,
                "declared_at": declared,
                "acknowledged_at": acknowledged,
                "identified_at": identified if reached >= 1 else None,
                "mitigated_at": mitigated if reached >= 2 else None,
                "resolved_at": resolved if reached >= 3 else None,
                "declared_by_id": declarer,
                "acknowledged_by_id": acknowledger,
                "updated_at": [declared, acknowledged, identified, mitigated, resolved][
                    reached + 1
                ],
            }
        )
        rows["services"] += [{"incident_id": pk, "service_id": s[0]} for s in services]
        self._roles(pk, severity, declared, resolved if reached == 3 else None, rows)
        milestones = [identified, mitigated, resolved][:reached]
        self._timeline(pk, declarer, acknowledger, [declared, acknowledged, *milestones], rows)
        # Public (posted to the status page): open P1/P2 and every other P1, about a hundred
        # and fifty over the page's 90 days, as many as bench/status_page.py seeds.
        public = (severity == "P1" and pk % 2 == 0) or (is_open and severity in ("P1", "P2"))
        if public and not security and not drill:
            for template, at in zip(
                ["investigating", "identified", "monitoring", "resolved"],
                [acknowledged, *milestones],
                strict=False,
            ):
                rows["updates"].append(
                    {
                        "incident_id": pk,
                        "channel": "status_page",
                        "template": template,
                        "subject": "",
                        "text": f"{template.title()}: {title}.",
                        "posted_by_id": declarer,
                        "posted_at": at,
                    }
                )

    def _roles(self, pk, severity, declared, resolved, rows) -> None:
        """An IC always (10 % handed over once), a tech lead mostly, a comms lead for P1/P2;
        resolved incidents keep their last holders (relieving is a handover, not the end)."""
        rng = self.rng
        first_ic = rng.choice(self.commanders)
        at = declared + timedelta(minutes=1)
        if rng.random() < 0.1:
            handover = at + timedelta(minutes=rng.randint(20, 120))
            rows["roles"].append(_role(pk, "incident_commander", first_ic, at, handover))
            first_ic, at = rng.choice(self.commanders), handover
        rows["roles"].append(_role(pk, "incident_commander", first_ic, at, None))
        if rng.random() < 0.7:
            rows["roles"].append(_role(pk, "tech_lead", rng.choice(self.people), at, None))
        if severity in ("P1", "P2"):
            rows["roles"].append(_role(pk, "comms_lead", rng.choice(self.people), at, None))

    def _timeline(self, pk, declarer, acknowledger, times, rows) -> None:
        declared, acknowledged, *milestones = times
        events = [
            ("declared", declared, declarer, "Incident declared."),
            ("acknowledged", acknowledged, acknowledger, "Acknowledged."),
            ("note", acknowledged + timedelta(minutes=3), acknowledger, "Looking at dashboards."),
        ]
        for target, at in zip(["identified", "monitoring", "resolved"], milestones, strict=False):
            events.append(("status_changed", at, acknowledger, f"Status changed to {target}."))
        rows["timeline"] += [
            {
                "incident_id": pk,
                "kind": kind,
                "occurred_at": when,
                "recorded_at": when,
                "actor_id": actor,
                "text": text,
                "data": "{}",
            }
            for kind, when, actor, text in events
        ]

    # --- writing ---------------------------------------------------------------------------
    def _copy(self, rows: dict) -> None:
        from django.db import connection, transaction

        from comms.models import Update
        from incidents.models import Incident, RoleAssignment, TimelineEvent

        targets = {
            "incidents": Incident,
            "services": Incident.services.through,
            "roles": RoleAssignment,
            "timeline": TimelineEvent,
            "updates": Update,
        }
        with transaction.atomic(), connection.cursor() as cursor:
            for name, model in targets.items():
                if rows[name]:
                    _copy_rows(cursor, model, rows[name])
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                [Incident._meta.db_table, self.next_id - 1],
            )

    def analyze(self) -> None:
        """VACUUM ANALYZE the tables written: a production database has its statistics and
        visibility map from autovacuum; straight after a bulk load it has neither."""
        from django.db import connection

        from comms.models import Update
        from incidents.models import Incident, RoleAssignment, TimelineEvent

        started = time.perf_counter()
        models = [Incident, Incident.services.through, RoleAssignment, TimelineEvent, Update]
        with connection.cursor() as cursor:
            for model in models:
                cursor.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
        self.timings["vacuum_analyze_s"] = time.perf_counter() - started


def _open_status(pk: int) -> str:
    return ("investigating", "identified", "monitoring")[pk % 3]


def _role(pk, role, user, at, relieved) -> dict:
    return {
        "incident_id": pk,
        "role": role,
        "user_id": user,
        "assigned_at": at,
        "assigned_by_id": user,
        "relieved_at": relieved,
        "relieved_by_id": user if relieved else None,
    }


def _copy_rows(cursor, model, rows: list[dict]) -> None:
    """COPY `rows` (dicts keyed by attribute name) into `model`'s table."""
    names = list(rows[0])
    columns = ", ".join(f'"{model._meta.get_field(_field_name(n)).column}"' for n in names)
    table = model._meta.db_table
    with cursor.cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[n] for n in names])


def _field_name(attname: str) -> str:
    return attname[:-3] if attname.endswith("_id") else attname
