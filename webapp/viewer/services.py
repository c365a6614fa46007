"""Opening a study in the viewer: access through cohort membership, one audit row per opening."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from webapp.accounts.services import audit
from webapp.cohorts.selectors import visible_studies
from webapp.studies.models import Study


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
