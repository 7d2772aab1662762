"""Browser sessions end after TENSAFE_SESSION_IDLE_SECONDS without a request and
SESSION_COOKIE_AGE after sign-in whatever happens (tensafe_ir/sessions.py)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client

from tests.factories import PASSWORD, UserFactory

SIGN_IN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def user(db):
    return UserFactory(username="maria", rank="engineer", groups=["responder"])


def _signed_in(user) -> Client:
    client = Client()
    assert client.post("/login/", {"username": "maria", "password": PASSWORD})["Location"] == ("/")
    return client


def _signed_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/login/")


def test_idle_session_is_signed_out(user, settings):
    settings.TENSAFE_SESSION_IDLE_SECONDS = 3600
    with time_machine.travel(SIGN_IN, tick=False) as clock:
        client = _signed_in(user)
        clock.shift(timedelta(minutes=59))
        assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=59))  # idle 59 minutes again: still in
        assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=61))

        response = client.get("/")

        assert _signed_out(response)
        assert Session.objects.count() == 0  # the session is gone, not just ignored
        # The API answers a session without a user like any anonymous request.
        assert client.get("/api/v1/incidents/").status_code == 401


def test_active_session_ends_at_its_absolute_age(user, settings):
    settings.TENSAFE_SESSION_IDLE_SECONDS = 3600
    settings.SESSION_COOKIE_AGE = 12 * 3600
    with time_machine.travel(SIGN_IN, tick=False) as clock:
        client = _signed_in(user)
        for _ in range(23):  # a request every 30 minutes: never idle
            clock.shift(timedelta(minutes=30))
            assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=31))  # 12 h 1 min after sign-in
        assert _signed_out(client.get("/"))


def test_idle_limit_off_keeps_the_session_to_its_age(user, settings):
    settings.TENSAFE_SESSION_IDLE_SECONDS = 0
    with time_machine.travel(SIGN_IN, tick=False) as clock:
        client = _signed_in(user)
        clock.shift(timedelta(hours=11))
        assert client.get("/").status_code == 200
        clock.shift(timedelta(hours=1, minutes=1))
        assert _signed_out(client.get("/"))


def test_last_seen_is_written_at_most_once_a_minute(user):
    with time_machine.travel(SIGN_IN, tick=False) as clock:
        client = _signed_in(user)
        clock.shift(timedelta(minutes=2))
        client.get("/")  # writes the last-seen time
        session = Session.objects.get()
        clock.shift(timedelta(seconds=30))
        client.get("/")
        assert Session.objects.get().expire_date == session.expire_date  # not saved again
