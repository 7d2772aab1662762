"""Admin for SRE leads: the incidents they may see, the procedures' numbers, the catalog and
the people.

Admin is one more interface to the services, never a way around them: incident edits and
actions call `incidents.services` (so every change is on the timeline), policy edits call the
`policy_object_*` services (so every change is audited), and incidents are reached through
`incidents.selectors` (so restricted security incidents stay invisible: absent from lists,
404 on their pages).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import Http404
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from ..audit import acting_user
from ..errors import DomainError
from ..models import (
    AuditEvent,
    ChecklistItem,
    EscalationContact,
    EscalationRule,
    Incident,
    PolicyChange,
    PolicySettings,
    RoleAssignment,
    Service,
    SeverityPolicy,
    Team,
    TimelineEvent,
    User,
)
from ..permissions import (
    can_change_severity,
    is_sre_lead,
    may_approve_public_text,
    may_end_security_incident,
    may_make_security_incident,
    require_may_approve_public_text,
    require_may_grant_security,
    require_may_set_password,
    require_may_set_rank,
    require_may_set_security,
)
from ..rules import check_severity_reason
from ..selectors import active_roles_prefetch, incident_ic_id, incident_list_for_user
from ..services import (
    incident_acknowledge,
    incident_public_text_approve,
    incident_security_set,
    incident_transition,
    incident_update,
    policy_object_create,
    policy_object_delete,
    policy_object_update,
)
from ..services.security import public_words_clean
from ..states import GroupName, Role, Status
from .mixins import ReadOnlyAdminMixin

admin.site.site_header = "TenSafe IR administration"
admin.site.site_title = "TenSafe IR admin"
admin.site.index_title = "Incidents, policy and people"

# Reason recorded on PolicyChange rows written from admin.
ADMIN_REASON = "admin"


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A history shown beside its incident: nothing here is added, edited or deleted."""

    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class TimelineEventInline(ReadOnlyInline):
    model = TimelineEvent
    fields = ("occurred_at", "kind", "actor", "text")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class RoleAssignmentInline(ReadOnlyInline):
    model = RoleAssignment
    fields = ("role", "user", "assigned_at", "assigned_by", "relieved_at", "relieved_by")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "assigned_by", "relieved_by")


class ChecklistItemInline(ReadOnlyInline):
    model = ChecklistItem
    fields = ("checklist", "phase", "text", "done", "done_at", "done_by")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("done_by")


class IncidentAdminForm(forms.ModelForm):
    reason = forms.CharField(
        required=False,
        max_length=500,
        help_text="Why the severity changed; recorded on the timeline with the change.",
    )
    security_reason = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why it is (or is no longer) a security incident: required when the flag "
        "changes; on the timeline and in the audit log.",
    )

    class Meta:
        model = Incident
        fields = ("title", "description", "severity", "services", "security")

    def clean(self):
        cleaned = super().clean()
        self._clean_security(cleaned)
        if "severity" in self.changed_data and not self.instance.is_open:
            self.add_error("severity", "A resolved incident's severity is final; reopen it first.")
        elif "severity" in self.changed_data and cleaned.get("severity"):
            try:  # the service's own rule, shown next to the field instead of a 500
                check_severity_reason(
                    self.instance.severity, cleaned["severity"], cleaned.get("reason", "")
                )
            except DomainError as refused:
                self.add_error("reason", refused.detail)
        return cleaned

    def _clean_security(self, cleaned) -> None:
        """The rules of `incident_security_set` and `incident_public_text_approve`, shown next
        to the fields instead of a 500 (the services check them again)."""
        actor = acting_user()
        if "security" in self.changed_data:
            if not cleaned.get("security_reason", "").strip():
                self.add_error("security_reason", "A reason is required to change the flag.")
            try:
                require_may_set_security(
                    actor, cleaned.get("security", False), incident_ic_id(self.instance)
                )
            except PermissionDenied as refused:
                self.add_error("security", str(refused))
        if {"public_title", "public_text"} & set(self.changed_data):
            try:
                require_may_approve_public_text(actor)
                public_words_clean(cleaned.get("public_title"), cleaned.get("public_text"))
            except PermissionDenied as refused:
                self.add_error("public_title", str(refused))
            except DomainError as refused:
                self.add_error(refused.extra.get("field", "public_title"), refused.detail)
            if not cleaned.get("security", self.instance.security):
                self.add_error(
                    "public_title", "Only a security incident has a public title and text."
                )


