from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The incident commander's pages in the browser. Reads through the selectors of
    incidents (and comms/pir where they exist), writes through their services."""

    name = "dashboard"
    verbose_name = "Dashboard"
