import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tensafe_ir.settings")

app = Celery("tensafe_ir")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_worker_logs(logger: logging.Logger, **kwargs) -> None:
    """The workers' log lines go through the web's one redaction filter (tensafe_ir/logs.py):
    Celery replaces the root logger's handlers with its own."""
    from .logs import handlers_redact

    handlers_redact(logger)
