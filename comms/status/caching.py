"""Caching the public status page: one cheap query per request when nothing changed.

Each gunicorn process keeps its own copy in Django's cache (LocMemCache by default), so
nothing relies on invalidating other processes: every request asks the database for a version
(one statement reading the newest ids off primary keys and two tiny tables), and the rendered
body is cached under that version. A new update, any change to an incident (each writes a
timeline event), a maintenance edit, a maintenance starting or ending, a service added or
removed, or a new UTC day gives a new version and so a new render (private changes re-render
to the same body, so the ETag reveals nothing). What the version cannot see (an update
deleted or edited without a timeline event, a service renamed) is bounded by the entry's
lifetime, `STATUS_CACHE_SECONDS`.

The body's hash is the ETag; the newest of the version's timestamps is Last-Modified; both
conditional GETs are answered with 304 (`django.utils.cache.get_conditional_response`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.dateparse import parse_datetime
from django.utils.http import http_date

from incidents.models import Service, TimelineEvent
from incidents.remembered import Remembered

from ..models import Maintenance, Update
from .selectors import StatusSnapshot, status_snapshot

STATUS_CACHE_SECONDS = 60  # bounds staleness the version cannot see
STATUS_MAX_AGE_SECONDS = 15  # what browsers and shared caches may reuse without asking
KEY_PREFIX = "comms.status.v1"


@dataclass(frozen=True)
class StatusVersion:
    key: str
    last_modified: datetime


def _as_datetime(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns text from raw SQL
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def _version_sql() -> str:
    update = Update._meta.db_table
    timeline = TimelineEvent._meta.db_table
    maintenance = Maintenance._meta.db_table
    service = Service._meta.db_table
    # Every change to an incident writes a timeline event in the same transaction
    # (docs/architecture.md, Conventions: "Writes are services") and the timeline is
    # append-only, so its newest id versions every incident
    # (and every update posted through comms' service). Newest ids come off the primary keys;
    # maintenance and services are small tables.
    return f"""
        SELECT
          (SELECT id FROM {update} ORDER BY id DESC LIMIT 1),
          (SELECT id FROM {timeline} ORDER BY id DESC LIMIT 1),
          (SELECT recorded_at FROM {timeline} ORDER BY id DESC LIMIT 1),
          m.n, m.changed, m.started, m.ended, s.n, s.newest
        FROM
          (SELECT COUNT(*) AS n, MAX(updated_at) AS changed,
                  MAX(CASE WHEN starts_at <= %s THEN starts_at END) AS started,
                  MAX(CASE WHEN ends_at <= %s THEN ends_at END) AS ended
           FROM {maintenance}) m,
          (SELECT COUNT(*) AS n, MAX(id) AS newest FROM {service}) s
    """  # noqa: S608  # nosec B608  # table names: model metadata; values: parameters


def status_version(now: datetime) -> StatusVersion:
    """The version of everything the public page shows at `now`, in one query: what changed
    last (update, timeline, maintenance, catalog), which maintenance windows have started or
    ended, and the UTC day (the history's bars move at midnight)."""
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(_version_sql(), [at, at])
        row = cursor.fetchone()
    midnight = datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
    stamps = [_as_datetime(row[i]) for i in (2, 4, 5, 6)]
    last_modified = max([midnight, *(s for s in stamps if s is not None)])
    parts = [str(v) for v in row] + [midnight.date().isoformat()]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return StatusVersion(key=digest, last_modified=last_modified)


def _snapshot(version: StatusVersion, now: datetime) -> StatusSnapshot:
    key = f"{KEY_PREFIX}:snapshot:{version.key}"
    snapshot = cache.get(key)
    if snapshot is None:
        snapshot = status_snapshot(now)
        cache.set(key, snapshot, STATUS_CACHE_SECONDS)
    return snapshot


# render(request, snapshot getter, version) -> (body, content type). The getter is lazy: the
# feeds read the newest updates instead and never need the snapshot.
Renderer = Callable[[HttpRequest, Callable[[], StatusSnapshot], StatusVersion], tuple[bytes, str]]


_RECENT: Remembered[StatusVersion] = Remembered("TENSAFE_STATUS_VERSION_TTL_SECONDS", 1.0)


def status_version_recent(now: datetime) -> StatusVersion:
    """`status_version`, reused for `TENSAFE_STATUS_VERSION_TTL_SECONDS` (default 1 s) in this
    process: under load a cached hit then costs no query at all, at the price of serving a
    change up to that long late — well inside the 15 s browsers and proxies may keep a copy
    anyway. 0 asks the database on every request."""
    return _RECENT.get(lambda: status_version(now))


def status_version_forget() -> None:
    """Drop the remembered version (tests and bench/status_page.py start from a clean one)."""
    _RECENT.forget()


def status_cached_response(request: HttpRequest, kind: str, render: Renderer) -> HttpResponse:
    """The response for one public representation (`kind`: html, json, atom, rss).

    1. Ask the database for the version (the only query when the body is cached; none while
       the version is remembered, `status_version_recent`).
    2. Look the body up under (kind, host, version); on a miss, render it from the snapshot
       (itself cached per version, so the page and the JSON share one computation) and keep
       it with its ETag.
    3. Answer 304 if the client already has it, else the body, with validators and a short
       public max-age."""
    now = timezone.now()
    version = status_version_recent(now)
    key = f"{KEY_PREFIX}:{kind}:{request.get_host()}:{version.key}"
    entry = cache.get(key)
    if entry is None:
        body, content_type = render(request, lambda: _snapshot(version, now), version)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        entry = (body, content_type, etag)
        cache.set(key, entry, STATUS_CACHE_SECONDS)
    body, content_type, etag = entry
    response = HttpResponse(body, content_type=content_type)
    response["ETag"] = etag
    response["Last-Modified"] = http_date(version.last_modified.timestamp())
    response["Cache-Control"] = f"public, max-age={STATUS_MAX_AGE_SECONDS}"
    return get_conditional_response(
        request, etag=etag, last_modified=int(version.last_modified.timestamp()), response=response
    )
