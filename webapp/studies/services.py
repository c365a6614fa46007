"""Study actions. Every view of a study is audited: who looked at which patient's images, when
(the access itself is the cohorts': ``webapp.cohorts.services.view_study``)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from webapp.accounts.services import audit


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
