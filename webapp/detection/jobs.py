"""The job machinery's web side: sending jobs to the workers by task name once the row is
committed, cancelling (and revoking) them, and what follows a job's end. Tasks are sent by name:
the web process never imports the detector's heavy modules for that."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from webapp.accounts.services import audit
from webapp.core.errors import Conflict, require
from webapp.detection.models import (
    Calibration,
    DetectionJob,
    Job,
    JobStatus,
    ModelVersion,
    TrainingJob,
)

log = logging.getLogger(__name__)

User = AbstractBaseUser | None


TASK_DETECT = "detection.run_detection_job"


TASK_TRAIN = "detection.train_model_version"


TASK_CALIBRATE = "detection.run_calibration"


_TASK_FOR = {DetectionJob: TASK_DETECT, TrainingJob: TASK_TRAIN, Calibration: TASK_CALIBRATE}


_KWARG_FOR = {DetectionJob: "job_id", TrainingJob: "training_job_id", Calibration: "calibration_id"}


def _send(jobs: list[Job]) -> None:
    app = current_app  # the project's Celery app (webapp/celery.py), without importing the project
    for job in jobs:
        try:
            app.send_task(
                _TASK_FOR[type(job)],
                kwargs={_KWARG_FOR[type(job)]: job.pk},
                queue=job.queue,
                task_id=job.task_id,
            )
            type(job).objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(sent_at=timezone.now())
        except Exception as exc:  # the broker is down: say so on the row rather than fail the request
            log.exception("could not send %s %s to the broker", type(job).__name__, job.pk)
            type(job).objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
                error=f"not sent to a worker yet ({exc}); the periodic sweep sends it again"
            )


def send_now(jobs: Iterable[Job]) -> None:
    """Send queued jobs to the broker at once (the sweep's re-send of jobs it never took)."""
    _send(list(jobs))


def enqueue_on_commit(jobs: Iterable[Job]) -> None:
    """Send the jobs to the broker once the transaction that created (or reset) them commits,
    so a worker never picks up a row it cannot see yet."""
    jobs = list(jobs)
    if jobs:
        transaction.on_commit(lambda: _send(jobs))


def new_task_fields() -> dict[str, str]:
    return {"queue": settings.DETECTION_QUEUE, "task_id": str(uuid.uuid4())}


def cancel_job(acting_user: User, job: Job) -> Job:
    """Cancel a job: a queued one at once (and its task revoked), a running one at its next
    checkpoint (the worker moves it to cancelled), or at once when asked a second time."""
    perm = {
        DetectionJob: "detection.launch_detection",
        TrainingJob: "detection.train_modelversion",
        Calibration: "detection.run_calibration",
    }[type(job)]
    require(acting_user, perm, "cancel this job")
    model = type(job)
    revoke = ""
    with transaction.atomic():
        job = model.objects.select_for_update().get(pk=job.pk)
        who = acting_user.get_username() if acting_user is not None else "the system"
        if job.status == JobStatus.QUEUED:
            job.transition_to(
                JobStatus.CANCELLED, cancel_requested=True, stage="cancelled", error=f"cancelled by {who}"
            )
            after_job_ended(job)
            revoke = job.task_id
        elif job.status == JobStatus.RUNNING and not job.cancel_requested:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested"])
        elif job.status == JobStatus.RUNNING:
            # Asked twice: its worker is gone or stuck (a file-system broker never redelivers a
            # killed worker's task). Safe to end here: if that worker still runs, its next
            # checkpoint finds it no longer owns the job and drops its work.
            job.transition_to(
                JobStatus.CANCELLED,
                stage="cancelled",
                error=f"cancelled by {who} while running; its worker had not stopped it",
            )
            after_job_ended(job)
        else:
            raise Conflict(f"{job._meta.verbose_name} {job.pk} is {job.status} already: nothing to cancel")
        audit(acting_user, f"{job._meta.model_name}.cancel_requested", job, details={"status": job.status})
        if revoke:
            transaction.on_commit(lambda: _revoke(revoke))
    return job


def _revoke(task_id: str) -> None:
    """Best effort: a revoked message is dropped by workers; one that still arrives finds its job
    cancelled and does nothing."""
    try:
        current_app.control.revoke(task_id)
    except Exception:
        log.warning("could not broadcast the revocation of task %s", task_id, exc_info=True)


def after_job_ended(job: Job) -> None:
    """A training job that ends without a model leaves its model version failed."""
    if isinstance(job, TrainingJob) and job.status != JobStatus.DONE:
        ModelVersion.objects.filter(pk=job.model_version_id, status=ModelVersion.Status.TRAINING).update(
            status=ModelVersion.Status.FAILED
        )
