"""The deliveries of every outbox kind in one admin page (/admin/outbox/, "Deliveries (all
kinds)"), for SRE leads.

It reads what GET /api/v1/outbox/ reads, through the same selector
(`incidents.selectors.outbox_list_for_user`: who may read, the filters' rules, the rows hidden
with their restricted incident), newest first, in pages of the API's sizes. Each row offers
the buttons its state allows: retry now and give up, POST forms (CSRF) that call the API's
services (`incidents.services.outbox`), which check the role and the state under lock and
write the audit row. A refusal is shown as an error message naming the reason.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.paginator import InvalidPage, Paginator
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import View

from ..api.fields import MAX_ID
from ..api.pagination import page_size_from
from ..errors import RuleViolation, TransitionRefused
from ..models import Incident
from ..outbox import OUTBOX_KINDS, outbox_statuses
from ..permissions import is_sre_lead, require_sre_lead
from ..selectors import outbox_list_for_user
from ..services.outbox import outbox_actions_open, outbox_give_up, outbox_retry

TITLE = "Deliveries (all kinds)"
# An incident in the filter: its id or its reference, as the pages and chat write it.
INCIDENT = re.compile(r"^(?:INC-)?(\d{1,19})$", re.IGNORECASE)
# The buttons: what each posts, its label, the service it calls and what the message says.
ACTIONS = {
    "retry": ("Retry now", outbox_retry, "handed to the workers again"),
    "give-up": ("Give up", outbox_give_up, "given up"),
}


def outbox_index_entry(request, site) -> dict | None:
    """The page as an entry of the admin index, for those who may open it (None otherwise)."""
    if not (request.user.is_active and is_sre_lead(request.user)):
        return None
    return {
        "model": None,
        "name": TITLE,
        "object_name": "outbox",
        "perms": {"add": False, "change": False, "delete": False, "view": True},
        "admin_url": reverse("admin:outbox", current_app=site.name),
        "add_url": None,
        "view_only": True,
    }


def incident_id_from(text: str) -> int:
    """The incident the filter names, "42" or "INC-42"; ValueError naming the value else."""
    match = INCIDENT.match(text.strip())
    if match is None or not 1 <= int(match.group(1)) <= MAX_ID:
        raise ValueError(
            f"incident must be an incident id or reference, e.g. 42 or INC-42, not {text[:40]!r}."
        )
    return int(match.group(1))


def _given(query, name: str) -> str | None:
    """A filter's value; the form sends an empty one for "any"."""
    return query.get(name) or None


class OutboxPage(View):
    """GET: the list (nothing changes, whatever the query says). POST: one action on one row,
    then back to the list as it was (filters and page kept)."""

    site = None
    template_name = "admin/incidents/outbox.html"

    def dispatch(self, request, *args, **kwargs):
        require_sre_lead(request.user)  # 403 for the list and for a forged POST alike
        return super().dispatch(request, *args, **kwargs)

    # --- the list ---------------------------------------------------------------------------
    def get(self, request):
        query = request.GET
        kind, state = _given(query, "kind"), _given(query, "status")
        incident_text = (query.get("incident") or "").strip()
        page, error, code = self._page(request, kind, state, incident_text)
        context = {
            **self.site.each_context(request),
            "title": TITLE,
            "error": error,
            "choices": [
                {"name": "kind", "label": "Kind", "values": sorted(OUTBOX_KINDS), "chosen": kind},
                {"name": "status", "label": "Status", "values": outbox_statuses(), "chosen": state},
            ],
            "incident": incident_text,
            "page": page,
            "rows": self._rows(request, page.object_list) if page is not None else [],
            "query": query.urlencode(),
            "pages": self._page_links(query, page),
        }
        return TemplateResponse(request, self.template_name, context, status=code)

    @staticmethod
    def _page(request, kind, state, incident_text: str):
        """(the page of rows asked for, None, 200), or (None, what is wrong, 400 or 404)."""
        try:
            incident_id = incident_id_from(incident_text) if incident_text else None
            size = page_size_from(request.GET.get("page_size"))
        except ValueError as wrong:
            return None, str(wrong), 400
        try:
            rows = outbox_list_for_user(
                request.user, kind=kind, status=state, incident_id=incident_id
            )
            return Paginator(rows, size).page(request.GET.get("page", 1)), None, 200
        except RuleViolation as wrong:
            return None, wrong.detail, 400
        except Http404:
            return None, f"No incident INC-{incident_id} that you can see: not found.", 404
        except InvalidPage as wrong:
            return None, f"Invalid page: {wrong}", 404

    def _rows(self, request, rows: list[dict]) -> list[dict]:
        pages = self._change_pages(request)
        incident_page = self._site_shows(request, Incident) and "admin:incidents_incident_change"
        shown = []
        for row in rows:
            incident = row["incident"]
            shown.append(
                {
                    **row,
                    "change_url": pages[row["kind"]]
                    and reverse(pages[row["kind"]], args=[row["pk"]], current_app=self.site.name),
                    "incident_reference": incident and f"INC-{incident}",
                    "incident_url": incident
                    and incident_page
                    and reverse(incident_page, args=[incident], current_app=self.site.name),
                    "buttons": self._buttons(row["status"]),
                }
            )
        return shown

    @staticmethod
    def _buttons(status: str) -> list[tuple[str, str]]:
        """(value, label) of the actions a row in `status` may take now."""
        open_now = outbox_actions_open(status)
        return [(value, ACTIONS[value][0]) for value in ACTIONS if value in open_now]

    def _change_pages(self, request) -> dict[str, str | None]:
        """Each kind's row page, where this site has one this user may open."""
        pages = {}
        for kind, spec in OUTBOX_KINDS.items():
            meta = spec.model._meta
            allowed = self._site_shows(request, spec.model)
            pages[kind] = f"admin:{meta.app_label}_{meta.model_name}_change" if allowed else None
        return pages

    def _site_shows(self, request, model) -> bool:
        model_admin = self.site._registry.get(model)
        return model_admin is not None and model_admin.has_view_or_change_permission(request)

    @staticmethod
    def _page_links(query, page) -> dict:
        if page is None:
            return {}

        def link(number: int) -> str:
            there = query.copy()
            there["page"] = str(number)
            return "?" + there.urlencode()

        return {
            "previous": link(page.previous_page_number()) if page.has_previous() else None,
            "next": link(page.next_page_number()) if page.has_next() else None,
        }

    # --- the two actions --------------------------------------------------------------------
    def post(self, request):
        back = HttpResponseRedirect(request.get_full_path())
        action, kind = request.POST.get("action", ""), request.POST.get("kind", "")[:40]
        raw_id = request.POST.get("id", "")
        if action not in ACTIONS:
            messages.error(request, f"Nothing changed: no action {action[:40]!r}.")
            return back
        if not (raw_id.isascii() and raw_id.isdigit() and 1 <= int(raw_id) <= MAX_ID):
            messages.error(request, f"Nothing changed: {raw_id[:40]!r} is no delivery id.")
            return back
        _label, service, done = ACTIONS[action]
        label = f"{kind} #{raw_id}"
        try:
            service(actor=request.user, kind=kind, row_id=int(raw_id))
        except (TransitionRefused, Http404) as refused:
            messages.error(request, f"{label} not changed: {getattr(refused, 'detail', refused)}")
        else:
            messages.success(request, f"{label}: {done}.")
        return back
