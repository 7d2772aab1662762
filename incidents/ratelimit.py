"""Rate limits: failed sign-ins (dashboard, admin, API token) per (username, address), per
address and per username; status-page subscriptions per address and per email address; alert
deliveries per integration. Over a limit the answer is 429 with Retry-After and a sentence
saying which limit and when to retry; nothing else happens. The numbers are settings
(TENSAFE_RATE_*, tensafe_ir/settings.py), listed in README and docs/operations.md.

How a limit holds under parallel requests and across gunicorn processes:

1. A request takes its slot first: one atomic increment of the counter named by (scope, who,
   window), which every process shares. With TENSAFE_CACHE_URL it is Redis (INCR and its
   expiry in one round trip); without, a row of the database (RateLimitCounter): one
   `INSERT ... ON CONFLICT DO UPDATE SET count = count + 1 RETURNING count` statement,
   atomic on SQLite and PostgreSQL alike. N parallel requests get N distinct counts, so
   exactly `limit` of them go on and the rest are refused.
2. Windows are fixed and the key names its window, so a counter is never reset while it is in
   use; it expires one period after its window ends (Redis by TTL; in the database the first
   count of any new window deletes the expired rows). A burst straddling two windows can
   reach twice the limit: acceptable for these limits, and it keeps one operation per request.
3. A sign-in takes a slot on its (username, address) pair's, then its address's, then its
   username's counter before the password is checked, stopping at the first that refuses (and
   giving back those it took, so a refused request does not count against the next limit);
   an attempt that goes on gives its slots back unless authentication failed during the
   request (Django's user_login_failed signal): only failures use up the limits, successful
   sign-ins never lock anyone out, and parallel guesses cannot slip past the count. The pair's
   limit is the tight one; the username's is a higher ceiling across all addresses, so wrong
   passwords from one address never lock the account's owner out elsewhere.
4. A store that cannot be reached lets the request through (and logs it): a limit must never
   lock everyone out of the incident tool or drop alerts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import Error as DatabaseError  # InterfaceError (closed connection) too
from django.db import connection, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .models import RateLimitCounter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    key: str
    allowed: bool
    retry_after: int  # seconds until the window ends


def slot_take(scope: str, who: str, rate: tuple[int, int] | None) -> Slot | None:
    """Counts one request of `who` against `rate` (count, seconds); None when the limit is off
    or the counters cannot be reached."""
    if rate is None:
        return None
    limit, period = rate
    now = time.time()
    window = int(now // period)
    digest = hashlib.sha256(who.encode()).hexdigest()[:32]
    key = f"{scope}:{digest}:{window}"
    retry_after = max(1, math.ceil((window + 1) * period - now))
    cache = _redis_cache()
    try:
        if cache is not None:
            count = _redis_increment(cache, key, timeout=retry_after + period)
        else:
            count = _database_increment(key, expires_at=(window + 2) * period, now=now)
    except (DatabaseError, redis.RedisError, OSError):
        log.warning("rate limit %s not counted: counters unavailable", scope, exc_info=True)
        return None
    return Slot(key, count <= limit, retry_after)


def _redis_cache() -> RedisCache | None:
    """The "ratelimit" cache when TENSAFE_CACHE_URL configures one, else None (the database)."""
    if "ratelimit" not in settings.CACHES:
        return None
    return caches["ratelimit"]


def _database_increment(key: str, *, expires_at: float, now: float) -> int:
    """One statement, so two processes counting the same key at once get distinct counts. Inside
    a caller's transaction it runs in a savepoint: an error leaves that transaction usable."""
    table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
    key_column, count_column, expires_column = (
        connection.ops.quote_name(RateLimitCounter._meta.get_field(name).column)
        for name in ("key", "count", "expires_at")
    )
    sql = f"""
        INSERT INTO {table} ({key_column}, {count_column}, {expires_column}) VALUES (%s, 1, %s)
        ON CONFLICT ({key_column}) DO UPDATE SET {count_column} = {table}.{count_column} + 1
        RETURNING {count_column}
    """  # noqa: S608  # nosec B608  # names: model metadata, quoted; values: parameters
    expires = connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(expires_at, UTC))
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        with connection.cursor() as cursor:
            cursor.execute(sql, [key, expires])
            (count,) = cursor.fetchone()
        if count == 1:  # a new window: the ended ones' rows go
            RateLimitCounter.objects.filter(
                expires_at__lt=datetime.fromtimestamp(now, UTC)
            ).delete()
    return int(count)


_redis_clients: dict[str, redis.Redis] = {}


def _redis_increment(cache: RedisCache, key: str, timeout: int) -> int:
    """INCR and, on a new counter, its expiry, in one round trip (MULTI/EXEC: atomic). Django's
    RedisCache.incr is two (EXISTS, then INCR) and builds a client object for each; on the
    alert receiver's path that was a measurable share of a reply (bench/alert_ingest.py)."""
    location = cache._servers[0]
    client = _redis_clients.get(location)
    if client is None:
        timeouts = {
            name: value
            for name, value in cache._options.items()
            if name in ("socket_connect_timeout", "socket_timeout")
        }
        client = _redis_clients.setdefault(location, redis.Redis.from_url(location, **timeouts))
    pipe = client.pipeline(transaction=True)
    full_key = cache.make_and_validate_key(key)
    pipe.incr(full_key)
    pipe.expire(full_key, timeout, nx=True)
    count, _ = pipe.execute()
    return int(count)


