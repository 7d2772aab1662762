"""Admin for communications: customers and their contacts, team webhooks and chat identities
(edited by SRE leads); obligations, deliveries and chat commands are read-only history written
by the services."""

from django.contrib import admin
from django.db import models

from incidents.admin.oncall import VisibleIncidentRowsAdmin

from .models import (
    ChatCommand,
    ChatIdentity,
    CommsObligation,
    Customer,
    CustomerContact,
    Delivery,
    TeamWebhook,
)


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
    list_display = ("slack_user_id", "user", "created_at")
    search_fields = ("slack_user_id", "user__username")
    raw_id_fields = ("user",)


@admin.register(CommsObligation)
class CommsObligationAdmin(VisibleIncidentRowsAdmin):
    list_display = ("incident", "channel", "sequence", "kind", "due_at", "status", "met_at")
    list_filter = ("status", "channel", "kind")
    list_select_related = ("incident",)


@admin.register(Delivery)
class DeliveryAdmin(VisibleIncidentRowsAdmin):
    list_display = ("incident", "update", "channel", "target", "status", "attempts", "sent_at")
    list_filter = ("status", "channel")
    search_fields = ("target", "idempotency_key")
    list_select_related = ("incident", "update")


@admin.register(ChatCommand)
class ChatCommandAdmin(VisibleIncidentRowsAdmin):
    list_display = ("command", "user", "status", "incident", "created_at", "finished_at")
    list_filter = ("status",)
    list_select_related = ("user", "incident")