def _incident_action(request, modeladmin, queryset, call, done: str) -> None:
    """Run `call(incident)` for each selected incident and report each outcome: a service's
    refusal is the answer the user needs, so it is shown as written, not swallowed."""
    for incident in queryset.order_by("pk"):
        label = f"{incident.reference} ({incident.title})"
        try:
            call(incident)
        except DomainError as refused:
            modeladmin.message_user(request, f"{label}: {refused.detail}", messages.ERROR)
        except PermissionDenied as denied:
            detail = str(denied) or "you may not do this."
            modeladmin.message_user(request, f"{label}: {detail}", messages.ERROR)
        except (TransitionNotAllowed, ConcurrentTransition):
            modeladmin.message_user(
                request,
                f"{label}: the incident changed meanwhile; reload and try again.",
                messages.ERROR,
            )
        else:
            modeladmin.message_user(request, f"{label}: {done}.", messages.SUCCESS)


def _transition_action(to: str, name: str, description: str):
    @admin.action(description=description, permissions=["transition"])
    def action(modeladmin, request, queryset):
        _incident_action(
            request,
            modeladmin,
            queryset,
            lambda incident: incident_transition(
                actor=request.user, incident_id=incident.pk, to=to
            ),
            f"moved to {Status(to).label}",
        )

    action.__name__ = name
    return action


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    form = IncidentAdminForm
    list_display = (
        "reference",
        "title",
        "severity",
        "status",
        "security",
        "detected_at",
        "acknowledged_at",
        "incident_commander",
    )
    list_display_links = ("reference", "title")
    list_filter = ("status", "severity", "security", "drill", "services")
    search_fields = ("title", "channel_name")
    filter_horizontal = ("services",)
    fieldsets = (
        (None, {"fields": ("title", "description", "severity", "reason", "services")}),
        (
            "Security (2.1, 5.1)",
            {
                "fields": (
                    "security",
                    "security_reason",
                    "public_title",
                    "public_text",
                    "public_approved_at",
                    "public_approved_by",
                )
            },
        ),
        (
            "Status",
            {
                "fields": (
                    "status",
                    "drill",
                    "detection_source",
                    "channel_name",
                    "bridge_url",
                    "declared_by",
                    "acknowledged_by",
                )
            },
        ),
        (
            "Milestones",
            {
                "fields": (
                    "started_at",
                    "detected_at",
                    "declared_at",
                    "acknowledged_at",
                    "identified_at",
                    "mitigated_at",
                    "resolved_at",
                    "ttd_seconds",
                    "ttm_seconds",
                    "ttr_seconds",
                )
            },
        ),
    )
    # Status moves only through the actions (the services); milestones are what the
    # services recorded.
    readonly_fields = (
        "status",
        "public_approved_at",
        "public_approved_by",
        "drill",
        "detection_source",
        "channel_name",
        "bridge_url",
        "declared_by",
        "acknowledged_by",
        "started_at",
        "detected_at",
        "declared_at",
        "acknowledged_at",
        "identified_at",
        "mitigated_at",
        "resolved_at",
        "ttd_seconds",
        "ttm_seconds",
        "ttr_seconds",
    )
    inlines = (RoleAssignmentInline, ChecklistItemInline, TimelineEventInline)
    actions = (
        "acknowledge",
        _transition_action(Status.IDENTIFIED, "identify", "Identify: move to Identified"),
        _transition_action(Status.MONITORING, "mitigate", "Mitigate: move to Monitoring"),
        _transition_action(Status.RESOLVED, "resolve", "Resolve (Incident Commander)"),
    )

    # --- what this user may see -------------------------------------------------------------
    def get_queryset(self, request):
        return (
            incident_list_for_user(request.user)
            .select_related("declared_by", "acknowledged_by")
            .prefetch_related(active_roles_prefetch())
        )

    def get_object(self, request, object_id, from_field=None):
        # The queryset above holds the visibility rule; an incident this user may not see
        # is a 404, exactly like one that does not exist.
        incident = super().get_object(request, object_id, from_field)
        if incident is None:
            raise Http404("No incident with that id.")
        return incident

    # --- what this user may do --------------------------------------------------------------
    def has_add_permission(self, request):
        return False  # incidents are declared through the API, pages and chat (services)

    def has_delete_permission(self, request, obj=None):
        return False  # an incident is history; it is resolved, never deleted

    def has_transition_permission(self, request):
        return request.user.has_perm("incidents.transition_incident")

    def get_readonly_fields(self, request, obj=None):
        readonly = list(self.readonly_fields)
        if obj is None:
            return readonly
        ic_id = incident_ic_id(obj)
        if not obj.is_open or not can_change_severity(request.user, ic_id):
            readonly.append("severity")
        if not (
            may_make_security_incident(request.user, ic_id)
            if not obj.security
            else may_end_security_incident(request.user)
        ):
            readonly.append("security")
        if not (obj.security and may_approve_public_text(request.user)):
            readonly += ["public_title", "public_text"]
        return readonly

    # --- columns ----------------------------------------------------------------------------
    @admin.display(description="Reference", ordering="pk")
    def reference(self, incident):
        return incident.reference

    @admin.display(description="IC")
    def incident_commander(self, incident):
        for assignment in incident.active_roles:
            if assignment.role == Role.INCIDENT_COMMANDER:
                return assignment.user
        return None

    # --- writes go through the services -----------------------------------------------------
    def save_model(self, request, obj, form, change):
        """`obj` already carries the form's values; the service re-reads the row under lock,
        applies what changed and puts each kind of change on the timeline."""
        if not change:
            raise PermissionDenied("Incidents are declared, not added in admin.")
        changed = set(form.changed_data)
        data = form.cleaned_data
        incident_update(
            actor=request.user,
            incident_id=obj.pk,
            title=data["title"] if "title" in changed else None,
            description=data["description"] if "description" in changed else None,
            services=list(data["services"]) if "services" in changed else None,
            severity=data["severity"] if "severity" in changed else None,
            reason=data.get("reason", ""),
        )
        # The flag first: becoming restricted withdraws an earlier approval of public words.
        if "security" in changed:
            incident_security_set(
                actor=request.user,
                incident_id=obj.pk,
                security=data["security"],
                reason=data["security_reason"],
            )
        if {"public_title", "public_text"} & changed:
            incident_public_text_approve(
                actor=request.user,
                incident_id=obj.pk,
                public_title=data["public_title"],
                public_text=data["public_text"],
            )

    def save_related(self, request, form, formsets, change):
        # No form.save_m2m(): the services were set by incident_update in save_model, with
        # their timeline event. The inlines are read-only, so saving them writes nothing (it
        # only records that nothing changed, which admin's change message reads).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description="Acknowledge", permissions=["change"])
    def acknowledge(self, request, queryset):
        for incident in queryset.filter(acknowledged_at__isnull=False).order_by("pk"):
            self.message_user(
                request,
                f"{incident.reference} ({incident.title}): already acknowledged.",
                messages.WARNING,
            )
        _incident_action(
            request,
            self,
            queryset.filter(acknowledged_at__isnull=True),
            lambda incident: incident_acknowledge(actor=request.user, incident_id=incident.pk),
            "acknowledged",
        )