def slot_give_back(slot: Slot) -> None:
    cache = _redis_cache()
    try:
        if cache is not None:
            with contextlib.suppress(ValueError):  # the window's counter has expired
                cache.decr(slot.key)
            return
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            RateLimitCounter.objects.filter(key=slot.key, count__gt=0).update(count=F("count") - 1)
    except (DatabaseError, redis.RedisError, OSError):
        log.warning("rate limit slot not given back: counters unavailable", exc_info=True)


def wait_text(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def _too_many(
    request: HttpRequest, detail: str, retry_after: int, *, html: bool = False
) -> HttpResponse:
    if html:
        response = render(
            request, "registration/too_many_attempts.html", {"detail": detail}, status=429
        )
    else:
        response = JsonResponse({"detail": detail, "retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def client_address(request: HttpRequest) -> str:
    """The client's address: the connection's, or behind TENSAFE_TRUSTED_PROXY_COUNT proxies
    the X-Forwarded-For entry they added (entries further left are the client's own claims)."""
    hops = settings.TENSAFE_TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        forwarded = [address.strip() for address in forwarded if address.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


# --- sign-in ----------------------------------------------------------------------------------
_attempt: ContextVar[dict | None] = ContextVar("tensafe_login_attempt", default=None)


def login_failed_received(sender, **kwargs) -> None:
    """user_login_failed receiver: marks the sign-in this request is making as failed."""
    attempt = _attempt.get()
    if attempt is not None:
        attempt["failed"] = True


def _posted_username(request: HttpRequest) -> str:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return ""  # the view answers the bad body; no password is checked
        username = data.get("username") if isinstance(data, dict) else None
    else:
        username = request.POST.get("username")
    return username.strip().casefold() if isinstance(username, str) else ""


def _login_limits(request: HttpRequest) -> list[tuple[str, str, tuple[int, int] | None]]:
    """(scope, who, rate) of a sign-in, in the order they are taken: the tight pair first."""
    username, address = _posted_username(request), client_address(request)
    if not username:
        return [("login-address", address, settings.TENSAFE_RATE_LOGIN_ADDRESS)]
    return [
        ("login-pair", f"{username}\n{address}", settings.TENSAFE_RATE_LOGIN_USERNAME_ADDRESS),
        ("login-address", address, settings.TENSAFE_RATE_LOGIN_ADDRESS),
        ("login-username", username, settings.TENSAFE_RATE_LOGIN_USERNAME),
    ]


def _login_slots_take(request: HttpRequest) -> tuple[list[Slot], Slot | None]:
    """Takes the sign-in's slots until one refuses; on a refusal all taken are given back.
    Returns (slots taken, the refusing slot or None)."""
    slots = []
    for scope, who, rate in _login_limits(request):
        slot = slot_take(scope, who, rate)
        if slot is None:
            continue
        slots.append(slot)
        if not slot.allowed:
            for taken in slots:
                slot_give_back(taken)
            return [], slot
    return slots, None


def login_rate_limited(view, *, html: bool = True):
    """Wraps a sign-in view (form or API) with the limits of failed sign-ins per (username,
    address), per address and per username. `html`: answer 429 with a page (else JSON)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        slots, refused = _login_slots_take(request)
        if refused is not None:
            detail = (
                "Too many failed sign-ins for this username or from this address; "
                f"try again in {wait_text(refused.retry_after)}."
            )
            return _too_many(request, detail, refused.retry_after, html=html)
        attempt = {"failed": False}
        token = _attempt.set(attempt)
        try:
            return view(request, *args, **kwargs)
        finally:
            _attempt.reset(token)
            if not attempt["failed"]:
                for slot in slots:
                    slot_give_back(slot)

    return wrapped


# --- alert receiver ---------------------------------------------------------------------------
def alerts_rate_limited(view):
    """Wraps the alert receiver (`POST /integrations/<id>/alerts/`) with the per-integration
    limit TENSAFE_RATE_ALERTS. Every POST counts, accepted or not, so a flood at one
    integration's URL stops at the limit whatever it sends."""

    @wraps(view)
    def wrapped(request: HttpRequest, integration_id, *args, **kwargs):
        rate = settings.TENSAFE_RATE_ALERTS
        if request.method == "POST" and rate is not None:
            try:
                who = str(uuid.UUID(integration_id))
            except ValueError:
                who = ""  # not an integration id: the view answers 404
            slot = slot_take("alerts", who, rate) if who else None
            if slot is not None and not slot.allowed:
                limit, period = rate
                detail = (
                    f"Over this integration's limit of {limit} deliveries per {period} seconds "
                    f"(TENSAFE_RATE_ALERTS); retry in {wait_text(slot.retry_after)}."
                )
                return _too_many(request, detail, slot.retry_after)
        return view(request, integration_id, *args, **kwargs)

    return wrapped
