"""Detection results and their maps: viewing them (audited) and what a result means at the
calibrated operating points."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction

from webapp.accounts.services import audit
from webapp.cohorts.selectors import visible_studies
from webapp.detection.findings import findings_interpretation
from webapp.detection.models import (
    DetectionResult,
)
from webapp.detection.points import interpret
from webapp.detection.selectors import latest_calibration
from webapp.detection.visibility import why_hidden

log = logging.getLogger(__name__)

User = AbstractBaseUser | None


def view_result(
    acting_user: AbstractBaseUser,
    study_id: int,
    *,
    result_id: int | None = None,
    model_version_id: int | None = None,
) -> DetectionResult:
    """A study's detection result (the active model's, else the newest), audited as a view.

    Study.DoesNotExist when the user may not see the study; DetectionResult.DoesNotExist when
    there is no result yet.
    """
    if not acting_user.has_perm("detection.view_detectionresult"):
        raise PermissionDenied("your role does not allow you to see detection results")
    with transaction.atomic():
        study = visible_studies(acting_user).select_related("patient").get(pk=study_id)
        reason = why_hidden(acting_user, study.pk)
        if reason:
            raise PermissionDenied(reason)
        results = DetectionResult.objects.filter(study=study).select_related("model_version", "job")
        if result_id is not None:
            result = results.get(pk=result_id)
        elif model_version_id is not None:
            result = results.get(model_version_id=model_version_id)
        else:
            result = results.filter(model_version__is_active=True).first() or results.first()
            if result is None:
                raise DetectionResult.DoesNotExist
        audit(
            acting_user,
            "detection.result_viewed",
            result,
            details={
                "study_id": study.pk,
                "study_instance_uid": study.study_instance_uid,
                "patient_id": study.patient.patient_id,
                "model_version": result.model_version.name,
            },
        )
    return result


def record_map_view(acting_user: AbstractBaseUser, result: DetectionResult, kind: str, status: int) -> None:
    """Audit one map download (also a 304 answer: the client showed the map it had)."""
    with transaction.atomic():
        audit(
            acting_user,
            "detection.map_viewed",
            result,
            details={"study_id": result.study_id, "kind": kind, "status": status},
        )


def record_results_list_view(acting_user: AbstractBaseUser, study_ids: list[int], filters: dict) -> None:
    """Audit one page of the results list: patient identifiers and scores were shown."""
    with transaction.atomic():
        audit(
            acting_user,
            "detection.results_listed",
            object_type="detection.detectionresult",
            details={"study_ids": study_ids, "filters": {k: str(v) for k, v in filters.items()}},
        )


def media_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def result_interpretation(result: DetectionResult) -> dict[str, Any]:
    """What the fused score means at the named operating points of the newest calibration of
    the result's model version."""
    calibration = latest_calibration(result.model_version)
    if calibration is None:
        return {
            "calibration": None,
            "message": "this model version has not been calibrated yet: the score has no operating point",
            "operating_points": {},
        }
    return {
        "calibration": calibration.pk,
        "calibration_cohort": calibration.cohort_id,
        "calibrated_at": calibration.finished_at,
        "auc_fused": calibration.auc.get("fused"),
        "operating_points": interpret(result.fused_score, calibration.operating_points),
        **findings_interpretation(result, calibration),
    }
