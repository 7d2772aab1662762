"""Input validation for the dashboard's forms: shapes and required fields only. The rules of
the procedures are the services' (a RuleViolation is shown next to the field it names)."""

from __future__ import annotations

from django import forms

from incidents.models import Service, User
from incidents.states import OPEN_STATUSES, DetectionSource, Role, Severity, Status

from .procedures import MITIGATIONS


class AccessibleForm(forms.Form):
    """Ties each field to its help text and its errors (`aria-describedby`, `aria-invalid`),
    including errors a service adds after validation; the ids are those _field.html renders."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"{self[name].auto_id}_help"

    def add_error(self, field, error):
        super().add_error(field, error)
        for name in list(self.errors):
            if name in self.fields:
                widget = self.fields[name].widget
                ids = {widget.attrs.get("aria-describedby", ""), f"{self[name].auto_id}_error"}
                widget.attrs["aria-describedby"] = " ".join(sorted(i for i in ids if i))
                widget.attrs["aria-invalid"] = "true"


class BoardFilterForm(forms.Form):
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    status = forms.ChoiceField(
        choices=[("", "Any open status")] + [(s.value, s.label) for s in OPEN_STATUSES],
        required=False,
    )
    service = forms.ChoiceField(required=False)
    team = forms.ChoiceField(required=False)

    def __init__(self, *args, services=(), teams=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = [("", "Any service"), *services]
        self.fields["team"].choices = [("", "Any team"), *teams]


class DeclareForm(AccessibleForm):
    """The details step of the declaration wizard (after triage has proposed a severity)."""

    title = forms.CharField(max_length=200, help_text="Brief description (4.2).")
    severity = forms.ChoiceField(choices=Severity.choices)
    override_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Reason for overriding the proposed severity",
        help_text=(
            "Required when the severity differs from the proposal (flowchart and criteria); "
            "recorded on the timeline."
        ),
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    symptoms = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What users may experience (used in status page updates).",
    )
    impact = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Customer impact."
    )
    workaround = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What users can do meanwhile, if anything.",
    )
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Affected services",
    )
    detection_source = forms.ChoiceField(choices=DetectionSource.choices, label="Detected by (4.1)")
    security = forms.BooleanField(
        required=False,
        label="Security incident",
        help_text="Visible only to the security group, role holders and you.",
    )
    detected_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="Detected at (UTC)",
        help_text="Leave empty for now. Timers count from it.",
    )
    started_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        label="Impact started at (UTC)",
        help_text="If known; not after detection.",
    )

    def __init__(self, *args, proposed: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.proposed = proposed
        self.fields["severity"].initial = proposed

    def clean(self):
        data = super().clean()
        severity = data.get("severity")
        if (
            severity
            and severity != self.proposed
            and not (data.get("override_reason") or "").strip()
        ):
            self.add_error(
                "override_reason",
                f"Triage proposed {self.proposed}; say why this incident is {severity}.",
            )
        return data


class TransitionForm(AccessibleForm):
    to = forms.ChoiceField(choices=Status.choices)
    reason = forms.CharField(required=False, max_length=500)


class RoleForm(AccessibleForm):
    role = forms.ChoiceField(choices=Role.choices)
    username = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        to_field_name="username",
        label="Person",
        error_messages={"invalid_choice": "No active user with that username."},
    )
    override = forms.BooleanField(
        required=False,
        label="Override the on-call rule (SRE lead)",
        help_text='Assign although they are not on call where the procedures say "On-call '
        'engineer" (3.1, 3.3). Audited.',
    )
    override_reason = forms.CharField(
        required=False, max_length=500, label="Reason for the override"
    )


class NoteForm(AccessibleForm):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, label="Note for the timeline"
    )


class EscalateForm(AccessibleForm):
    target = forms.ChoiceField(label="Escalate to")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), label="Reason for escalation"
    )
    requested_action = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Requested action"
    )

    def __init__(self, *args, targets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = list(targets)


class PageUserForm(AccessibleForm):
    username = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        to_field_name="username",
        label="Responder to page",
        error_messages={"invalid_choice": "No active user with that username."},
    )
    reason = forms.CharField(max_length=500, label="Reason")


class ChecklistForm(forms.Form):
    done = forms.TypedChoiceField(
        choices=[("1", "done"), ("0", "not done")], coerce=lambda v: v == "1"
    )


class MitigationForm(forms.Form):
    symptom = forms.ChoiceField(
        choices=[("", "Choose a symptom"), *((s, s) for s in MITIGATIONS)], required=False
    )


class RollbackForm(AccessibleForm):
    deployment = forms.CharField(max_length=63, required=False, label="Deployment name")
