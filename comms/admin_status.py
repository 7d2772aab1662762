"""Admin for the status page: scheduled maintenance (edited by SRE leads) and subscribers
(looked at, and unsubscribed on request; deliveries are read-only history)."""

from django.contrib import admin
from django.utils import timezone

from incidents.admin.outbox import OutboxRowAdminMixin

from .models import Maintenance, Subscriber, SubscriberDelivery
from .subscribers import subscribers_unsubscribe


@admin.register(Maintenance)
class MaintenanceAdmin(admin.ModelAdmin):
    list_display = ("title", "starts_at", "ends_at", "phase")
    list_filter = ("services",)
    search_fields = ("title", "description")
    filter_horizontal = ("services",)
    date_hierarchy = "starts_at"
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="Phase")
    def phase(self, obj: Maintenance) -> str:
        now = timezone.now()
        if obj.ends_at <= now:
            return "Finished"
        return "In progress" if obj.starts_at <= now else "Scheduled"


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ("email", "status", "created_at", "confirmed_at", "unsubscribed_at")
    list_filter = ("status",)
    search_fields = ("email",)
    readonly_fields = ("email", "status", "created_at", "confirmed_at", "unsubscribed_at")
    actions = ["unsubscribe"]

    def has_add_permission(self, request):
        return False  # people subscribe themselves (double opt-in), never on their behalf

    @admin.action(description="Unsubscribe the selected subscribers")
    def unsubscribe(self, request, queryset):
        count = subscribers_unsubscribe(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} subscriber(s) unsubscribed.")


@admin.register(SubscriberDelivery)
class SubscriberDeliveryAdmin(OutboxRowAdminMixin, admin.ModelAdmin):
    list_display = ("idempotency_key", "subscriber", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status",)
    list_select_related = ("subscriber",)
    search_fields = ("subscriber__email", "idempotency_key")
