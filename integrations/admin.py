"""Admin for SRE leads: integrations (secrets generated and rotated here, shown once; severity
mapping as JSON), what came in (deliveries, groups, alerts: read-only), and outgoing webhooks
(subscriptions, their status after failures, their deliveries: read-only)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction

from incidents.admin.mixins import ReadOnlyAdminMixin
from incidents.admin.oncall import VisibleIncidentRowsMixin
from incidents.admin.outbox import OutboxRowAdminMixin
from incidents.audit import acting_user
from incidents.permissions import may_grant_restricted

from .models import (
    Alert,
    AlertGroup,
    InboundDelivery,
    Integration,
    WebhookDelivery,
    WebhookSubscription,
    new_secret,
)
from .permissions import may_manage_integrations, require_may_set_declares_security
from .services.integrations import (
    check_subscription_url,
    integration_declares_security_set,
    integration_rotate_secret,
    integration_url,
    subscription_create,
    subscription_update,
)


class SreLeadOnly:
    def has_module_permission(self, request):
        return request.user.is_active and may_manage_integrations(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)


class ReadOnly(ReadOnlyAdminMixin, SreLeadOnly):
    """Shown to SRE leads, changed by no one."""


class IntegrationForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = [
            "name",
            "kind",
            "enabled",
            "severity_map",
            "default_severity",
            "resolve_to_monitoring",
            "declares_security",
            "signing_secret",
        ]

    def clean_declares_security(self):
        value = self.cleaned_data["declares_security"]
        was = bool(self.instance.pk and self.instance.declares_security)
        try:
            require_may_set_declares_security(acting_user(), was, value)
        except PermissionDenied as refused:
            raise forms.ValidationError(str(refused)) from None
        return value

    def clean_severity_map(self):
        value = self.cleaned_data["severity_map"] or {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and v in ("P1", "P2", "P3", "P4") for k, v in value.items()
        ):
            raise forms.ValidationError("A JSON object of label value → P1..P4.")
        return value


@admin.register(Integration)
class IntegrationAdmin(SreLeadOnly, admin.ModelAdmin):
    form = IntegrationForm
    list_display = [
        "name",
        "kind",
        "enabled",
        "declares_security",
        "resolve_to_monitoring",
        "secret_rotated_at",
    ]
    list_filter = ["kind", "enabled"]
    readonly_fields = ["receive_url", "created_at", "secret_rotated_at"]
    actions = ["rotate_secret"]

    @admin.display(description="URL senders post to")
    def receive_url(self, obj):
        return integration_url(obj) if obj and obj.pk else "(after saving)"

    def save_model(self, request, obj, form, change):
        if not change:
            secret = new_secret()
            obj.set_secret(secret)
            obj.created_by = request.user
            super().save_model(request, obj, form, change)
            self.message_user(
                request,
                f"Secret for {obj.name} (shown once; senders send Authorization: Bearer "
                f"<secret>): {secret}",
                messages.WARNING,
            )
            return
        with transaction.atomic():
            if "declares_security" in form.changed_data:
                # Through the service, which checks and audits it; the rest as the form says.
                integration_declares_security_set(
                    actor=request.user, integration_id=obj.pk, declares=obj.declares_security
                )
            super().save_model(request, obj, form, change)

    @admin.action(description="Rotate the secret (the old one stops working)")
    def rotate_secret(self, request, queryset):
        if not may_manage_integrations(request.user):
            raise PermissionDenied
        for integration in queryset:
            _, secret = integration_rotate_secret(actor=request.user, integration_id=integration.pk)
            self.message_user(
                request,
                f"New secret for {integration.name} (shown once): {secret}",
                messages.WARNING,
            )


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["received_at", "integration", "status", "attempts"]
    list_filter = ["status", "integration"]
    readonly_fields = [f.name for f in InboundDelivery._meta.fields]


class AlertInline(admin.TabularInline):
    model = Alert
    extra = 0
    can_delete = False
    fields = ["fingerprint", "title", "status", "severity", "incident", "last_received_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AlertGroup)
class AlertGroupAdmin(VisibleIncidentRowsMixin, ReadOnly, admin.ModelAdmin):
    list_display = ["__str__", "integration", "incident", "updated_at"]
    list_filter = ["integration"]
    readonly_fields = ["integration", "group_key", "title", "incident", "created_at", "updated_at"]
    inlines = [AlertInline]


@admin.register(Alert)
class AlertAdmin(VisibleIncidentRowsMixin, ReadOnly, admin.ModelAdmin):
    list_display = ["title", "status", "severity", "group", "incident", "last_received_at"]
    list_filter = ["status", "severity"]
    search_fields = ["title", "fingerprint"]
    readonly_fields = [f.name for f in Alert._meta.fields]


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=WebhookSubscription.Event.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "enabled", "allow_restricted", "secret"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            check_subscription_url(url)
        except Exception as exc:
            raise forms.ValidationError(getattr(exc, "detail", str(exc))) from None
        return url

    def clean_allow_restricted(self):
        allow = self.cleaned_data["allow_restricted"]
        newly = allow and not (self.instance.pk and self.instance.allow_restricted)
        if newly and not may_grant_restricted(acting_user()):
            raise forms.ValidationError(
                "Only the security lead or a superuser may let a webhook receive restricted "
                "incidents."
            )
        return allow


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(SreLeadOnly, admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "url", "enabled", "consecutive_failures", "disabled_reason"]
    list_filter = ["enabled", "allow_restricted"]
    readonly_fields = ["consecutive_failures", "disabled_at", "disabled_reason", "created_at"]
    actions = ["enable"]

    def save_model(self, request, obj, form, change):
        # Through the services: allow_restricted is checked and audited there, disabling
        # holds the pending deliveries, enabling releases what was held.
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data}
            if changes:
                subscription_update(actor=request.user, subscription_id=obj.pk, **changes)
            return
        created = subscription_create(
            actor=request.user,
            name=data["name"],
            url=data["url"],
            events=data["events"],
            allow_restricted=data["allow_restricted"],
            enabled=data["enabled"],
            secret=data["secret"],
        )
        # Admin logs the addition and redirects using `obj`: give it the created row's id.
        obj.pk = created.pk
        obj._state.adding = False

    @admin.action(
        description="Enable (clears the failure count, sends what was held, in order; "
        "deliveries held longer than TENSAFE_WEBHOOK_HOLD_DAYS are marked expired)"
    )
    def enable(self, request, queryset):
        for sub in queryset:
            subscription_update(actor=request.user, subscription_id=sub.pk, enabled=True)
        self.message_user(request, f"Enabled {queryset.count()} subscription(s).")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(
    OutboxRowAdminMixin, VisibleIncidentRowsMixin, ReadOnly, admin.ModelAdmin
):
    """Rows of the outbox's "outgoing-webhook" kind: read-only, with its two actions (send
    again now, give up) for SRE leads."""

    list_display = ["id", "subscription", "incident", "event", "status", "attempts", "last_error"]
    list_filter = ["status", "event", "subscription"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
