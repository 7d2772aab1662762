"""The incident list's rows, built from `.values()` instead of model instances and DRF
serializers (docs/architecture.md, Conventions: hot lists).

`IncidentOutputSerializer` stays the description of a row (the OpenAPI schema, the detail
view) and the reference: `tests/api/test_list_rows.py` holds this module to the same JSON for
the same page. Measured with bench/load.py: building 50 rows through the serializer (model
instances, prefetch caches, a nested serializer per incident for its roles) cost about ten
times the rest of the request.

Queries: the page, then its services, then its active role holders, one query each whatever
the page size. The page is paginated as ids (`incident_list_ids`: counting them joins nothing,
and skipping to a deep page walks the ordering's index only) and its rows are read through
that slice as a subquery, with the declarer's and acknowledger's usernames joined.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.fields import DateTimeField

from ..models import Incident, RoleAssignment
from .serializers import IncidentOutputSerializer

# The row's keys, in order, are the serializer's; these of them are read as they are stored.
FIELDS = IncidentOutputSerializer.Meta.fields
COLUMNS = tuple(
    f.name for f in Incident._meta.concrete_fields if f.name in FIELDS and not f.is_relation
)
TIMES = frozenset(
    f.name
    for f in Incident._meta.concrete_fields
    if f.name in FIELDS and f.get_internal_type() == "DateTimeField"
)

_drf_time = DateTimeField().to_representation


def _time(value, tz) -> str | None:
    """DRF's DateTimeField output (ISO 8601 in the current time zone, "Z" for UTC), with the
    time zone looked up once per page instead of once per value: a page has ~400 times and
    the look-up was most of their cost. Naive values (never from PostgreSQL or SQLite with
    USE_TZ) go through DRF itself."""
    if value is None:
        return None
    if value.tzinfo is None:
        return _drf_time(value)
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def incident_list_ids(incidents: QuerySet[Incident]) -> QuerySet:
    """`incidents` (already filtered for the user and the query) as ids, to paginate."""
    return incidents.values_list("id", flat=True)


def incident_list_rows(page_ids: QuerySet) -> list[dict]:
    """The JSON rows of one page (a slice of `incident_list_ids`, not evaluated), as
    `IncidentOutputSerializer` writes them: same keys, same order, same values."""
    ordering = page_ids.query.order_by or Incident._meta.ordering
    tz = timezone.get_current_timezone()
    values = list(
        Incident.objects.filter(pk__in=page_ids)
        .order_by(*ordering)
        .values(*COLUMNS, "declared_by__username", "acknowledged_by__username")
    )
    ids = [v["id"] for v in values]
    services = _services(ids)
    roles = _roles(ids, tz)
    return [_row(v, services.get(v["id"], []), roles.get(v["id"], []), tz) for v in values]


def _services(ids: list[int]) -> dict[int, list[str]]:
    """Slugs per incident, in the catalog's order (Service.Meta.ordering: name)."""
    through = Incident.services.through
    out: dict[int, list[str]] = defaultdict(list)
    for incident_id, slug in (
        through.objects.filter(incident_id__in=ids)
        .order_by("service__name")
        .values_list("incident_id", "service__slug")
    ):
        out[incident_id].append(slug)
    return out


def _roles(ids: list[int], tz) -> dict[int, list[dict]]:
    """Active role holders per incident, oldest assignment first (RoleAssignment.Meta)."""
    out: dict[int, list[dict]] = defaultdict(list)
    rows = (
        RoleAssignment.objects.filter(incident_id__in=ids, relieved_at__isnull=True)
        .order_by("assigned_at", "id")
        .values_list(
            "incident_id",
            "role",
            "user__username",
            "user__first_name",
            "user__last_name",
            "user__rank",
            "assigned_at",
        )
    )
    for incident_id, role, username, first, last, rank, assigned_at in rows:
        out[incident_id].append(
            {
                "role": role,
                "username": username,
                "name": f"{first} {last}".strip(),  # User.get_full_name()
                "rank": rank,
                "assigned_at": _time(assigned_at, tz),
            }
        )
    return out


def _seconds(start, end) -> int | None:
    """Incident._seconds: whole seconds between two known times."""
    if start is None or end is None:
        return None
    return int((end - start).total_seconds())


def _row(v: dict, services: list[str], roles: list[dict], tz) -> dict:
    computed = {
        "reference": f"INC-{v['id']}",
        "services": services,
        "ttd_seconds": _seconds(v["started_at"], v["detected_at"]),
        "ttm_seconds": _seconds(v["detected_at"], v["mitigated_at"]),
        "ttr_seconds": _seconds(v["detected_at"], v["resolved_at"]),
        "declared_by": v["declared_by__username"],
        "acknowledged_by": v["acknowledged_by__username"],
        "roles": roles,
    }
    row = {}
    for name in FIELDS:
        if name in computed:
            row[name] = computed[name]
        elif name in TIMES:
            row[name] = _time(v[name], tz)
        else:
            row[name] = v[name]
    return row
