from django.urls import path

from ..ratelimit import login_rate_limited
from . import accounts, oncall, outbox, policy, timers, views

urlpatterns = [
    path(
        "auth/token/", login_rate_limited(accounts.TokenApi.as_view(), html=False), name="api-token"
    ),
    path("auth/tokens/", accounts.MyTokensApi.as_view(), name="api-tokens"),
    path("auth/tokens/<int:token_id>/", accounts.MyTokenApi.as_view(), name="api-token-revoke"),
    path("audit/", accounts.AuditListApi.as_view(), name="audit-list"),
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
        "incidents/<int:pk>/security/",
        views.IncidentSecurityApi.as_view(),
        name="incident-security",
    ),
    path(
        "incidents/<int:pk>/public-text/",
        views.IncidentPublicTextApi.as_view(),
        name="incident-public-text",
    ),
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
    path(
        "incidents/<int:pk>/escalate/",
        timers.IncidentEscalateApi.as_view(),
        name="incident-escalate",
    ),
    path(
        "incidents/<int:pk>/escalation-responses/<int:response_id>/page-next/",
        timers.EscalationPageNextApi.as_view(),
        name="incident-escalation-page-next",
    ),
    path("incidents/<int:pk>/bridge/", views.IncidentBridgeApi.as_view(), name="incident-bridge"),
    path("incidents/<int:pk>/page/", timers.IncidentPageUserApi.as_view(), name="incident-page"),
    path("incidents/<int:pk>/pages/", timers.IncidentPagesApi.as_view(), name="incident-pages"),
    path("deadlines/", timers.DeadlineListApi.as_view(), name="deadline-list"),
    path("deadlines/lateness/", timers.DeadlineLatenessApi.as_view(), name="deadline-lateness"),
    path("oncall/", oncall.OnCallNowApi.as_view(), name="oncall-now"),
    path(
        "users/me/contact-methods/", oncall.MyContactMethodsApi.as_view(), name="my-contact-methods"
    ),
    path(
        "users/me/contact-methods/<int:method_id>/",
        oncall.MyContactMethodApi.as_view(),
        name="my-contact-method",
    ),
    path("oncall/me/feed/", oncall.MyFeedApi.as_view(), name="oncall-my-feed"),
    path(
        "schedules/<slug:slug>/shifts/", oncall.ScheduleShiftsApi.as_view(), name="schedule-shifts"
    ),
    path(
        "escalation-contacts/", oncall.EscalationContactsApi.as_view(), name="escalation-contacts"
    ),
    path("outbox/", outbox.OutboxListApi.as_view(), name="outbox-list"),
    path(
        "outbox/<slug:kind>/<int:row_id>/retry/",
        outbox.OutboxRetryApi.as_view(),
        name="outbox-retry",
    ),
    path(
        "outbox/<slug:kind>/<int:row_id>/give-up/",
        outbox.OutboxGiveUpApi.as_view(),
        name="outbox-give-up",
    ),
    path("triage/", views.TriageApi.as_view(), name="triage"),
    path("policy/", policy.PolicyApi.as_view(), name="policy"),
    path("services/", views.ServiceListApi.as_view(), name="service-list"),
    path("users/", views.UserListCreateApi.as_view(), name="user-list"),
    path("users/me/", views.UserMeApi.as_view(), name="user-me"),
]
