"""Log lines without secrets: one redaction function, applied by one logging filter to every
line the web processes (settings LOGGING, and gunicorn's access and error logs through
`GunicornLogger`) and the Celery workers (tensafe_ir/celery.py) write.

What is a secret in a log line:
- a token in one of our URLs: any route argument named in SECRET_ROUTE_ARGUMENTS (acknowledge
  links, iCal feeds, subscription confirm and unsubscribe links, and any route added later
  with a `<str:token>`), found by resolving the path against the URLconf, so the rule lives
  with the routes and not in a list here: `/oncall/ical/user/<redacted>.ics`;
- a query parameter whose name is in SECRET_QUERY_PARAMETERS;
- a path carried in a query value, read the same way: the sign-in page's
  `?next=/chat/link/<redacted>/` after a link that needs sign-in;
- the path and query of a URL on another host (Slack `response_url`s and incoming-webhook
  URLs, webhook targets, which are credentials): `https://hooks.slack.com/<redacted>`.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from gunicorn.glogging import Logger as _GunicornLogger

REDACTED = "<redacted>"
SECRET_ROUTE_ARGUMENTS = frozenset({"token"})
SECRET_QUERY_PARAMETERS = frozenset(
    {"token", "key", "secret", "signature", "sig", "code", "password", "api_key", "access_token"}
    | {"response_url", "state"}
)
# An absolute URL or a path, with its query: what a log line can carry a secret in.
_URL = re.compile(
    r"(?P<origin>\bhttps?://[^/\s\"'<>]+)?(?P<path>/[^\s\"'<>?#]*)(?P<query>\?[^\s\"'<>#]*)?"
)
_QUERY_SECRET = re.compile(
    r"(?P<name>(?:^|[?&;])(?:" + "|".join(sorted(SECRET_QUERY_PARAMETERS)) + r"))=[^&;#]*",
    re.IGNORECASE,
)
_QUERY_VALUE = re.compile(r"(?P<name>(?:^|[?&;])[^=&;#]*=)(?P<value>[^&;#]*)")


def redact(text: str) -> str:
    """`text` with every secret of the kinds above replaced by <redacted>."""
    if "/" not in text:
        return text
    return _URL.sub(_redact_url, text)


def _redact_url(match: re.Match) -> str:
    origin, path, query = match.group("origin"), match.group("path"), match.group("query") or ""
    if origin and not _is_ours(origin):
        return f"{origin}/{REDACTED}" if path != "/" or query else match.group(0)
    query = _QUERY_SECRET.sub(lambda m: f"{m.group('name')}={REDACTED}", query)
    query = _QUERY_VALUE.sub(
        lambda m: m.group("name") + _redact_query_value(m.group("value")), query
    )
    return (origin or "") + _redact_path(path) + query


def _redact_query_value(value: str) -> str:
    """A query value that is one of our paths (`next=/chat/link/…/`), redacted like a path;
    any other value as it is."""
    path = unquote(value).split("?", 1)[0]
    if not path.startswith("/") or _redact_path(path) == path:
        return value
    return _redact_path(path)


@lru_cache(maxsize=4096)
def _redact_path(path: str) -> str:
    from django.urls import Resolver404, resolve

    try:
        arguments = resolve(path).kwargs
    except Resolver404:
        return path
    except Exception:  # no URLconf yet (gunicorn's master): nothing to resolve against
        return path
    for name, value in arguments.items():
        if name in SECRET_ROUTE_ARGUMENTS and isinstance(value, str) and value:
            path = path.replace(value, REDACTED)
    return path


@lru_cache(maxsize=1)
def _own_origin() -> str:
    from django.conf import settings

    return urlsplit(settings.PUBLIC_BASE_URL).netloc.lower()


def _is_ours(origin: str) -> bool:
    try:
        return urlsplit(origin).netloc.lower() in (_own_origin(), "testserver")
    except Exception:  # settings not configured: treated as another host's, all redacted
        return False


class RedactFilter(logging.Filter):
    """Rewrites a record's message (and its traceback) through `redact`, in place, so every
    handler after this one sees the redacted line too. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            redacted = redact(message)
            if redacted != message:
                record.msg, record.args = redacted, ()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
        except Exception:  # a broken record is logging's to report, not ours to drop
            return True
        return True


def handlers_redact(logger: logging.Logger) -> None:
    """Adds the one RedactFilter to each of `logger`'s handlers that lacks it."""
    for handler in logger.handlers:
        if not any(isinstance(existing, RedactFilter) for existing in handler.filters):
            handler.addFilter(RedactFilter())


class GunicornLogger(_GunicornLogger):
    """gunicorn's logger (`--logger-class tensafe_ir.logs.GunicornLogger`) whose access and
    error logs go through RedactFilter: the request line, path, query and referer of an
    acknowledge or iCal link are written without the token."""

    def setup(self, cfg):
        super().setup(cfg)
        handlers_redact(self.access_log)
        handlers_redact(self.error_log)
