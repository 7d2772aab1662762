from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from incidents.ratelimit import login_rate_limited

urlpatterns = [
    # The admin's sign-in, with the limits on failed sign-ins (incidents/ratelimit.py); the
    # rest of the admin, including reverse("admin:login"), is the admin's own.
    path("admin/login/", login_rate_limited(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/v1/", include("incidents.api.urls")),
    path("api/v1/", include("comms.api_urls")),
    path("api/v1/", include("pir.api_urls")),
    path("api/v1/", include("integrations.api_urls")),
    path("", include("comms.urls")),
    path("", include("pir.urls")),
    path("", include("integrations.urls")),
    path("", include("dashboard.urls")),
    path("", include("incidents.urls")),
]


def handler404(request, exception):
    """A path under /api/ that matches no route (e.g. `/api/v1/incidents/abc/`, where an id
    must be a number) is answered like every other API error: JSON with a `detail`. Under
    /status/ the public gets the status page's own 404, the same for every missing or private
    page, with nothing of the dashboard (no sign-in, no board)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found: no API endpoint has this path."}, status=404)
    if request.path.startswith("/status/"):
        return defaults.page_not_found(request, exception, template_name="comms/status_404.html")
    return defaults.page_not_found(request, exception)
