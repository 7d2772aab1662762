"""The workers' Redis transport (tensafe_ir/broker.py): a message acknowledged on a channel
whose connection Redis's loss has just closed fails as a connection error, which Celery logs
and survives, not as the AttributeError that made the worker exit (Unrecoverable error)."""

import pytest
from django.conf import settings
from kombu import Connection

from tensafe_ir.celery import app

pytestmark = pytest.mark.redis


def _ack_after_the_connection_closed(transport) -> tuple[Exception, tuple]:
    connection = Connection(settings.CELERY_BROKER_URL, transport=transport)
    channel = connection.channel()
    # What kombu leaves when the connection is lost: the transport's client gone, the channel's
    # client pool dropped; a task finishing now still acknowledges its message.
    channel.connection.client, channel._pool = None, None
    try:
        channel.qos.ack("a-delivery-tag")
    except Exception as error:  # which exception it is, is the test
        return error, connection.connection_errors
    finally:
        channel.connection.client = connection
        connection.release()
    raise AssertionError("the acknowledgement went through on a closed connection")


def test_the_workers_use_this_transport():
    assert app.conf.broker_transport == "tensafe_ir.broker:Transport"


def test_an_ack_after_the_connection_closed_is_a_connection_error_celery_survives():
    error, connection_errors = _ack_after_the_connection_closed("tensafe_ir.broker:Transport")
    assert isinstance(error, connection_errors), repr(error)


def test_kombus_own_transport_raises_what_stopped_the_worker():
    error, connection_errors = _ack_after_the_connection_closed("redis")
    assert isinstance(error, AttributeError) and not isinstance(error, connection_errors)
