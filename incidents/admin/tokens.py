"""API tokens in the admin, for SRE leads: who holds which, since when, until when, last used,
revoked or not; never a secret or its digest (only the prefix that tells tokens apart, as the
owner's own list shows it). Read-only, with one action, "revoke", through the service the API
and deactivation use (incidents.services.tokens), audited there as `token.revoked`."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone

from ..models import ApiToken
from ..permissions import is_sre_lead
from ..services import api_token_revoke_for
from .mixins import ReadOnlyAdminMixin

REVOKED_IN_ADMIN = "revoked by an SRE lead in the admin"


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "live"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "live":
            return queryset.filter(revoked_at=None, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at=None, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.exclude(revoked_at=None)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Not "digest": what a token is checked against stays out of every page.
    list_display = (
        "prefix_shown",
        "name",
        "user",
        "state",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_reason",
    )
    list_filter = (TokenStateFilter,)
    search_fields = ("user__username", "name", "prefix")
    list_select_related = ("user",)
    fields = readonly_fields = list_display
    actions = ("revoke",)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and is_sre_lead(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    @admin.display(description="Token", ordering="prefix")
    def prefix_shown(self, token):
        return f"{token.prefix}…"

    @admin.display(description="State")
    def state(self, token):
        if token.revoked_at is not None:
            return "revoked"
        return "expired" if token.expires_at <= timezone.now() else "live"

    @admin.action(description="Revoke the selected tokens (audited)")
    def revoke(self, request, queryset):
        queryset = queryset.select_related("user").order_by("pk")
        for token in queryset.exclude(revoked_at=None):
            self.message_user(request, f"{token} of {token.user}: already revoked.", messages.INFO)
        revoked = 0
        for token in queryset.filter(revoked_at=None):
            try:
                api_token_revoke_for(actor=request.user, token_id=token.pk, reason=REVOKED_IN_ADMIN)
            except (PermissionDenied, Http404) as refused:
                detail = str(refused) or "you may not do this."
                self.message_user(request, f"{token} of {token.user}: {detail}", messages.ERROR)
            else:
                revoked += 1
        if revoked:
            self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
