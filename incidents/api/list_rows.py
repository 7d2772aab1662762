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

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework.fields import DateTimeField
from rest_framework.renderers import JSONRenderer

from ..db import planned_once_cursor
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


def incident_list_rows_json(page_ids: QuerySet) -> bytes:
    """The page's rows as a JSON array (bytes), the same as `incident_list_rows` writes them.

    On PostgreSQL with the current time zone UTC (the API's, settings.TIME_ZONE), the
    database writes the array itself in one query (`_ROWS_SQL`) after the page's ids are
    read: measured with bench/load.py --varied (issue 15), building a page in Python cost
    ~10 ms of CPU (the ORM compiling three queries, psycopg parsing ~400 times, the rows,
    JSON encoding), more than everything else a request does; PostgreSQL writes the same
    array in well under a millisecond. Elsewhere (SQLite, another time zone) the rows are
    built here."""
    if connection.vendor != "postgresql" or timezone.get_current_timezone_name() != "UTC":
        return JSONRenderer().render(incident_list_rows(page_ids))
    ids = list(page_ids)
    if not ids:
        return b"[]"
    with planned_once_cursor() as cursor:
        cursor.execute(_ROWS_SQL, [ids, ids])
        return cursor.fetchone()[0].encode()


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


def _sql_time(column: str) -> str:
    """`_time` in SQL for a UTC timestamp: ISO 8601, microseconds only when there are any
    (six digits, as isoformat writes them), "Z" for UTC; NULL stays NULL. One to_char and a
    replace: 3.3 -> 3.0 ms for a page of 50 against formatting the parts apart."""
    pattern = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''
    return f"replace(to_char({column} AT TIME ZONE 'UTC', {pattern}), '.000000Z', 'Z')"


def _sql_seconds(start: str, end: str) -> str:
    """`_seconds` in SQL: whole seconds, truncated toward zero as int() does."""
    return f"trunc(extract(epoch FROM {end} - {start}))::bigint"


def _rows_sql() -> str:
    """One query writing the page's rows as a JSON array, keys in FIELDS' order, the
    services and active roles as `_services` and `_roles` read them; params: the ids twice
    (their order, and which rows). Names from model metadata only."""
    incident, roles = Incident._meta, RoleAssignment._meta
    users = roles.get_field("user").related_model._meta.db_table
    link = Incident.services.through._meta
    services = Incident.services.field.related_model._meta.db_table
    to_incident = link.get_field(Incident.services.field.m2m_field_name()).column
    to_service = link.get_field(Incident.services.field.m2m_reverse_field_name()).column

    def i(name: str) -> str:
        return f'i."{incident.get_field(name).column}"'

    def r(name: str) -> str:
        return f'r."{roles.get_field(name).column}"'

    role = ", ".join(
        [
            f"'role', {r('role')}",
            "'username', u.username",
            # User.get_full_name() and str.strip(): blanks, tabs, line ends (\x0b: \v).
            "'name', btrim(u.first_name || ' ' || u.last_name, E' \\t\\n\\r\\f\\x0b')",
            "'rank', u.rank",
            f"'assigned_at', {_sql_time(r('assigned_at'))}",
        ]
    )
    computed = {
        "reference": f"'INC-' || {i('id')}",
        "services": f"""coalesce((
            SELECT json_agg(s.slug ORDER BY s.name)
            FROM "{link.db_table}" x JOIN "{services}" s ON s.id = x."{to_service}"
            WHERE x."{to_incident}" = i.id), '[]')""",  # noqa: S608  # nosec B608  # metadata names
        "ttd_seconds": _sql_seconds(i("started_at"), i("detected_at")),
        "ttm_seconds": _sql_seconds(i("detected_at"), i("mitigated_at")),
        "ttr_seconds": _sql_seconds(i("detected_at"), i("resolved_at")),
        "declared_by": "d.username",
        "acknowledged_by": "a.username",
        "roles": f"""coalesce((
            SELECT json_agg(json_build_object({role}) ORDER BY {r("assigned_at")}, r.id)
            FROM "{roles.db_table}" r JOIN "{users}" u ON u.id = {r("user")}
            WHERE {r("incident")} = i.id AND {r("relieved_at")} IS NULL), '[]')""",  # noqa: S608  # nosec B608  # metadata names
    }
    values = ", ".join(
        f"'{name}', "
        + (computed[name] if name in computed else _sql_time(i(name)) if name in TIMES else i(name))
        for name in FIELDS
    )
    return f"""
        SELECT coalesce(json_agg(json_build_object({values})
                        ORDER BY array_position(%s::bigint[], i.id)), '[]')::text
        FROM "{incident.db_table}" i
        LEFT JOIN "{users}" d ON d.id = {i("declared_by")}
        LEFT JOIN "{users}" a ON a.id = {i("acknowledged_by")}
        WHERE i.id = ANY(%s::bigint[])"""  # noqa: S608  # nosec B608  # names from model metadata


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


_ROWS_SQL = _rows_sql()
