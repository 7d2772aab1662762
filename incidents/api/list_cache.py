"""The incident list's pages, kept per version of what they show.

Dashboards and integrations poll the list; between two changes every poll would rebuild the
same page (an exact COUNT over every visible incident, the page, its services and roles) and
render the same JSON. So a page's JSON is kept in Django's cache under:

- the **version**: the newest timeline event's id. Every change to an incident — declared,
  status, severity, roles, acknowledgement, services, texts — writes a timeline event in the
  same transaction (docs/architecture.md, Conventions: "Writes are services"), so a change
  gives a new version and the next
  request builds the page anew. One query reading the primary key's newest entry; a process
  reuses the version it read for `TENSAFE_INCIDENT_LIST_VERSION_TTL_SECONDS` (default 1; 0
  asks every time) and forgets it when it records a timeline event itself, so a change made
  through a process is seen by its next request there, and everywhere within that second.
- **who asks**: everyone who sees every incident (superusers, the security group) shares
  one entry; anyone else has entries of their own, since what they see depends on their roles
  and the incidents they declared (`incidents.selectors`). Group membership is read on every
  request, so leaving the security group takes effect at once.
- the **request**: host and full path with the query string (filters, ordering, page, page
  size; `next`/`previous` are absolute URLs).

What the version cannot see — a change made without a timeline event (a user renamed, an edit
in Django admin), or a transaction that commits an older event id after a newer one was
read — is bounded by the entry's lifetime, `TENSAFE_INCIDENT_LIST_CACHE_SECONDS` (default 10;
0 turns the cache off). Errors (a bad filter, a page past the end) are never kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.request import Request

from ..models import TimelineEvent
from ..remembered import Remembered
from ..selectors import sees_every_incident

KEY_PREFIX = "incidents.list.v3"
COUNT_KEY_PREFIX = "incidents.list.count.v1"

_VERSION: Remembered[int] = Remembered("TENSAFE_INCIDENT_LIST_VERSION_TTL_SECONDS", 1.0)


def _read_version() -> int:
    table = connection.ops.quote_name(TimelineEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} ORDER BY id DESC LIMIT 1")  # noqa: S608  # nosec B608  # table name from model metadata
        row = cursor.fetchone()
    return row[0] if row else 0


def incidents_version() -> int:
    """The newest timeline event's id (0 before the first): changes with every incident change.
    Reused by this process for `TENSAFE_INCIDENT_LIST_VERSION_TTL_SECONDS`."""
    return _VERSION.get(_read_version)


def incidents_version_forget(incident=None, event=None) -> None:
    """Reaction to every timeline event (incidents/apps.py): drop the remembered version when
    this process records one (no on_commit hook: a request of this process that reads the
    version while the change is still uncommitted remembers the old one, for at most the
    TTL)."""
    _VERSION.forget()


def _key(prefix: str, request: Request, asked: str) -> str:
    """A cache key of `asked` for this request's version and viewer. The version is read
    once per request: the page and its count are keyed by the same one."""
    if not hasattr(request, "incidents_version"):
        request.incidents_version = incidents_version()
    user = request.user
    viewer = "all" if sees_every_incident(user) else f"user:{user.pk}"
    identity = f"{request.incidents_version}|{viewer}|{asked}"
    return f"{prefix}:{hashlib.sha256(identity.encode()).hexdigest()}"


def incident_list_json(request: Request, build: Callable[[], bytes]) -> bytes:
    """The list's JSON body for this request: kept, or `build()` and kept."""
    lifetime = getattr(settings, "TENSAFE_INCIDENT_LIST_CACHE_SECONDS", 10)
    if lifetime <= 0:
        return build()
    key = _key(KEY_PREFIX, request, f"{request.get_host()}|{request.get_full_path()}")
    body = cache.get(key)
    if body is None:
        body = build()
        cache.set(key, body, lifetime)
    return body


def incident_list_count(request: Request, count: Callable[[], int]) -> int:
    """The exact number of incidents this request's filters select for its user: kept, or
    `count()` and kept for `TENSAFE_INCIDENT_LIST_COUNT_SECONDS` (default 10; 0: always
    counted), under the same version and viewer as a page.

    Every page, ordering and page size of one query has the same count, and a COUNT reads
    every matching incident (at 100,000 incidents, ~46 % of a page built anew, issue 15);
    so the count is kept per filter, apart from the page. Kept this way it is exact for the
    version it was read at, as a kept page is. It is kept when pages are not
    (`TENSAFE_INCIDENT_LIST_CACHE_SECONDS=0`), since it costs one cache entry per query
    where pages cost one per page."""
    lifetime = getattr(settings, "TENSAFE_INCIDENT_LIST_COUNT_SECONDS", 10)
    if lifetime <= 0:
        return count()
    unpaged = ("page", "page_size", "ordering", "format")
    filters = sorted(
        (name, value)
        for name, values in request.query_params.lists()
        if name not in unpaged
        for value in values
    )
    key = _key(COUNT_KEY_PREFIX, request, repr(filters))
    kept = cache.get(key)
    if kept is None:
        kept = count()
        cache.set(key, kept, lifetime)
    return kept
