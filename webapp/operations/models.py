"""What the operations app stores: one row per Celery worker, refreshed while it runs."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """A worker's latest sign of life, written by a thread in the worker every
    WORKER_HEARTBEAT_EVERY seconds (webapp/operations/heartbeat.py). /readyz reads it."""

    name = models.CharField(max_length=200, unique=True)  # Celery's node name, name@host
    queues = models.CharField(max_length=200)  # comma-separated
    pid = models.IntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    stopped = models.BooleanField(default=False)

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.queues})"
