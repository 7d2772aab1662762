"""Deploy checks of our own settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def ratelimit_cache_shared(app_configs, **kwargs):
    """Rate-limit counters in process memory are per gunicorn process: N processes let N times
    the limit through."""
    backend = settings.CACHES["ratelimit"]["BACKEND"]
    if backend.endswith("LocMemCache"):
        return [
            Warning(
                "Rate-limit counters are kept in each process's memory, so every gunicorn "
                "process counts on its own.",
                hint="Set TENSAFE_CACHE_URL=redis://host:6379/1 (docs/operations.md, Security).",
                id="tensafe.W001",
            )
        ]
    return []
