from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from incidents.ratelimit import login_rate_limited

from .views import board, declare, incident, oncall, reports

app_name = "dashboard"


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request):
    """Browsers ask every page's origin for /favicon.ico (the admin and API docs declare none);
    an empty answer keeps that from being a 404 on every page."""
    return HttpResponse(status=204)


urlpatterns = [
    path("", board.board, name="board"),
    path("favicon.ico", favicon, name="favicon"),
    path(
        "login/",
        login_rate_limited(
            auth_views.LoginView.as_view(
                template_name="registration/login.html", redirect_authenticated_user=True
            )
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("incidents/new/", declare.declare, name="declare"),
    path("incidents/<int:pk>/", incident.incident_detail, name="incident"),
    path("incidents/<int:pk>/acknowledge/", incident.incident_acknowledge, name="acknowledge"),
    path("incidents/<int:pk>/transition/", incident.incident_transition, name="transition"),
    path("incidents/<int:pk>/roles/", incident.incident_assign_role, name="assign-role"),
    path("incidents/<int:pk>/roles/relieve/", incident.incident_relieve_role, name="relieve-role"),
    path(
        "incidents/<int:pk>/checklist/<int:item_id>/",
        incident.incident_checklist_set,
        name="checklist-set",
    ),
    path("incidents/<int:pk>/notes/", incident.incident_add_note, name="add-note"),
    path("incidents/<int:pk>/timeline/", incident.incident_timeline, name="timeline"),
    path("incidents/<int:pk>/changes/", incident.incident_changes, name="changes"),
    path("incidents/<int:pk>/security/", incident.incident_security, name="security"),
    path("incidents/<int:pk>/public-text/", incident.incident_public_text, name="public-text"),
    path("incidents/<int:pk>/escalate/", incident.incident_escalate, name="escalate"),
    path("incidents/<int:pk>/page/", incident.incident_page_user, name="page-user"),
    path("incidents/<int:pk>/bridge/", incident.incident_bridge_request, name="bridge"),
    path(
        "incidents/<int:pk>/escalation-responses/<int:response_id>/page-next/",
        incident.incident_page_next,
        name="page-next",
    ),
    path(
        "incidents/<int:pk>/mitigations/",
        incident.incident_reference,
        {"part": "mitigations"},
        name="mitigations",
    ),
    path(
        "incidents/<int:pk>/rollback/",
        incident.incident_reference,
        {"part": "rollback"},
        name="rollback",
    ),
    path("incidents/<int:pk>/comms/draft/", incident.incident_comms_draft, name="comms-draft"),
    path("incidents/<int:pk>/comms/", incident.incident_comms_post, name="comms-post"),
    path("reports/", reports.reports, name="reports"),
    path("oncall/", oncall.oncall, name="oncall"),
]
