"""Helpers for the security tests: requests in parallel threads, and a Redis cache for the
rate-limit counters on a database no one else uses, under a key prefix of its own."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.cache import caches
from django.db import connection

REDIS_TEST_DB = 5


def in_parallel(count: int, request) -> list:
    """Runs request(n) for n in range(count) on `count` threads started together; each thread
    closes its own database connection."""

    def one(n):
        try:
            return request(n)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


@pytest.fixture
def redis_ratelimit_cache(settings):
    """The "ratelimit" cache on the real Redis (CELERY_BROKER_URL's server, database 5) with a
    key prefix unique to this test; its keys are deleted afterwards."""
    parts = urlsplit(settings.CELERY_BROKER_URL)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_TEST_DB}", "", ""))
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        },
    }
    cache = caches["ratelimit"]
    yield cache
    client = cache._cache.get_client(write=True)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
