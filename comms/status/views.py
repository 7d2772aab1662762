"""The public status page: HTML, JSON and feeds. No login; every response is cached per
version (caching.py) and carries ETag, Last-Modified and a short public max-age."""

from __future__ import annotations

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from .caching import StatusVersion, status_cached_response
from .feeds import StatusAtomFeed, StatusRssFeed
from .selectors import ComponentState, StatusSnapshot


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


def status_summary(snapshot: StatusSnapshot, version: StatusVersion) -> dict:
    """The JSON document: overall status, components, active incidents with their public
    updates (newest first), and upcoming or in-progress maintenance."""
    return {
        "page": {"name": "TenSafe", "updated_at": _iso(version.last_modified)},
        "status": {"indicator": snapshot.overall, "description": snapshot.overall_label},
        "components": [
            {"id": c.slug, "name": c.name, "status": c.state, "status_label": c.state_label}
            for c in snapshot.components
        ],
        "incidents": [
            {
                "id": i.id,
                "title": i.title,
                "status": i.status,
                "status_label": i.status_label,
                "impact": i.state,
                "impact_label": i.state_label,
                "started_at": _iso(i.started_at),
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
            for i in snapshot.incidents
        ],
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