@admin.register(TimelineEvent)
class TimelineEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the timeline is append-only, and only services append to it."""

    list_display = ("occurred_at", "incident", "kind", "actor", "text")
    list_filter = ("kind",)
    search_fields = ("text",)
    list_select_related = ("incident", "actor")
    fields = ("incident", "kind", "occurred_at", "recorded_at", "actor", "text", "data")
    readonly_fields = fields

    def get_queryset(self, request):
        # Events of incidents this user may not see do not exist for them either.
        return (
            super().get_queryset(request).filter(incident__in=incident_list_for_user(request.user))
        )

    def get_object(self, request, object_id, from_field=None):
        event = super().get_object(request, object_id, from_field)
        if event is None:
            raise Http404("No timeline event with that id.")
        return event


# --- the procedures' numbers ----------------------------------------------------------------
class AuditedPolicyAdmin(admin.ModelAdmin):
    """Policy rows change only through `policy_object_update`, which diffs against the row
    in the database (not the form-mutated `obj`) and audits each changed field."""

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            policy_object_update(actor=request.user, obj=obj, values=values, reason=ADMIN_REASON)
            return
        created = policy_object_create(
            actor=request.user, model=type(obj), values=form.cleaned_data, reason=ADMIN_REASON
        )
        # Admin logs the addition and redirects using `obj`: give it the created row's id.
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db

    def delete_model(self, request, obj):
        policy_object_delete(actor=request.user, obj=obj, reason=ADMIN_REASON)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                policy_object_delete(actor=request.user, obj=obj, reason=ADMIN_REASON)


class ChangeOnlyPolicyAdmin(AuditedPolicyAdmin):
    """Rows the procedures define: changed, never added or removed."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PolicySettings)
