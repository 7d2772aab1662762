"""Admin for post-incident reviews: reached through pir.selectors (reviews of restricted
incidents are absent and 404, as everywhere) and changed only through pir.services."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from incidents.admin.core import ReadOnlyInline
from incidents.admin.outbox import OutboxRowAdminMixin
from incidents.errors import DomainError
from incidents.selectors import incident_list_for_user

from . import services
from .models import (
    ACTION_REQUIRED_FIELDS,
    ActionDigestDelivery,
    ActionItem,
    PirStatus,
    PirTimelineEntry,
    PostIncidentReview,
)
from .selectors import action_items_for_user, pir_list_for_user


class EntryInline(ReadOnlyInline):
    model = PirTimelineEntry
    fields = ("occurred_at", "text", "source_event", "edited")


class ActionItemInline(ReadOnlyInline):
    model = ActionItem
    fields = ("action", "owner", "priority", "due_date", "status", "completed_at")


def _run(modeladmin, request, queryset, call, done: str):
    for pir in queryset.order_by("pk"):
        try:
            call(pir)
        except (DomainError, PermissionDenied, TransitionNotAllowed, ConcurrentTransition) as exc:
            modeladmin.message_user(
                request, f"{pir.reference}: {getattr(exc, 'detail', exc)}", messages.ERROR
            )
        else:
            modeladmin.message_user(request, f"{pir.reference}: {done}.", messages.SUCCESS)


class PirForm(forms.ModelForm):
    class Meta:
        model = PostIncidentReview
        fields = sorted(services.EDITABLE_FIELDS)


@admin.register(PostIncidentReview)
class PostIncidentReviewAdmin(admin.ModelAdmin):
    form = PirForm
    list_display = ("reference", "incident", "status", "required", "due_at", "author")
    list_filter = ("status", "required", "incident__severity")
    search_fields = ("incident__title", "summary")
    readonly_fields = ("incident", "status", "required", "due_at", "published_at", "published_by")
    inlines = (EntryInline, ActionItemInline)
    actions = ("submit_for_review", "publish")

    def get_queryset(self, request):
        return pir_list_for_user(request.user)

    def get_object(self, request, object_id, from_field=None):
        pir = super().get_object(request, object_id, from_field)
        if pir is None:
            raise Http404("No post-incident review with that id.")
        return pir

    def has_add_permission(self, request):
        return False  # created on resolution, or through the API by the IC (P3)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Reference", ordering="pk")
    def reference(self, pir):
        return pir.reference

    def save_model(self, request, obj, form, change):
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        if changed:
            services.pir_update(actor=request.user, pir_id=obj.pk, **changed)

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description="Send for review", permissions=["change"])
    def submit_for_review(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda p: services.pir_transition(
                actor=request.user, pir_id=p.pk, to=PirStatus.IN_REVIEW
            ),
            "sent for review",
        )

    @admin.action(description="Publish", permissions=["change"])
    def publish(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda p: services.pir_transition(
                actor=request.user, pir_id=p.pk, to=PirStatus.PUBLISHED
            ),
            "published",
        )


class ActionItemForm(forms.ModelForm):
    """Owner and due date required (8.2, 8.3), as in the API; `edited_version` is the item's
    version this form was shown with, so a save over someone else's change since is refused,
    not applied."""

    edited_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    class Meta:
        model = ActionItem
        fields = ("action", "description", "owner", "priority", "due_date", "status")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ACTION_REQUIRED_FIELDS:
            self.fields[name].required = True
        self.fields["edited_version"].initial = self.instance.version

    def clean_edited_version(self):
        version = self.cleaned_data["edited_version"]
        if version != self.instance.version:
            raise forms.ValidationError(
                "Someone else changed this action item while you edited it; reload the page "
                "and apply your change again."
            )
        return version


@admin.register(ActionItem)
class ActionItemAdmin(admin.ModelAdmin):
    form = ActionItemForm
    list_display = (
        "action",
        "pir",
        "incident",
        "owner",
        "priority",
        "due_date",
        "status",
        "needs",
    )
    list_filter = ("status", "priority", "incident__severity")
    search_fields = ("action",)
    readonly_fields = ("label", "completed_at", "closed_at", "created_at")

    def get_queryset(self, request):
        return action_items_for_user(request.user)

    def get_object(self, request, object_id, from_field=None):
        item = super().get_object(request, object_id, from_field)
        if item is None:
            raise Http404("No action item with that id.")
        return item

    def has_add_permission(self, request):
        return False  # added on a review (API), which links it to the review and incident

    @admin.display(description="Needs")
    def needs(self, item):
        """Items from before the owner and due date rule, shown as needing them."""
        return ", ".join(item._meta.get_field(n).verbose_name for n in item.missing_fields)

    def save_model(self, request, obj, form, change):
        changed = {name: form.cleaned_data[name] for name in form.changed_data if name != "version"}
        if changed:
            services.action_item_update(
                actor=request.user,
                pir_id=obj.pir_id,
                item_id=obj.pk,
                version=form.cleaned_data["edited_version"],
                **changed,
            )

    def delete_model(self, request, obj):
        services.action_item_delete(actor=request.user, pir_id=obj.pir_id, item_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for item in queryset:
            self.delete_model(request, item)


@admin.register(ActionDigestDelivery)
class ActionDigestDeliveryAdmin(OutboxRowAdminMixin, admin.ModelAdmin):
    """Read-only record of what was mailed to whom."""

    list_display = ("period_start", "priority", "manager", "status", "sent_at")
    list_filter = ("priority", "status")
    fields = (
        "manager",
        "priority",
        "period_start",
        "period_end",
        "idempotency_key",
        "to_address",
        "subject",
        "body",
        "status",
        "attempts",
        "next_attempt_at",
        "lease_until",
        "last_error",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        # A digest names its incidents: shown only when every one of them is visible.
        hidden = ActionItem.objects.exclude(incident__in=incident_list_for_user(request.user))
        return super().get_queryset(request).exclude(action_items__in=hidden)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
