"""The outbox's two operator actions in the admin lists of every kind's rows: send again now,
give up. They call the same services as the API (incidents.services.outbox), which check the
SRE lead role and the row's state and write the audit row."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404

from ..errors import TransitionRefused
from ..outbox import OUTBOX_KINDS
from ..services.outbox import outbox_give_up, outbox_retry
from .deliveries import outbox_index_entry


class OutboxRowAdminMixin:
    """For the ModelAdmin of a registered outbox kind's model. Its list links to the page of
    every kind's deliveries (incidents/admin/deliveries.py) for those who may open it."""

    actions = ["outbox_retry_now", "outbox_give_up"]
    change_list_template = "admin/incidents/outbox_kind_change_list.html"

    def changelist_view(self, request, extra_context=None):
        entry = outbox_index_entry(request, self.admin_site)
        extra_context = {**(extra_context or {}), "outbox_all": entry}
        return super().changelist_view(request, extra_context=extra_context)

    def _outbox_kind(self) -> str:
        return next(k for k, spec in OUTBOX_KINDS.items() if spec.model is self.model)

    def _outbox_apply(self, request, queryset, service, done: str) -> None:
        kind, changed, refused = self._outbox_kind(), 0, []
        for pk in queryset.values_list("pk", flat=True):
            try:
                service(actor=request.user, kind=kind, row_id=pk)
            except PermissionDenied as denied:
                self.message_user(request, str(denied), messages.ERROR)
                return
            except (TransitionRefused, Http404) as refusal:
                refused.append(f"#{pk}: {getattr(refusal, 'detail', refusal)}")
                continue
            changed += 1
        self.message_user(request, f"{changed} delivery(ies) {done}.")
        if refused:
            self.message_user(request, "Not changed: " + "; ".join(refused), messages.WARNING)

    @admin.action(description="Send the selected deliveries again now")
    def outbox_retry_now(self, request, queryset):
        self._outbox_apply(request, queryset, outbox_retry, "handed to the workers again")

    @admin.action(description="Give up the selected waiting deliveries")
    def outbox_give_up(self, request, queryset):
        self._outbox_apply(request, queryset, outbox_give_up, "given up")