class PolicySettingsAdmin(ChangeOnlyPolicyAdmin):
    list_display = (
        "__str__",
        "stability_window_minutes",
        "triage_window_minutes",
        "ic_roles_within_minutes",
    )
    # Links typed without a scheme are https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(SeverityPolicy)
class SeverityPolicyAdmin(ChangeOnlyPolicyAdmin):
    list_display = (
        "severity",
        "name",
        "target_resolution_minutes",
        "ic_selection",
        "status_page_mode",
        "pir_required",
    )
    readonly_fields = ("severity",)
    fieldsets = (
        (None, {"fields": ("severity", "name", "definition", "criteria")}),
        (
            "Response (2.1)",
            {"fields": ("response_requirements", "notify_at_declaration", "bridge")},
        ),
        ("Target", {"fields": ("target_resolution_minutes",)}),
        (
            "Roles (3.1, 3.3)",
            {
                "fields": (
                    "ic_selection",
                    "ic_allowed_ranks",
                    "ic_on_call",
                    "comms_lead_selection",
                    "comms_lead_allowed_ranks",
                    "comms_lead_on_call",
                    "roles_required",
                )
            },
        ),
        (
            "Communication (2.1, 6.3)",
            {
                "fields": (
                    "status_page_first_minutes",
                    "customer_first_minutes",
                    "status_page_mode",
                    "status_page_every_minutes",
                    "internal_every_minutes",
                    "customer_email_mode",
                    "customer_email_every_minutes",
                )
            },
        ),
        (
            "Post-incident (8.1, 8.4)",
            {
                "fields": (
                    "pir_required",
                    "pir_due_hours",
                    "pir_attendees",
                    "action_review_every_days",
                )
            },
        ),
    )


@admin.register(EscalationContact)
class EscalationContactAdmin(ChangeOnlyPolicyAdmin):
    list_display = ("name", "role", "contact_method", "response_minutes", "p1_only")
    readonly_fields = ("role",)


@admin.register(EscalationRule)
class EscalationRuleAdmin(AuditedPolicyAdmin):
    list_display = ("__str__", "severity", "trigger", "after_minutes", "target", "enabled")
    list_filter = ("severity", "trigger", "target", "enabled")


