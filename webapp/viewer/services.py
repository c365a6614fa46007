"""Opening a study in the viewer: access through cohort membership, one audit row per opening;
what its detection stands at when it has no result to show."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from webapp.accounts.services import audit
from webapp.cohorts.selectors import visible_studies
from webapp.detection.models import DetectionJob
from webapp.studies.models import Study
from webapp.worklists.selectors import visible_items


def open_study(acting_user: AbstractBaseUser, study_id: int) -> Study:
    """The study if the user may see it (Study.DoesNotExist if not); the opening is audited."""
    study = visible_studies(acting_user).select_related("patient").get(pk=study_id)
    with transaction.atomic():
        audit(
            acting_user,
            "study.viewer_opened",
            study,
            details={"study_instance_uid": study.study_instance_uid, "patient_id": study.patient.patient_id},
        )
    return study


def item_study_id(acting_user: AbstractBaseUser, item_id: int) -> int:
    """The study of a worklist item the user sees (WorklistItem.DoesNotExist if none)."""
    return visible_items(acting_user).values_list("study_id", flat=True).get(pk=item_id)


def detection_status(acting_user: AbstractBaseUser, study_id: int) -> dict[str, Any]:
    """Where the study's detection stands, for a viewer that has no result to show: the newest
    job of the active model version (else the newest job), its status, progress and error.

    Study.DoesNotExist when the user may not see the study. Readers see this without the
    coordinators' job list permission: it says no more than why their result is missing.
    """
    study = visible_studies(acting_user).get(pk=study_id)
    jobs = DetectionJob.objects.filter(study=study).select_related("model_version")
    job = jobs.filter(model_version__is_active=True).first() or jobs.first()
    if job is None:
        return {"state": "none", "job": None}
    return {
        "state": job.status,
        "job": {
            "id": job.pk,
            "status": job.status,
            "progress": job.progress,
            "stage": job.stage,
            "error": job.error,
            "model_version": job.model_version.name,
            "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        },
    }
