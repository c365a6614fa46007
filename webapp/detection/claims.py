"""The job state machine on the worker's side: claim the row, checkpoint, settle (runner.py
does the work between).

Exactly-once results without trusting the broker: every delivery of a task *claims* its job
(status running, ``attempts`` + 1, row locked), and only the latest claimant may finish it. A
worker killed mid-job leaves the row running; the redelivered task claims it again and does the
work; a slow worker that lost its claim throws its work away. A result row is unique per job
(and per study and model version), so no path can store two.

Long work is cut into named stages; at each one (a checkpoint) the worker stores progress,
stops if its claim was taken over, and stops cleanly if a cancel was requested.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from detector.pipeline import Timer
from webapp.accounts.services import audit
from webapp.detection.models import (
    Job,
    JobStatus,
)
from webapp.detection.services import after_job_ended
from webapp.detection.signals import job_stage

log = logging.getLogger(__name__)


# Errors worth another try: the database or broker blinked, the GPU was momentarily full.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    torch.OutOfMemoryError,
)


class Cancelled(Exception):
    """A cancel was requested; the job stops at this checkpoint."""


class ClaimLost(Exception):
    """Another delivery claimed the job (or it ended) while this one worked: drop the work."""


class TransientFailure(Exception):
    """A retryable error; the task decides between a retry and giving up."""

    def __init__(self, attempt: int, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.attempt = attempt
        self.cause = cause


def claim(model: type[Job], job_id: int, worker: str) -> Job | None:
    """Take the job for this delivery, or None when there is nothing to do (gone, finished,
    cancelled, or given up after too many lost workers)."""
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            log.warning(
                "%s %s does not exist (deleted, or from another database): nothing to do",
                model.__name__,
                job_id,
            )
            return None
        if job.is_terminal:
            log.info("%s %s is %s already: nothing to do", model.__name__, job_id, job.status)
            return None
        if job.cancel_requested:
            job.transition_to(
                JobStatus.CANCELLED, stage="cancelled", error=job.error or "cancelled before it started"
            )
            after_job_ended(job)
            return None
        if job.attempts >= settings.DETECTION_MAX_ATTEMPTS:
            job.transition_to(
                JobStatus.FAILED,
                stage="given up",
                error=f"gave up after {job.attempts} attempts: its worker was lost each time "
                "(killed, out of memory or past the hard time limit)",
            )
            after_job_ended(job)
            audit(None, f"{model._meta.model_name}.failed", job, details={"error": job.error})
            return None
        job.transition_to(
            JobStatus.RUNNING,
            attempts=job.attempts + 1,
            worker=worker[:255],
            started_at=timezone.now(),
            heartbeat_at=timezone.now(),
            progress=0.0,
            stage="starting",
            error="",
        )
    return job


@contextmanager
def owned(model: type[Job], job_id: int, attempt: int) -> Iterator[Job]:
    """The job row, locked, if this attempt still owns it; ClaimLost otherwise."""
    with transaction.atomic():
        job = model.objects.select_for_update().get(pk=job_id)
        if job.status != JobStatus.RUNNING or job.attempts != attempt:
            raise ClaimLost
        yield job


def end(model: type[Job], job_id: int, attempt: int, status: str, message: str) -> None:
    """Move an owned running job to failed or cancelled, with the reason."""
    with owned(model, job_id, attempt) as job:
        job.transition_to(status, error=message[:4000], stage=status)
        after_job_ended(job)
        audit(None, f"{model._meta.model_name}.{status}", job, details={"error": message[:500]})


def requeue(model: type[Job], job_id: int, attempt: int, message: str) -> None:
    """Back to queued while a retry waits (the retry's delivery claims it again)."""
    with owned(model, job_id, attempt) as job:
        job.transition_to(JobStatus.QUEUED, error=message[:4000], stage="waiting to retry")


def settle(model: type[Job], job_id: int, attempt: int, exc: BaseException) -> str:
    """Record how a job attempt ended on an exception; re-raise what the task must handle."""
    try:
        if isinstance(exc, ClaimLost):
            log.info("%s %s attempt %s was superseded; its work is dropped", model.__name__, job_id, attempt)
            return "superseded"
        if isinstance(exc, Cancelled):
            end(model, job_id, attempt, JobStatus.CANCELLED, f"cancelled on request (stopped at {exc})")
            return "cancelled"
        if isinstance(exc, SoftTimeLimitExceeded):
            end(model, job_id, attempt, JobStatus.FAILED, "stopped: the job ran past its time limit")
            return "failed"
        if isinstance(exc, TRANSIENT_ERRORS):
            raise TransientFailure(attempt, exc) from exc
        if isinstance(exc, Exception):
            log.exception("%s %s failed", model.__name__, job_id, exc_info=exc)
            message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            end(model, job_id, attempt, JobStatus.FAILED, message or type(exc).__name__)
            return "failed"
    except ClaimLost:
        return "superseded"
    raise exc  # SystemExit, KeyboardInterrupt: the worker is going down; the message is redelivered


class Checkpoints:
    """Called at every stage: store progress, honour a cancel, notice a lost claim."""

    def __init__(self, model: type[Job], job_id: int, attempt: int) -> None:
        self.model, self.job_id, self.attempt = model, job_id, attempt

    def __call__(self, stage: str, progress: float | None = None) -> None:
        row = (
            self.model.objects.filter(pk=self.job_id).values("status", "attempts", "cancel_requested").first()
        )
        if row is None or row["status"] != JobStatus.RUNNING or row["attempts"] != self.attempt:
            raise ClaimLost
        if row["cancel_requested"]:
            raise Cancelled(stage)
        fields: dict[str, Any] = {"stage": stage[:100], "heartbeat_at": timezone.now()}
        if progress is not None:
            fields["progress"] = min(max(float(progress), 0.0), 1.0)
        self.model.objects.filter(pk=self.job_id, attempts=self.attempt, status=JobStatus.RUNNING).update(
            **fields
        )
        job_stage.send(
            sender=self.model, job_id=self.job_id, attempt=self.attempt, stage=stage, progress=progress
        )


class CheckpointTimer(Timer):
    """The detector's stage timer, with a checkpoint as each stage starts."""

    def __init__(self, checkpoint: Callable[[str, float | None], None], progress: dict[str, float]) -> None:
        super().__init__()
        self.checkpoint = checkpoint
        self._progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.checkpoint(name, self._progress.get(name))
        with super().stage(name):
            yield
