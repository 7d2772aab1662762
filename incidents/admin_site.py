"""The admin site: Django's, plus the pages that are not one model's list (the deliveries of
every outbox kind at /admin/outbox/), linked from the index under the Incidents app.

`TenSafeAdminConfig` takes the place of "django.contrib.admin" in INSTALLED_APPS, so
`admin.site` is this site everywhere (every app's `@admin.register` included). This module is
imported while the apps load: it imports nothing of the project at the top, and the page's
code (incidents/admin/deliveries.py) only when the URLs and the index ask for it.
"""

from django.apps import apps
from django.contrib import admin
from django.contrib.admin import apps as admin_apps
from django.urls import path, reverse


class TenSafeAdminSite(admin.AdminSite):
    def get_urls(self):
        from .admin.deliveries import OutboxPage

        return [
            path("outbox/", self.admin_view(OutboxPage.as_view(site=self)), name="outbox"),
            *super().get_urls(),
        ]

    def get_app_list(self, request, app_label=None):
        """Django's list, with "Deliveries (all kinds)" among the Incidents app's entries for
        those who may open it (the index, the Incidents app's page, the side bar)."""
        from .admin.deliveries import outbox_index_entry

        app_list = super().get_app_list(request, app_label)
        entry = outbox_index_entry(request, self) if app_label in (None, "incidents") else None
        if entry is None:
            return app_list
        app = next((a for a in app_list if a["app_label"] == "incidents"), None)
        if app is None:  # someone who may open no other page of the app
            app = {
                "name": apps.get_app_config("incidents").verbose_name,
                "app_label": "incidents",
                "app_url": reverse(
                    "admin:app_list", kwargs={"app_label": "incidents"}, current_app=self.name
                ),
                "has_module_perms": True,
                "models": [],
            }
            app_list = sorted([*app_list, app], key=lambda a: a["name"].lower())
        app["models"] = sorted([*app["models"], entry], key=lambda m: m["name"])
        return app_list


class TenSafeAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with TenSafeAdminSite as `admin.site`."""

    default_site = "incidents.admin_site.TenSafeAdminSite"
