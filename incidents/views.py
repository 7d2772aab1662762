import logging

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from . import services
from .ical import schedule_feed, user_feed
from .permissions import RESTRICTED_ACK_REFUSED
from .redaction import message_withheld, restricted_text
from .selectors import (
    incident_for_ack_link,
    schedule_for_feed_token,
    user_active_get,
    user_for_feed_token,
)

log = logging.getLogger(__name__)


@require_GET
def healthz(request):
    """Liveness and database reachability, for load balancers and `make run` readiness. Anyone
    may ask, so the answer is only ok or failing; why it fails goes to the log."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        log.exception("healthz: the database check failed")
        return JsonResponse({"status": "failing"}, status=503)
    return JsonResponse({"status": "ok"})


def _ack_context(token: str):
    from django.core import signing

    from .selectors import policy_settings
    from .services.paging import ack_token_read

    hours = policy_settings().ack_link_valid_hours
    try:
        incident_id, user_id = ack_token_read(token, max_age_seconds=hours * 3600)
    except signing.SignatureExpired:
        return None, None, f"This acknowledge link has expired (links are valid for {hours} hours)."
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None, None, "This acknowledge link is not valid."
    incident = incident_for_ack_link(incident_id)
    person = user_active_get(user_id)
    if incident is None or person is None:
        return None, None, "This acknowledge link is not valid any more."
    return incident, person, ""


@require_http_methods(["GET", "POST"])
def acknowledge_link(request, token):
    """The one-click acknowledge link in a page. GET shows the incident and one button; the
    POST acknowledges (mail scanners that prefetch links must not acknowledge for anyone)."""
    incident, person, error = _ack_context(token)
    if error:
        return render(request, "incidents/ack.html", {"error": error, "incident": None}, status=404)
    if message_withheld(incident, person):
        # The link reached someone who may not open this incident: it shows what the page
        # said (reference and link) and acknowledges nothing.
        context = {
            "incident": None,
            "restricted": restricted_text(incident),
            "error": RESTRICTED_ACK_REFUSED,
        }
        return render(request, "incidents/ack.html", context, status=403)
    if request.method == "POST":
        incident = services.incident_acknowledge_by_link(token=token)
    return render(request, "incidents/ack.html", {"incident": incident, "person": person})


@require_GET
def ical_schedule(request, token):
    schedule = schedule_for_feed_token(token)
    return _ical_response(schedule_feed(schedule, timezone.now()), schedule.slug)


@require_GET
def ical_user(request, token):
    user = user_for_feed_token(token)
    return _ical_response(user_feed(user, timezone.now()), user.username)


def _ical_response(body: bytes, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="oncall-{name}.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
