"""The incident detail's body, its ETag, and the bodies kept by it.

Responders' pages and integrations read an incident over and over during an incident. Built
anew, a detail took ten queries and most of its Python time in DRF (a ModelSerializer's
fields constructed on every request, nested serializers for roles, deadlines, escalations);
measured with bench/load.py (docs/benchmarks.md, "Hot paths (issue 15)"). So:

- **ETag**: a hash of `incidents.selectors.incident_detail_version`, one query that also
  decides visibility (no tag, and a 404, for an incident the viewer may not see: a 304 would
  tell that it exists). `If-None-Match` naming it (weak or strong, RFC 9110's weak
  comparison; `*`: any tag) answers 304 with no body.
- **The body kept by its tag**: the version covers everything the body shows, viewer and
  time included, so a body built for one tag is the body of every later request with it.
  Kept in Django's cache for `TENSAFE_INCIDENT_DETAIL_CACHE_SECONDS` (default 10; 0: built
  every time; the 304 holds either way).
- **The body built** by `incident_detail_body` from the selector's incident, as
  `IncidentDetailOutputSerializer` writes it (the serializer stays the description for the
  OpenAPI schema, and the reference: tests/api/test_detail_body.py holds this function to
  the same JSON).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.http import parse_etags
from rest_framework.renderers import JSONRenderer

from ..selectors import incident_detail_for_user
from .list_rows import _seconds, _time
from .serializers import IncidentDetailOutputSerializer

KEY_PREFIX = "incidents.detail.v1"
DETAIL_FIELDS = IncidentDetailOutputSerializer.Meta.fields
TIMES = frozenset(name for name in DETAIL_FIELDS if name.endswith("_at"))


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 13.1.2: `*` matches any current representation; otherwise the weak
    comparison (a W/ prefix on either side is ignored). An unparsable header matches
    nothing."""
    if not if_none_match:
        return False
    tags = parse_etags(if_none_match)
    if tags == ["*"]:
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == opaque for tag in tags)


def incident_detail_json(user, incident_id, etag: str) -> bytes:
    """The rendered body for `etag`: kept, or built and kept."""
    lifetime = getattr(settings, "TENSAFE_INCIDENT_DETAIL_CACHE_SECONDS", 10)
    key = f"{KEY_PREFIX}:{incident_id}:{etag}"
    body = cache.get(key) if lifetime > 0 else None
    if body is None:
        body = JSONRenderer().render(
            incident_detail_body(incident_detail_for_user(user, incident_id))
        )
        if lifetime > 0:
            cache.set(key, body, lifetime)
    return body


def incident_detail_body(incident) -> dict:
    """`IncidentDetailOutputSerializer(incident).data` for the incident of
    `incident_detail_for_user`, written directly: same keys, same order, same values."""
    tz = timezone.get_current_timezone()
    computed = {
        "reference": f"INC-{incident.pk}",
        "services": [s.slug for s in incident.services.all()],
        "ttd_seconds": _seconds(incident.started_at, incident.detected_at),
        "ttm_seconds": _seconds(incident.detected_at, incident.mitigated_at),
        "ttr_seconds": _seconds(incident.detected_at, incident.resolved_at),
        "declared_by": _username(incident.declared_by),
        "acknowledged_by": _username(incident.acknowledged_by),
        "roles": [_role(a, tz) for a in incident.active_roles],
        "allowed_transitions": [str(t) for t in incident.allowed_transitions],
        "resolution_blockers": [str(b) for b in incident.resolution_blockers],
        "role_warnings": [str(w) for w in incident.role_warnings],
        "public_approved_by": _username(incident.public_approved_by),
        "bridge": _bridge(incident.bridge, tz),
        "deadlines": [_deadline(d, tz) for d in incident.deadlines_pending],
        "escalation_responses": [_response(r, tz) for r in incident.escalation_responses_shown],
    }
    body = {}
    for name in DETAIL_FIELDS:
        if name in computed:
            body[name] = computed[name]
            continue
        value = getattr(incident, name)
        body[name] = _time(value, tz) if name in TIMES else value
    return body


def _username(user) -> str | None:
    return user.username if user is not None else None


def _role(assignment, tz) -> dict:
    user = assignment.user
    return {
        "role": assignment.role,
        "username": user.username,
        "name": user.get_full_name(),
        "rank": user.rank,
        "assigned_at": _time(assignment.assigned_at, tz),
    }


def _bridge(bridge: dict, tz) -> dict:
    return {
        "url": bridge["url"],
        "setting": bridge["setting"],
        "label": bridge["label"],
        "requested_at": _time(bridge["requested_at"], tz),
        "can_request": bool(bridge["can_request"]),
    }


def _deadline(deadline, tz) -> dict:
    return {
        "id": deadline.pk,
        "kind": deadline.kind,
        "key": deadline.key,
        "label": str(deadline.label),
        "due_at": _time(deadline.due_at, tz),
    }


def _response(r: dict, tz) -> dict:
    following = r["next_contact"]
    return {
        "id": r["id"],
        "key": r["key"],
        "contact": r["contact"],
        "contact_name": r["contact_name"],
        "people": [str(p) for p in r["people"]],
        "paged_at": _time(r["paged_at"], tz),
        "response_minutes": r["response_minutes"],
        "due_at": _time(r["due_at"], tz),
        "status": r["status"],
        "acknowledged_at": _time(r["acknowledged_at"], tz),
        "acknowledged_by": r["acknowledged_by"],
        "late_at": _time(r["late_at"], tz),
        "next_contact": (
            {
                "role": following["role"],
                "name": following["name"],
                "response_minutes": following["response_minutes"],
            }
            if following is not None
            else None
        ),
        "next_response": r["next_response"],
    }
