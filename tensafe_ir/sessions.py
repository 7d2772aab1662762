"""Browser sessions end after TENSAFE_SESSION_IDLE_SECONDS without a request, and
SESSION_COOKIE_AGE after sign-in in any case.

Django alone gives neither: a session's expiry moves forward whenever the session is saved, so
its age is not measured from sign-in, and nothing measures idleness. The session keeps the
sign-in time and the last request's time; the last-seen time is written at most once a minute
(each write is a database UPDATE), so idleness is measured to within a minute.
"""

import time

from django.conf import settings
from django.contrib.auth import logout

SIGNED_IN_AT = "tensafe_signed_in_at"
SEEN_AT = "tensafe_seen_at"
SEEN_RESOLUTION_SECONDS = 60


class SessionIdleTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and hasattr(request, "session"):
            self._check(request)
        return self.get_response(request)

    def _check(self, request) -> None:
        session = request.session
        now = time.time()
        signed_in_at = session.get(SIGNED_IN_AT)
        seen_at = session.get(SEEN_AT)
        idle_limit = settings.TENSAFE_SESSION_IDLE_SECONDS
        if (signed_in_at is not None and now - signed_in_at > settings.SESSION_COOKIE_AGE) or (
            idle_limit and seen_at is not None and now - seen_at > idle_limit
        ):
            logout(request)  # flushes the session; request.user becomes anonymous
            return
        if signed_in_at is None:
            session[SIGNED_IN_AT] = now
        if seen_at is None or now - seen_at >= SEEN_RESOLUTION_SECONDS:
            session[SEEN_AT] = now


def session_signed_in(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: the session's age and idleness count from sign-in."""
    if hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[SEEN_AT] = now
