"""Admin for communications: customers and their contacts and team webhooks (edited in the
admin); chat identities (made only by the linked person, so here they can be seen and
removed, audited); obligations, deliveries and chat commands are read-only history written
by the services."""

from django.contrib import admin
from django.db import models

from incidents.admin.oncall import VisibleIncidentRowsAdmin
from incidents.admin.outbox import OutboxRowAdminMixin

from .models import (
    ChatCommand,
    ChatIdentity,
    CommsObligation,
    Customer,
    CustomerContact,
    Delivery,
    TeamWebhook,
)
from .services import chat_identity_unlink


class CustomerContactInline(admin.TabularInline):
    model = CustomerContact
    extra = 1
    fields = ("name", "email", "active")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "service_names", "contact_count")
    search_fields = ("name", "contacts__email")
    filter_horizontal = ("services",)
    inlines = [CustomerContactInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("services", "contacts")

    @admin.display(description="Services")
    def service_names(self, customer):
        return ", ".join(s.name for s in customer.services.all()) or "—"

    @admin.display(description="Contacts")
    def contact_count(self, customer):
        return len(customer.contacts.all())


@admin.register(TeamWebhook)
class TeamWebhookAdmin(admin.ModelAdmin):
    list_display = ("team", "url", "enabled")
    list_filter = ("enabled",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(ChatIdentity)
class ChatIdentityAdmin(admin.ModelAdmin):
    """Links are made by the person themselves (comms/chat_links.py), never set here: that
    would let an admin make a Slack user act as someone else. Removing one is audited."""

    list_display = ("slack_user_id", "slack_name", "slack_team_id", "user", "created_at")
    list_filter = ("slack_team_id",)
    search_fields = ("slack_user_id", "slack_name", "user__username")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        chat_identity_unlink(actor=request.user, identity_id=obj.pk, via="admin")

    def delete_queryset(self, request, queryset):
        for identity_id in queryset.values_list("pk", flat=True):
            chat_identity_unlink(actor=request.user, identity_id=identity_id, via="admin")


@admin.register(CommsObligation)
class CommsObligationAdmin(VisibleIncidentRowsAdmin):
    list_display = ("incident", "channel", "sequence", "kind", "due_at", "status", "met_at")
    list_filter = ("status", "channel", "kind")
    list_select_related = ("incident",)


@admin.register(Delivery)
class DeliveryAdmin(OutboxRowAdminMixin, VisibleIncidentRowsAdmin):
    list_display = ("incident", "update", "channel", "target", "status", "attempts", "sent_at")
    list_filter = ("status", "channel")
    search_fields = ("target", "idempotency_key")
    list_select_related = ("incident", "update")


@admin.register(ChatCommand)
class ChatCommandAdmin(VisibleIncidentRowsAdmin):
    list_display = ("command", "user", "status", "incident", "created_at", "finished_at")
    list_filter = ("status",)
    list_select_related = ("user", "incident")
