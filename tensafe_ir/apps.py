from django.apps import AppConfig


class TensafeIrConfig(AppConfig):
    """The project package as an app, for what belongs to no one feature: the deploy checks
    and the rate limits' login-failure receiver."""

    name = "tensafe_ir"
    verbose_name = "TenSafe IR"

    def ready(self):
        from django.contrib.auth.signals import user_login_failed

        from . import checks  # noqa: F401  (registers the checks)
        from .ratelimit import login_failed_received

        user_login_failed.connect(login_failed_received, dispatch_uid="tensafe-login-failed")
