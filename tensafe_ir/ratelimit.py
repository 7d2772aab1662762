"""Rate limits: failed sign-ins (dashboard, admin, API token) per username and per client
address, and alert deliveries per integration. Over a limit the answer is 429 with
Retry-After and a sentence saying which limit and when to retry; nothing else happens.

How a limit holds under parallel requests and across gunicorn processes:

1. A request takes its slot first: one INCR of the counter named by (scope, who, window), in
   the "ratelimit" cache (Redis when TENSAFE_CACHE_URL is set, shared by every process;
   otherwise this process's LocMemCache, which increments under a lock). N parallel requests
   get N distinct counts, so exactly `limit` of them go on and the rest are refused.
2. Windows are fixed and the key names its window, so a counter is never reset while it is in
   use; it expires one period after its window ends (no sweeper). A burst straddling two
   windows can reach twice the limit: acceptable for these limits, and it keeps one
   operation per request.
3. A sign-in takes a slot on both its username's and its address's counter before the
   password is checked, and gives both back unless authentication failed during the request
   (Django's user_login_failed signal): only failures use up the limit, successful sign-ins
   never lock anyone out, and parallel guesses cannot slip past the count.
4. A cache that cannot be reached lets the request through (and logs it): a limit must never
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
from functools import wraps

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    key: str
    allowed: bool
    retry_after: int  # seconds until the window ends


def slot_take(scope: str, who: str, rate: tuple[int, int] | None) -> Slot | None:
    """Counts one request of `who` against `rate` (count, seconds); None when the limit is off
    or the cache is unreachable."""
    if rate is None:
        return None
    limit, period = rate
    now = time.time()
    window = int(now // period)
    digest = hashlib.sha256(who.encode()).hexdigest()[:32]
    key = f"{scope}:{digest}:{window}"
    retry_after = max(1, math.ceil((window + 1) * period - now))
    try:
        count = _increment(key, timeout=retry_after + period)
    except Exception:
        log.warning("rate limit %s not counted: cache unavailable", scope, exc_info=True)
        return None
    return Slot(key, count <= limit, retry_after)


def _increment(key: str, timeout: int) -> int:
    cache = caches["ratelimit"]
    if isinstance(cache, RedisCache):
        return _redis_increment(cache, key, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet: create it at 1, unless another request just did
        if cache.add(key, 1, timeout):
            return 1
        return cache.incr(key)


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
    try:
        with contextlib.suppress(ValueError):  # the window's counter has expired: nothing to do
            caches["ratelimit"].decr(slot.key)
    except Exception:
        log.warning("rate limit slot not given back: cache unavailable", exc_info=True)


def _wait_text(seconds: int) -> str:
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


def login_rate_limited(view, *, html: bool = True):
    """Wraps a sign-in view (form or API) with the per-username and per-address limits of
    failed sign-ins. `html`: answer 429 with a page (else JSON)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        username = _posted_username(request)
        slots = [
            slot
            for slot in (
                slot_take("login-address", client_address(request), _rate("ADDRESS")),
                slot_take("login-username", username, _rate("USERNAME")) if username else None,
            )
            if slot is not None
        ]
        refused = [slot for slot in slots if not slot.allowed]
        if refused:
            for slot in slots:
                slot_give_back(slot)
            retry_after = max(slot.retry_after for slot in refused)
            detail = (
                "Too many failed sign-ins for this username or from this address; "
                f"try again in {_wait_text(retry_after)}."
            )
            return _too_many(request, detail, retry_after, html=html)
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


def _rate(what: str) -> tuple[int, int] | None:
    return getattr(settings, f"TENSAFE_RATE_LOGIN_{what}")


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
                    f"(TENSAFE_RATE_ALERTS); retry in {_wait_text(slot.retry_after)}."
                )
                return _too_many(request, detail, slot.retry_after)
        return view(request, integration_id, *args, **kwargs)

    return wrapped
