"""This app's REST endpoints, mounted under /api/v1/."""

from django.urls import path

from . import api

urlpatterns: list = [
    path(
        "incidents/<int:pk>/updates/",
        api.IncidentUpdatesApi.as_view(),
        name="incident-updates",
    ),
    path(
        "incidents/<int:pk>/updates/draft/",
        api.IncidentUpdateDraftApi.as_view(),
        name="incident-update-draft",
    ),
    path(
        "incidents/<int:pk>/conformance/",
        api.IncidentConformanceApi.as_view(),
        name="incident-conformance",
    ),
]
