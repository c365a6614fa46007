"""Sweeping jobs whose worker is gone: the one service behind ``manage.py sweep_jobs``, the
periodic ``detection.sweep_stale_jobs`` task and the sweep a worker runs as it starts.

Redis hands a killed worker's unacknowledged task to another worker (visibility timeout); the
file-system broker of the embedded default never does, so its job would stay "running" forever.
A running job whose heartbeat is older than DETECTION_JOB_STALE_AFTER is moved through the state
machine like a retry: back to queued with a new task (the next claim makes it the latest
attempt, so a worker that was only slow loses its claim and drops its work: still one result),
or to failed past DETECTION_MAX_ATTEMPTS, or to cancelled if a cancel was waiting for it.
A queued job the broker never took (it was down when the job was launched) is sent again once it
is DETECTION_UNSENT_AFTER seconds old.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from webapp.accounts.services import audit
from webapp.detection.models import Calibration, DetectionJob, Job, JobStatus, TrainingJob
from webapp.detection.services import after_job_ended, enqueue_on_commit, send_now

log = logging.getLogger(__name__)

SWEPT_MODELS: tuple[type[Job], ...] = (DetectionJob, TrainingJob, Calibration)


@dataclass
class SweepReport:
    """What one sweep did, as "<model> <pk>" labels."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{len(v)} {k} ({', '.join(v)})" for k, v in vars(self).items() if v]
        return "; ".join(parts) if parts else "no stale running jobs, no unsent jobs"


def _stale(model: type[Job], before: datetime, lost_worker: str) -> QuerySet[Job]:
    # Rows claimed before heartbeats existed have none: their start time stands in for it.
    old = Q(heartbeat_at__lt=before) | Q(heartbeat_at__isnull=True, started_at__lt=before)
    if lost_worker:
        old |= Q(worker=lost_worker)
    return model.objects.filter(old, status=JobStatus.RUNNING)


def _sweep_one(model: type[Job], pk: int, before: datetime, lost_worker: str, report: SweepReport) -> None:
    with transaction.atomic():
        # Checked again under the lock: a worker may have checkpointed, or another sweep moved it.
        job = _stale(model, before, lost_worker).select_for_update().filter(pk=pk).first()
        if job is None:
            return
        label = f"{model._meta.model_name} {job.pk}"
        last = job.heartbeat_at or job.started_at
        lost = (
            f"its worker {job.worker or '?'} stopped reporting (last heartbeat {last:%Y-%m-%d %H:%M:%S} UTC)"
        )
        if job.cancel_requested:
            job.transition_to(JobStatus.CANCELLED, stage="cancelled", error=f"cancelled: {lost}")
            action, bucket = "cancelled", report.cancelled
        elif job.attempts >= settings.DETECTION_MAX_ATTEMPTS:
            job.transition_to(
                JobStatus.FAILED, stage="given up", error=f"gave up after {job.attempts} attempts: {lost}"
            )
            action, bucket = "failed", report.failed
        else:
            job.transition_to(
                JobStatus.QUEUED,
                stage="re-queued",
                error=f"re-queued after attempt {job.attempts}: {lost}",
                task_id=str(uuid.uuid4()),  # a fresh message; the lost one may never come back
                heartbeat_at=None,
            )
            type(job).objects.filter(pk=job.pk).update(sent_at=None)  # sent again below
            enqueue_on_commit([job])
            action, bucket = "requeued", report.requeued
        if job.is_terminal:
            after_job_ended(job)
        audit(
            None,
            f"{model._meta.model_name}.{action}",
            job,
            details={"by": "sweep", "attempts": job.attempts, "worker": job.worker, "error": job.error[:500]},
        )
        bucket.append(label)


def _resend_unsent(model: type[Job], before: datetime, report: SweepReport) -> None:
    """Queued jobs the broker never took (it was down when they were sent): send them again."""
    for job in model.objects.filter(status=JobStatus.QUEUED, sent_at__isnull=True, created_at__lt=before):
        send_now([job])
        job.refresh_from_db(fields=["sent_at"])
        if job.sent_at is not None:
            audit(None, f"{model._meta.model_name}.resent", job, details={"by": "sweep"})
            report.resent.append(f"{model._meta.model_name} {job.pk}")


def sweep_stale_jobs(
    *, now: datetime | None = None, stale_after_s: int | None = None, lost_worker: str = ""
) -> SweepReport:
    """Re-queue (or fail, or finish cancelling) every running job whose heartbeat is older than
    ``stale_after_s`` (default DETECTION_JOB_STALE_AFTER), and with ``lost_worker`` every running
    job claimed by that worker name (a worker that has just started runs nothing yet). Safe to
    run anywhere, any time, concurrently: each job is re-checked under its row lock."""
    if stale_after_s is None:
        stale_after_s = settings.DETECTION_JOB_STALE_AFTER
    before = (now or timezone.now()) - timedelta(seconds=stale_after_s)
    report = SweepReport()
    unsent_before = (now or timezone.now()) - timedelta(seconds=settings.DETECTION_UNSENT_AFTER)
    for model in SWEPT_MODELS:
        for pk in list(_stale(model, before, lost_worker).values_list("pk", flat=True)):
            _sweep_one(model, pk, before, lost_worker, report)
        _resend_unsent(model, unsent_before, report)
    if report.requeued or report.failed or report.cancelled or report.resent:
        log.warning("job sweep: %s", report)
    return report
