"""Study actions. Every view of a study is audited: who looked at which patient's images, when."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from webapp.accounts.services import audit
from webapp.cohorts.selectors import visible_studies
from webapp.studies.models import Study


def view_study(acting_user: AbstractBaseUser, study_id: int) -> Study:
    """The study with its patient and series, if the user may see it (Study.DoesNotExist if not)."""
    with transaction.atomic():
        study = visible_studies(acting_user).select_related("patient").get(pk=study_id)
        audit(
            acting_user,
            "study.viewed",
            study,
            details={"study_instance_uid": study.study_instance_uid, "patient_id": study.patient.patient_id},
        )
    return study


def record_study_list_view(
    acting_user: AbstractBaseUser, study_ids: list[int], filters: dict[str, str]
) -> None:
    """Audit one page of a study list: patient identifiers were shown for these studies."""
    with transaction.atomic():
        audit(
            acting_user,
            "study.listed",
            object_type="studies.study",
            details={"study_ids": study_ids, "filters": filters},
        )
