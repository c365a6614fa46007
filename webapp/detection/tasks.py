"""Celery tasks: primary keys in, rows out. The work is in ``runner``; here only what Celery
decides: delivery guarantees, time limits and retries with backoff.

acks_late + reject_on_worker_lost: a message is acknowledged only when its task returns, so a
worker that dies mid-job leaves it to be delivered again (the job row makes that safe).
"""

from __future__ import annotations

import logging
import random
import socket
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings

from webapp.detection import claims, runner, sweep
from webapp.detection.models import Calibration, DetectionJob, Job, TrainingJob

log = logging.getLogger(__name__)

_LONG = {"acks_late": True, "reject_on_worker_lost": True, "bind": True}


def backoff_seconds(retries: int) -> int:
    """Exponential backoff with jitter, capped at 10 minutes."""
    base = settings.DETECTION_RETRY_BACKOFF_S * (2**retries)
    return int(min(base, 600) * random.uniform(0.8, 1.2)) + 1


def _run(task: Task, model: type[Job], work, job_id: int) -> str:
    worker = task.request.hostname or socket.gethostname()
    try:
        return work(job_id, worker)
    except claims.TransientFailure as failure:
        tries = task.request.retries + 1
        try:
            if task.request.retries >= task.max_retries:
                claims.end(
                    model, job_id, failure.attempt, "failed", f"gave up after {tries} tries: {failure}"
                )
                return "failed"
            countdown = backoff_seconds(task.request.retries)
            claims.requeue(
                model,
                job_id,
                failure.attempt,
                f"{failure}; retry {tries} of {task.max_retries} in {countdown} s",
            )
        except claims.ClaimLost:
            return "superseded"
        raise task.retry(countdown=countdown, exc=failure.cause) from failure


@shared_task(
    name="detection.run_detection_job",
    max_retries=settings.DETECTION_MAX_RETRIES,
    soft_time_limit=settings.DETECTION_SOFT_TIME_LIMIT,
    time_limit=settings.DETECTION_TIME_LIMIT,
    **_LONG,
)
def run_detection_job(self: Task, *, job_id: int) -> str:
    """Score one study with one model version (a DetectionJob)."""
    return _run(self, DetectionJob, runner.run_detection, job_id)


@shared_task(
    name="detection.train_model_version",
    max_retries=settings.DETECTION_MAX_RETRIES,
    soft_time_limit=settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=settings.TRAINING_TIME_LIMIT,
    **_LONG,
)
def train_model_version(self: Task, *, training_job_id: int) -> str:
    """Train a model version from a normal reference cohort (a TrainingJob)."""
    return _run(self, TrainingJob, runner.run_training, training_job_id)


@shared_task(
    name="detection.run_calibration",
    max_retries=settings.DETECTION_MAX_RETRIES,
    soft_time_limit=settings.CALIBRATION_SOFT_TIME_LIMIT,
    time_limit=settings.CALIBRATION_TIME_LIMIT,
    **_LONG,
)
def run_calibration(self: Task, *, calibration_id: int) -> str:
    """Calibrate a model version on a labelled cohort (a Calibration)."""
    return _run(self, Calibration, runner.run_calibration, calibration_id)


@shared_task(name="detection.sweep_stale_jobs", acks_late=False)
def sweep_stale_jobs() -> str:
    """Re-queue running jobs whose worker is gone (Celery beat runs this periodically)."""
    return str(sweep.sweep_stale_jobs())


@worker_ready.connect(dispatch_uid="webapp.detection.sweep_at_worker_start")
def sweep_at_worker_start(sender: Any = None, **kwargs: Any) -> None:
    """A starting worker runs nothing yet: jobs still running under its name were lost with its
    previous process, and stale ones anywhere are swept too."""
    try:
        sweep.sweep_stale_jobs(lost_worker=getattr(sender, "hostname", "") or "")
    except Exception:  # a worker that cannot sweep (database down) should still serve tasks
        log.exception("the sweep at worker start failed")
