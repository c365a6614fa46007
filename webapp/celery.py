"""The Celery app: ``celery -A webapp worker -Q cpu`` (or ``-Q gpu`` on a GPU machine).

Configuration comes from Django settings (``CELERY_*``): acks_late with prefetch 1 so a killed
worker's task is redelivered and a long job never sits behind another on a busy worker.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
# One direct exchange per queue: a job routed to "gpu" can only ever reach a GPU worker's queue.
app.conf.task_queues = (
    Queue("cpu", Exchange("cpu", type="direct"), routing_key="cpu"),
    Queue("gpu", Exchange("gpu", type="direct"), routing_key="gpu"),
)
app.autodiscover_tasks()


@app.task(name="webapp.ping", ignore_result=False, acks_late=False)
def ping() -> str:
    """Answer "pong": lets deploy checks and tests see a full broker -> worker -> result round trip."""
    return "pong"
