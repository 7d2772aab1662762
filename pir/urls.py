"""Pages and endpoints outside /api/v1/ (mounted at the site root)."""

from django.urls import path

from . import views

urlpatterns = [path("pirs/<int:pk>/", views.pir_page, name="pir-page")]
