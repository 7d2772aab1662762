"""The public status page: HTML, JSON and feeds. No login; every response is cached per
version (caching.py) and carries ETag, Last-Modified and a short public max-age."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from .caching import StatusVersion, status_cached_response
from .feeds import StatusAtomFeed, StatusRssFeed
from .selectors import (
    ComponentState,
    PublicIncident,
    StatusSnapshot,
    public_incident_exists,
    public_incident_get,
)


def _iso(value) -> str:
    return value.isoformat()


def _render_html(request, snapshot, version: StatusVersion) -> tuple[bytes, str]:
    snap = snapshot()
    body = render_to_string(
        "comms/status.html",
        {
            "snapshot": snap,
            "updated_at": version.last_modified,
            "legend": [(state, ComponentState.LABELS[state]) for state in ComponentState.ORDER],
        },
    )
    return body.encode(), "text/html; charset=utf-8"


def _incident_json(i: PublicIncident) -> dict:
    return {
        "id": i.id,
        "title": i.title,
        "status": i.status,
        "status_label": i.status_label,
        "impact": i.state,
        "impact_label": i.state_label,
        "started_at": _iso(i.started_at),
        "resolved_at": _iso(i.resolved_at) if i.resolved_at else None,
        "url": reverse("status-incident", args=[i.id]),
        "components": [slug for slug, _ in i.components],
        "updates": [
            {
                "id": u.id,
                "status": u.template,
                "status_label": u.label,
                "text": u.text,
                "posted_at": _iso(u.posted_at),
            }
            for u in i.updates
        ],
    }


def status_summary(snapshot: StatusSnapshot, version: StatusVersion) -> dict:
    """The JSON document: overall status, components, active incidents with their public
    updates (newest first), the last 90 days' resolved ones, and upcoming or in-progress
    maintenance. An incident's `status` is the state last published, not the internal one."""
    return {
        "page": {"name": "TenSafe", "updated_at": _iso(version.last_modified)},
        "status": {"indicator": snapshot.overall, "description": snapshot.overall_label},
        "components": [
            {"id": c.slug, "name": c.name, "status": c.state, "status_label": c.state_label}
            for c in snapshot.components
        ],
        "incidents": [_incident_json(i) for i in snapshot.incidents],
        "past_incidents": [_incident_json(i) for i in snapshot.past],
        "scheduled_maintenances": [
            {
                "id": m.id,
                "title": m.title,
                "description": m.description,
                "status": "in_progress" if m.in_progress else "scheduled",
                "starts_at": _iso(m.starts_at),
                "ends_at": _iso(m.ends_at),
                "components": [slug for slug, _ in m.components],
            }
            for m in snapshot.maintenances
        ],
    }


def _render_json(request, snapshot, version: StatusVersion) -> tuple[bytes, str]:
    body = json.dumps(status_summary(snapshot(), version), cls=DjangoJSONEncoder)
    return body.encode(), "application/json"


def _feed_renderer(feed_class):
    def render(request, snapshot, version: StatusVersion) -> tuple[bytes, str]:
        response = feed_class()(request)
        return response.content, response["Content-Type"]

    return render


@require_GET
def status_page(request):
    return status_cached_response(request, "html", _render_html)


@require_GET
def status_summary_json(request):
    return status_cached_response(request, "json", _render_json)


@require_GET
def status_feed_atom(request):
    return status_cached_response(request, "atom", _feed_renderer(StatusAtomFeed))


@require_GET
def status_feed_rss(request):
    return status_cached_response(request, "rss", _feed_renderer(StatusRssFeed))


@require_GET
def status_incident(request, pk: int):
    """An incident's permanent public page: its public title, impact, components and every
    status-page update, from the first to the last (the resolution included). The feeds link
    here, so an entry's link works after the incident left the front page. Anything the public
    may not see (a drill, a restricted incident without approved words, an incident never
    posted publicly, a missing id) is the same 404."""
    if not public_incident_exists(pk):  # one query; the page is built only on a cache miss
        raise Http404("No such public incident.")

    def render(request, snapshot, version: StatusVersion) -> tuple[bytes, str]:
        incident = public_incident_get(pk)
        body = render_to_string(
            "comms/status_incident.html",
            {"incident": incident, "updated_at": version.last_modified},
        )
        return body.encode(), "text/html; charset=utf-8"

    return status_cached_response(request, f"incident-{pk}", render)
