"""On-call schedules, contact methods, and the timer engine's rows (deadlines and pages),
which SRE leads read here to see what fired, how late, and what was delivered."""

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone

from ..models import ContactMethod, Deadline, Override, Page, Rotation, RotationMember, Schedule
from ..oncall import oncall_at
from ..selectors import deadline_lateness_stats, incident_list_for_user
from .mixins import ReadOnlyAdminMixin
from .outbox import OutboxRowAdminMixin


class RotationInline(admin.TabularInline):
    model = Rotation
    extra = 0
    show_change_link = True
    fields = (
        "name",
        "position",
        "time_zone",
        "anchor_date",
        "handoff_time",
        "shift_start",
        "shift_end",
    )


class OverrideInline(admin.TabularInline):
    model = Override
    extra = 0
    autocomplete_fields = ("user",)
    fields = ("user", "role", "starts_at", "ends_at", "reason")


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "kind", "on_call_now", "backup_now")
    list_filter = ("team", "kind")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [RotationInline, OverrideInline]
    readonly_fields = ("feed_token",)

    @admin.display(description="On call now")
    def on_call_now(self, schedule):
        return oncall_at(schedule, timezone.now()).primary or "—"

    @admin.display(description="Backup now")
    def backup_now(self, schedule):
        return oncall_at(schedule, timezone.now()).backup or "—"


class RotationMemberInline(admin.TabularInline):
    model = RotationMember
    extra = 0
    autocomplete_fields = ("user",)
    ordering = ("position",)


@admin.register(Rotation)
class RotationAdmin(admin.ModelAdmin):
    list_display = ("name", "schedule", "time_zone", "handoff_time", "shift_start", "shift_end")
    list_filter = ("schedule",)
    inlines = [RotationMemberInline]


@admin.register(ContactMethod)
class ContactMethodAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "target", "enabled")
    list_filter = ("kind", "enabled")
    search_fields = ("user__username", "target")
    autocomplete_fields = ("user",)


class VisibleIncidentRowsMixin:
    """For admins of rows that belong to an incident (in any app): only the rows of incidents
    the user may see, so a restricted security incident's title never shows through them.
    Rows without an incident stay."""

    def get_queryset(self, request):
        visible = incident_list_for_user(request.user)
        return (
            super().get_queryset(request).filter(Q(incident__isnull=True) | Q(incident__in=visible))
        )


class VisibleIncidentRowsAdmin(ReadOnlyAdminMixin, VisibleIncidentRowsMixin, admin.ModelAdmin):
    """Read-only rows that belong to an incident."""


@admin.register(Deadline)
class DeadlineAdmin(VisibleIncidentRowsAdmin):
    list_display = ("incident", "kind", "key", "due_at", "status", "fired_at", "lateness_ms")
    list_filter = ("status", "kind")
    list_select_related = ("incident",)
    date_hierarchy = "due_at"
    search_fields = ("key",)

    def changelist_view(self, request, extra_context=None):
        now = timezone.now()
        pending = self.get_queryset(request).filter(status=Deadline.Status.PENDING)
        extra_context = {
            **(extra_context or {}),
            "lateness": deadline_lateness_stats(request.user),
            "pending": pending.count(),
            "overdue": pending.filter(due_at__lt=now).count(),
        }
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(Page)
class PageAdmin(OutboxRowAdminMixin, VisibleIncidentRowsAdmin):
    """Rows of the outbox's "page" kind: read-only, with its two actions (send again now,
    give up) for SRE leads."""

    list_display = (
        "incident",
        "recipient",
        "channel",
        "status",
        "attempts",
        "created_at",
        "sent_at",
        "last_error",
    )
    list_filter = ("status", "channel")
    list_select_related = ("incident", "recipient")
    search_fields = ("recipient__username", "idempotency_key")
    exclude = ("secret",)
