from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from .ratelimit import login_rate_limited

urlpatterns = [
    # The admin's sign-in, with the limits on failed sign-ins (tensafe_ir/ratelimit.py); the
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
