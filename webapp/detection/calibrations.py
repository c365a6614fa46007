"""Calibrating a model version on a labelled cohort (a job), and viewing a calibration."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from webapp.accounts.services import audit
from webapp.cohorts.models import Cohort
from webapp.core.errors import require
from webapp.detection.detections import check_cohort, no_active_model
from webapp.detection.jobs import (
    enqueue_on_commit,
    new_task_fields,
)
from webapp.detection.models import (
    Calibration,
    ModelVersion,
)
from webapp.detection.selectors import active_model_version, labelled_studies

log = logging.getLogger(__name__)

User = AbstractBaseUser | None


def launch_calibration(
    acting_user: User, cohort: Cohort, *, model_version: ModelVersion | None = None
) -> Calibration:
    """Score a labelled calibration cohort with a model version (the active one by default)."""
    require(acting_user, "detection.run_calibration", "calibrate model versions")
    check_cohort(acting_user, cohort)
    if cohort.purpose != Cohort.Purpose.CALIBRATION:
        raise ValidationError(
            {
                "cohort": f"calibration needs a labelled calibration cohort; this one's purpose is {cohort.purpose}"
            }
        )
    version = model_version or active_model_version()
    if version is None:
        raise no_active_model()
    if version.status != ModelVersion.Status.READY:
        raise ValidationError({"model_version": f"model version {version.name!r} is {version.status}"})
    labels = [label for _, label, _ in labelled_studies(cohort)]
    normals, abnormals = labels.count("normal"), labels.count("abnormal")
    if not normals or not abnormals:
        raise ValidationError(
            {
                "cohort": f"calibration needs uploaded studies labelled normal and abnormal; this cohort has "
                f"{normals} normal and {abnormals} abnormal (attach a labels CSV, upload the images)"
            }
        )
    with transaction.atomic():
        calibration = Calibration.objects.create(
            cohort=cohort, model_version=version, requested_by=acting_user, **new_task_fields()
        )
        audit(
            acting_user,
            "calibration.launched",
            calibration,
            details={
                "cohort": cohort.pk,
                "model_version": version.name,
                "normal": normals,
                "abnormal": abnormals,
            },
        )
        enqueue_on_commit([calibration])
    return calibration


def view_calibration(acting_user: AbstractBaseUser, calibration: Calibration) -> Calibration:
    """Audit a look at a calibration (its per-study scores name patients)."""
    with transaction.atomic():
        audit(acting_user, "calibration.viewed", calibration, details={"cohort": calibration.cohort_id})
    return calibration
