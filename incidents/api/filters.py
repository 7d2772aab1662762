from datetime import UTC

import django_filters
from django import forms
from django.db.models import Exists, OuterRef
from drf_spectacular.drainage import set_override
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from ..models import Incident
from ..selectors import service_ids
from ..states import Severity, Status


class CommaChoiceFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """`?status=investigating,identified`: any of the listed values; each must be valid."""

    def __init__(self, *args, valid=(), **kwargs):
        self.valid = tuple(valid)
        super().__init__(*args, lookup_expr="in", **kwargs)
        # The schema lists the values (an array of them, comma-separated).
        set_override(self, "field", {"type": "string", "enum": list(self.valid)})

    def filter(self, qs, value):
        if value:
            bad = [v for v in value if v not in self.valid]
            if bad:
                raise ValidationError(
                    {
                        self.field_name: [
                            f"unknown value(s) {', '.join(bad)}; use {', '.join(self.valid)}"
                        ]
                    }
                )
        return super().filter(qs, value)


class _TrueOrFalseField(forms.NullBooleanField):
    widget = forms.TextInput

    def to_python(self, value):
        if value is None:
            return None
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise forms.ValidationError("Give true or false.", code="invalid")

    def validate(self, value):
        pass


class TrueOrFalseFilter(django_filters.BooleanFilter):
    """`?security=true|false`; anything else is a 400 (django-filter's own boolean filter
    would ignore it and answer every incident)."""

    field_class = _TrueOrFalseField


class _GivenTimeField(django_filters.fields.IsoDateTimeField):
    def to_python(self, value):
        if value == "":
            raise forms.ValidationError("Give a time, e.g. 2026-01-31T14:05:00Z.", code="required")
        value = super().to_python(value)
        if value is None or value.tzinfo is None:
            return value
        # In UTC: PostgreSQL takes offsets up to 15:59, ISO 8601 up to 23:59.
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("That time is out of range.", code="invalid") from None


class TimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time; present but empty is a 400, not "no filter"."""

    field_class = _GivenTimeField


class _GivenChoiceField(django_filters.fields.ChoiceField):
    def to_python(self, value):
        if value == "":
            raise forms.ValidationError(
                "Give one of the values, or leave the parameter out.", code="required"
            )
        return super().to_python(value)


class GivenChoiceFilter(django_filters.ChoiceFilter):
    """One of `choices`; present but empty is a 400 (django-filter would read it as "no
    filter" and answer everything, although the schema lists the values)."""

    field_class = _GivenChoiceField


def _affects(ids: list[int]) -> Exists:
    """Whether an incident affects one of the services `ids`, as a semi-join on the services' ids,
    read first (one query): joining the services and taking DISTINCT (django-filter's
    `distinct=True`) made PostgreSQL build and de-duplicate every match before counting or
    ordering it (0.56-1.0 s for a `?team=` at 100,000 incidents, issue 15), and a join to
    the team left it guessing how many incidents match, so it sorted them all; with the
    ids it knows, and walks the ordering's index to the page."""
    affected = Incident.services.through.objects.filter(
        incident_id=OuterRef("pk"), service_id__in=ids
    )
    return Exists(affected)


class IncidentFilter(django_filters.FilterSet):
    # Every filter is labelled: django-filter builds a missing label on each request from the
    # model's field names, ~1 ms of a page built anew (cProfile, issue 15).
    status = CommaChoiceFilter(field_name="status", valid=Status.values, label="Status is in")
    severity = CommaChoiceFilter(
        field_name="severity", valid=Severity.values, label="Severity is in"
    )
    service = django_filters.CharFilter(method="filter_service", label="Service (slug)")
    team = django_filters.CharFilter(method="filter_team", label="Owning team of a service (slug)")
    security = TrueOrFalseFilter(label="Security incident")
    open = TrueOrFalseFilter(method="filter_open", label="Open (not resolved)")
    detected_after = TimeFilter(
        field_name="detected_at", lookup_expr="gte", label="Detected at or after"
    )
    detected_before = TimeFilter(
        field_name="detected_at", lookup_expr="lt", label="Detected before"
    )
    q = django_filters.CharFilter(
        field_name="title", lookup_expr="icontains", label="Title contains"
    )

    class Meta:
        model = Incident
        fields = []

    def filter_queryset(self, queryset):
        for name, declared in self.filters.items():
            if isinstance(declared, CommaChoiceFilter) and self.data.get(name) == "":
                raise ValidationError(
                    {name: [f"give one or more of {', '.join(declared.valid)}, comma-separated"]}
                )
        return super().filter_queryset(queryset)

    def filter_service(self, qs, name, value):
        return qs.filter(_affects(service_ids(slug=value)))

    def filter_team(self, qs, name, value):
        return qs.filter(_affects(service_ids(team__slug=value)))

    def filter_open(self, qs, name, value):
        if value is None:
            return qs
        return qs.exclude(status=Status.RESOLVED) if value else qs.filter(status=Status.RESOLVED)


class IncidentOrdering(OrderingFilter):
    ordering_fields = ["severity", "detected_at", "status", "id"]
    ordering = ["-detected_at", "-id"]

    def get_ordering(self, request, queryset, view):
        """The ordering asked for, then newest id first among equals: pages of an ordering
        with ties (`?ordering=severity`) neither repeat nor skip incidents, and the list's two
        reads of a page (incidents/api/list_rows.py) agree on it."""
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not {"id", "-id"} & set(ordering):
            ordering = [*ordering, "-id"]
        return ordering
