from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from . import policy, views

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("incidents/", views.IncidentListCreateApi.as_view(), name="incident-list"),
    path("incidents/<int:pk>/", views.IncidentDetailApi.as_view(), name="incident-detail"),
    path(
        "incidents/<int:pk>/acknowledge/",
        views.IncidentAcknowledgeApi.as_view(),
        name="incident-acknowledge",
    ),
    path(
        "incidents/<int:pk>/transition/",
        views.IncidentTransitionApi.as_view(),
        name="incident-transition",
    ),
    path("incidents/<int:pk>/roles/", views.IncidentRolesApi.as_view(), name="incident-roles"),
    path(
        "incidents/<int:pk>/timeline/",
        views.IncidentTimelineApi.as_view(),
        name="incident-timeline",
    ),
    path(
        "incidents/<int:pk>/checklists/",
        views.IncidentChecklistApi.as_view(),
        name="incident-checklists",
    ),
    path(
        "incidents/<int:pk>/checklists/<int:item_id>/",
        views.IncidentChecklistItemApi.as_view(),
        name="incident-checklist-item",
    ),
    path("triage/", views.TriageApi.as_view(), name="triage"),
    path("policy/", policy.PolicyApi.as_view(), name="policy"),
    path("services/", views.ServiceListApi.as_view(), name="service-list"),
    path("users/", views.UserListCreateApi.as_view(), name="user-list"),
    path("users/me/", views.UserMeApi.as_view(), name="user-me"),
]
