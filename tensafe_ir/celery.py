import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tensafe_ir.settings")

app = Celery("tensafe_ir")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
