"""This app's REST endpoints, mounted under /api/v1/."""

from django.urls import path

from . import api

urlpatterns = [
    path("pirs/", api.PirListCreateApi.as_view(), name="pir-list"),
    path("pirs/action-items/", api.ActionItemListApi.as_view(), name="pir-action-item-list"),
    path(
        "pirs/action-items/metrics/",
        api.ActionItemMetricsApi.as_view(),
        name="pir-action-item-metrics",
    ),
    path("pirs/action-items/csv/", api.ActionItemCsvApi.as_view(), name="pir-action-item-csv"),
    path("pirs/action-items/jira/", api.ActionItemJiraApi.as_view(), name="pir-action-item-jira"),
    path("pirs/<int:pk>/", api.PirDetailApi.as_view(), name="pir-detail"),
    path("pirs/<int:pk>/transition/", api.PirTransitionApi.as_view(), name="pir-transition"),
    path("pirs/<int:pk>/timeline/", api.PirTimelineApi.as_view(), name="pir-timeline"),
    path(
        "pirs/<int:pk>/timeline/<int:entry_id>/",
        api.PirTimelineEntryApi.as_view(),
        name="pir-timeline-entry",
    ),
    path("pirs/<int:pk>/agenda/", api.PirAgendaApi.as_view(), name="pir-agenda"),
    path("pirs/<int:pk>/pdf/", api.PirPdfApi.as_view(), name="pir-pdf"),
    path("pirs/<int:pk>/markdown/", api.PirMarkdownApi.as_view(), name="pir-markdown"),
    path("pirs/<int:pk>/action-items/", api.PirActionItemsApi.as_view(), name="pir-action-items"),
    path(
        "pirs/<int:pk>/action-items/<int:item_id>/",
        api.PirActionItemApi.as_view(),
        name="pir-action-item",
    ),
]