@admin.register(PolicyChange)
class PolicyChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit of policy changes: read-only."""

    list_display = ("changed_at", "changed_by", "target", "field", "old_value", "new_value")
    list_filter = ("target", "field")
    search_fields = ("target", "field", "reason")
    list_select_related = ("changed_by",)
    fields = ("changed_at", "changed_by", "target", "field", "old_value", "new_value", "reason")
    readonly_fields = fields


# --- catalog and people ----------------------------------------------------------------------
@admin.register(Team)
class TeamAdmin(AuditedPolicyAdmin):
    """A team's escalation (procedures 9.4) is policy: its changes are audited like the
    procedures' numbers."""

    list_display = ("name", "slug", "escalation_rank")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    """SRE leads keep the catalog, and each service's subject matter experts (3.2)."""

    list_display = ("name", "slug", "team", "runbook")
    list_filter = ("team",)
    search_fields = ("name", "slug", "runbook")
    list_select_related = ("team",)
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("experts",)


INCIDENT_RESPONSE_FIELDSET = ("Incident response", {"fields": ("rank", "team", "manager")})


class GrantCheckedUserForm:
    """The grant rules (permissions.py) as form errors: granting the security group or the
    security_lead rank takes the security lead or a superuser. The model hooks of
    incidents/audit.py hold the same rules under every other door."""

    def clean(self):
        cleaned = super().clean()
        actor = acting_user()
        groups = cleaned.get("groups")
        if groups is not None:
            had = (
                set(self.instance.groups.values_list("name", flat=True))
                if self.instance.pk
                else set()
            )
            if GroupName.SECURITY in {group.name for group in groups} - had:
                try:
                    require_may_grant_security(actor)
                except PermissionDenied as refused:
                    self.add_error("groups", str(refused))
        if "rank" in cleaned:
            old = (
                User.objects.filter(pk=self.instance.pk).values_list("rank", flat=True).first()
                if self.instance.pk
                else None
            )
            try:
                require_may_set_rank(actor, old, cleaned["rank"])
            except PermissionDenied as refused:
                self.add_error("rank", str(refused))
        return cleaned


class UserChangeAdminForm(GrantCheckedUserForm, UserChangeForm):
    pass


class UserAddAdminForm(GrantCheckedUserForm, AdminUserCreationForm):
    pass


class UserPasswordAdminForm(AdminPasswordChangeForm):
    """A security member's password is reset only by the security lead or a superuser."""

    def clean(self):
        cleaned = super().clean()
        try:
            require_may_set_password(acting_user(), self.user)
        except PermissionDenied as refused:
            # On the field: the admin's password page shows no form-wide errors.
            self.add_error("password1", str(refused))
        return cleaned


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Saves go through the model hooks of incidents/audit.py: each change of a user, their
    groups or password is checked against the grant rules and audited in its transaction."""

    form = UserChangeAdminForm
    add_form = UserAddAdminForm
    change_password_form = UserPasswordAdminForm
    fieldsets = (*DjangoUserAdmin.fieldsets, INCIDENT_RESPONSE_FIELDSET)
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Incident response", {"classes": ("wide",), "fields": ("rank", "team", "manager")}),
    )
    list_display = (*DjangoUserAdmin.list_display, "rank", "team")
    list_filter = (*DjangoUserAdmin.list_filter, "rank", "team")
    list_select_related = ("team",)
    autocomplete_fields = ("manager",)

    def get_readonly_fields(self, request, obj=None):
        # An SRE lead manages people and their groups, but cannot mint superusers or hand
        # out permissions beyond the groups.
        readonly = super().get_readonly_fields(request, obj)
        if not request.user.is_superuser:
            readonly = (*readonly, "is_superuser", "user_permissions")
        return readonly

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit log of users, groups, passwords, tokens and grants: SRE leads read it;
    nobody adds, changes or deletes a row."""

    list_display = ("at", "actor_username", "action", "target_user", "target_repr", "remote_addr")
    list_filter = ("action",)
    search_fields = ("actor_username", "target_user__username", "target_repr")
    list_select_related = ("target_user",)
    date_hierarchy = "at"
    fields = (
        "at",
        "actor_username",
        "action",
        "target_user",
        "target_type",
        "target_id",
        "target_repr",
        "details",
        "remote_addr",
    )
    readonly_fields = fields

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff and is_sre_lead(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)
