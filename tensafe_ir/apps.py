from django.apps import AppConfig


class TensafeIrConfig(AppConfig):
    """The project package as an app, for what belongs to no one feature: the rate limits'
    counters and login-failure receiver, and the session clock."""

    name = "tensafe_ir"
    verbose_name = "TenSafe IR"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from .ratelimit import login_failed_received
        from .sessions import session_signed_in

        user_login_failed.connect(login_failed_received, dispatch_uid="tensafe-login-failed")
        user_logged_in.connect(session_signed_in, dispatch_uid="tensafe-session-signed-in")
