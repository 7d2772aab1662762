import django_filters
from rest_framework.filters import OrderingFilter

from ..models import Incident
from ..states import Severity, Status


class CommaChoiceFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """`?status=investigating,identified`: any of the listed values; each must be valid."""

    def __init__(self, *args, valid=(), **kwargs):
        self.valid = tuple(valid)
        super().__init__(*args, lookup_expr="in", **kwargs)

    def filter(self, qs, value):
        if value:
            bad = [v for v in value if v not in self.valid]
            if bad:
                from rest_framework.exceptions import ValidationError

                raise ValidationError(
                    {
                        self.field_name: [
                            f"unknown value(s) {', '.join(bad)}; use {', '.join(self.valid)}"
                        ]
                    }
                )
        return super().filter(qs, value)


class IncidentFilter(django_filters.FilterSet):
    status = CommaChoiceFilter(field_name="status", valid=Status.values)
    severity = CommaChoiceFilter(field_name="severity", valid=Severity.values)
    service = django_filters.CharFilter(field_name="services__slug", distinct=True)
    team = django_filters.CharFilter(field_name="services__team__slug", distinct=True)
    security = django_filters.BooleanFilter()
    open = django_filters.BooleanFilter(method="filter_open", label="Open (not resolved)")
    detected_after = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="gte")
    detected_before = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="lt")
    q = django_filters.CharFilter(
        field_name="title", lookup_expr="icontains", label="Title contains"
    )

    class Meta:
        model = Incident
        fields = []

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
