"""The Redis broker transport the workers use: kombu's, with one race closed.

When Redis goes away (restarted, failed over), kombu closes the connection and a task that
finishes at that moment still acknowledges its message on the old channel. Rebuilding that
channel's Redis client then reads the closed connection's parameters, which are gone, and
kombu raises AttributeError. That is not one of the transport's connection errors, so Celery
takes it for a bug and the worker exits ("Unrecoverable error"): with the Procfile's processes,
a Redis restart could stop page delivery (seen in tests/faults/test_redis_restart.py). Here it
is the connection error it is: Celery logs that the acknowledgement failed, carries on, and
reconnects; the unacknowledged message comes back and its row is already recorded (the outbox
claims each row once), so nothing is sent twice.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was closed under this channel")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
