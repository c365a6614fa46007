"""Launching detection: a job per study and model version, for a cohort, a study, or the studies
an upload just added to a screening cohort."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from webapp.accounts.services import audit
from webapp.cohorts.models import Cohort, CohortStudy
from webapp.cohorts.selectors import visible_cohorts, visible_studies
from webapp.core.errors import require
from webapp.detection.jobs import (
    enqueue_on_commit,
    new_task_fields,
)
from webapp.detection.models import (
    LIVE,
    DetectionJob,
    JobStatus,
    ModelVersion,
)
from webapp.detection.selectors import active_model_version
from webapp.studies.models import Study

log = logging.getLogger(__name__)

User = AbstractBaseUser | None


def check_cohort(user: User, cohort: Cohort) -> None:
    if user is not None and not visible_cohorts(user).filter(pk=cohort.pk).exists():
        raise Cohort.DoesNotExist


@dataclass
class LaunchResult:
    model_version: ModelVersion
    created: list[DetectionJob] = field(default_factory=list)
    existing: list[DetectionJob] = field(default_factory=list)  # queued, running or done already


def no_active_model() -> ValidationError:
    return ValidationError(
        {"model_version": "no model version is active: an admin must import or train one and activate it"}
    )


def launch_detection(
    acting_user: User,
    study_ids: Iterable[int],
    *,
    cohort: Cohort | None = None,
    model_version: ModelVersion | None = None,
    reason: str = "requested",
) -> LaunchResult:
    """One detection job per study with the model version (the active one by default), unless a
    queued, running or finished job exists for that study and version already."""
    version = model_version or active_model_version()
    if version is None:
        raise no_active_model()
    if version.status != ModelVersion.Status.READY:
        raise ValidationError({"model_version": f"model version {version.name!r} is {version.status}"})
    wanted = sorted(set(study_ids))
    with transaction.atomic():
        live = DetectionJob.objects.filter(
            study_id__in=wanted,
            model_version=version,
            status__in=[*LIVE, JobStatus.DONE],
        )
        existing = list(live)
        have = {job.study_id for job in existing}
        batch = uuid.uuid4()
        DetectionJob.objects.bulk_create(
            [
                DetectionJob(
                    study_id=sid,
                    model_version=version,
                    cohort=cohort,
                    requested_by=acting_user,
                    launch_batch=batch,
                    **new_task_fields(),
                )
                for sid in wanted
                if sid not in have
            ],
            batch_size=500,
            # A concurrent launch may have inserted the same (study, version) meanwhile: the
            # database's unique constraint keeps one, and we enqueue only the rows we inserted.
            ignore_conflicts=True,
        )
        created = list(DetectionJob.objects.filter(launch_batch=batch).order_by("pk"))
        target: Cohort | Study | None = cohort
        if target is None and len(wanted) == 1:
            target = Study(pk=wanted[0])
        audit(
            acting_user,
            "detection.launched",
            target,
            object_type="" if target is not None else "studies.study",
            details={
                "reason": reason,
                "model_version": version.name,
                "created": len(created),
                "existing": len(existing),
                "job_ids": [j.pk for j in created][:1000],
            },
        )
        enqueue_on_commit(created)
    return LaunchResult(version, created, existing)


def launch_detection_for_cohort(acting_user: User, cohort: Cohort) -> LaunchResult:
    """Detection for every study of a cohort the user sees."""
    require(acting_user, "detection.launch_detection", "launch detection")
    check_cohort(acting_user, cohort)
    study_ids = CohortStudy.objects.filter(cohort=cohort).values_list("study_id", flat=True)
    return launch_detection(acting_user, list(study_ids), cohort=cohort, reason="cohort")


def launch_detection_for_study(acting_user: User, study_id: int) -> LaunchResult:
    require(acting_user, "detection.launch_detection", "launch detection")
    study = (visible_studies(acting_user) if acting_user is not None else Study.objects).get(pk=study_id)
    return launch_detection(acting_user, [study.pk], reason="study")


def detect_after_ingest(
    sender: Any, *, cohort: Cohort, study_ids: list[int], acting_user: User, **kwargs: Any
) -> None:
    """``studies_added`` receiver: new studies in a screening cohort are queued for detection
    with the active model (nothing happens while no model is active)."""
    if cohort.purpose != Cohort.Purpose.SCREENING or not study_ids:
        return
    version = active_model_version()
    if version is None:
        return
    launch_detection(acting_user, study_ids, cohort=cohort, model_version=version, reason="ingest")
