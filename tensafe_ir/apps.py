from django.apps import AppConfig


class TensafeIrConfig(AppConfig):
    """The project package as an app, for what belongs to no one feature: the session clock.
    (Its migrations also hold the rate limits' counters' history, before they moved to
    incidents/ratelimit.py.)"""

    name = "tensafe_ir"
    verbose_name = "TenSafe IR"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .sessions import session_signed_in

        user_logged_in.connect(session_signed_in, dispatch_uid="tensafe-session-signed-in")
