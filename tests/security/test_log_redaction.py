"""Issue 12, finding 10: `/healthz` says only ok or failing; log lines carry no tokens. Every
URL with a token in its path (acknowledge links, iCal feeds, subscription confirm and
unsubscribe links) is logged as `<redacted>` by django.request's 4xx warnings and by gunicorn's
access log (tensafe_ir/logs.py), and so are secret query parameters and the paths of other
hosts' URLs (Slack response_url, webhook URLs)."""

from __future__ import annotations

import io
import logging
import urllib.error
import urllib.request

import pytest
from django.db import OperationalError, connection
from django.test import Client

from tensafe_ir.celery import _redact_worker_logs
from tensafe_ir.logs import RedactFilter, redact

from .webprocess import environment, manage, stop, web_processes

TOKEN = "Zm9vYmFyLXNlY3JldC10b2tlbg:1kXyZ9:Qm9yaXNUaGVTcGlkZXI"
TOKEN_PATHS = [
    f"/ack/{TOKEN}/",
    f"/oncall/ical/schedule/{TOKEN}.ics",
    f"/oncall/ical/user/{TOKEN}.ics",
    f"/status/subscribe/confirm/{TOKEN}/",
    f"/status/unsubscribe/{TOKEN}/",
]
REDACTED_PATHS = [path.replace(TOKEN, "<redacted>") for path in TOKEN_PATHS]


@pytest.fixture
def log_output():
    """What the configured log handlers (settings.LOGGING) write, in a buffer."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RedactFilter) for f in handler.filters)
    ]
    assert handlers, "settings.LOGGING puts RedactFilter on the root's handler"
    buffer = io.StringIO()
    before = [handler.setStream(buffer) for handler in handlers]
    yield buffer
    for handler, stream in zip(handlers, before, strict=True):
        if stream is not None:
            handler.setStream(stream)


@pytest.mark.parametrize("path, redacted", list(zip(TOKEN_PATHS, REDACTED_PATHS, strict=True)))
def test_token_urls_answered_4xx_are_logged_without_the_token(
    db, caplog, log_output, path, redacted
):
    caplog.set_level(logging.WARNING, logger="django.request")
    for method in ("get", "post"):
        response = getattr(Client(), method)(path)
        assert 400 <= response.status_code < 500, (method, response.status_code)

    written = log_output.getvalue()
    assert redacted in written and TOKEN not in written, written
    assert caplog.records and TOKEN not in caplog.text  # in place: later handlers see it too


def test_query_secrets_and_other_hosts_urls_are_redacted():
    assert redact("GET /api/v1/x?page=2&token=abc&Signature=def HTTP/1.1") == (
        "GET /api/v1/x?page=2&token=<redacted>&Signature=<redacted> HTTP/1.1"
    )
    slack = "https://hooks.slack.com/commands/T0001/123/AbCdEf"
    assert (
        redact(f"posting to {slack} failed")
        == "posting to https://hooks.slack.com/<redacted> failed"
    )
    assert redact("http://testserver/ack/abc/ and /incidents/4/") == (
        "http://testserver/ack/<redacted>/ and /incidents/4/"
    )
    assert redact("/oncall/ical/user/x.ics /no/such/path 3/4") == (
        "/oncall/ical/user/<redacted>.ics /no/such/path 3/4"
    )


def test_a_token_path_carried_in_a_query_value_is_redacted():
    """A link that needs sign-in sends the browser to `/login/?next=<the link>`: the sign-in
    page's own log line must not carry the link's token either."""
    assert redact(f"GET /login/?next=/chat/link/{TOKEN}/ HTTP/1.1") == (
        "GET /login/?next=/chat/link/<redacted>/ HTTP/1.1"
    )
    assert redact(f"GET /login/?next=%2Fchat%2Flink%2F{TOKEN}%2F&x=1 HTTP/1.1") == (
        "GET /login/?next=/chat/link/<redacted>/&x=1 HTTP/1.1"
    )
    assert redact("GET /login/?next=/incidents/4/ HTTP/1.1") == (
        "GET /login/?next=/incidents/4/ HTTP/1.1"
    )


def test_tracebacks_and_arguments_are_redacted(caplog, log_output):
    log = logging.getLogger("tests.redaction")
    try:
        raise ConnectionError(f"https://hooks.slack.com/services/T1/B2/{TOKEN} timed out")
    except ConnectionError:
        log.exception("delivery to %s failed", f"http://testserver/ack/{TOKEN}/")
    written = log_output.getvalue()
    assert "http://testserver/ack/<redacted>/" in written
    assert "https://hooks.slack.com/<redacted> timed out" in written
    assert TOKEN not in written


def test_celery_workers_log_through_the_same_filter():
    logger = logging.getLogger("tests.worker-root")
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    try:
        _redact_worker_logs(logger=logger)
        _redact_worker_logs(logger=logger)  # once per handler, however often Celery calls
        assert [type(f) for f in handler.filters] == [RedactFilter]
    finally:
        logger.removeHandler(handler)


def test_gunicorn_access_log_has_no_tokens(tmp_path):
    """The web process as the Procfile starts it: its access log (request line and referer)
    and the application's warnings carry `<redacted>` where the tokens were."""
    env = environment(f"sqlite:///{tmp_path / 'tensafe.sqlite3'}", tmp_path)
    manage(env, "migrate", "--noinput")
    [(port, _)] = processes = web_processes(env, 1, tmp_path)
    try:
        for path in TOKEN_PATHS:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}?token={TOKEN}",
                headers={"Referer": f"http://127.0.0.1:{port}{TOKEN_PATHS[0]}"},
            )
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=30)
    finally:
        stop(processes)
    written = (tmp_path / f"{port}.log").read_text()
    for redacted in REDACTED_PATHS:
        assert f'"GET {redacted}?token=<redacted> HTTP/1.1" 40' in written, written
    assert TOKEN not in written, written


def test_healthz_failing_says_only_failing(client, caplog, monkeypatch):
    """Anyone may ask: the body is the same `failing` whatever broke; the error is logged."""
    error = 'could not connect to server "db.internal" (10.1.2.3), database "tensafe_prod"'

    def broken_cursor(*args, **kwargs):
        raise OperationalError(error)

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "failing"}
    assert b"db.internal" not in response.content and b"10.1.2.3" not in response.content
    assert error in caplog.text  # for the operator, in the log


def test_healthz_ok(db, client):
    assert client.get("/healthz").json() == {"status": "ok"}
