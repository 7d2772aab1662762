import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun, task_prerun
from django.db import close_old_connections

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


@task_prerun.connect
@task_postrun.connect
def _database_connections_as_between_requests(sender=None, **kwargs) -> None:
    """Around each task, what Django does around each request: a connection that failed, or is
    older than CONN_MAX_AGE, is closed, and the next query checks the kept one first
    (CONN_HEALTH_CHECKS), so a session PostgreSQL terminated between tasks is replaced, not
    used. (Celery's own closing is held off by CELERY_DB_REUSE_MAX in settings.py.) A task run
    eagerly is inside its caller's request or transaction, which this must not touch."""
    if sender is not None and not getattr(sender.request, "is_eager", False):
        close_old_connections()
