"""Who sees which jobs, results and calibrations: through the studies and cohorts they see."""

from __future__ import annotations

from django.db.models import QuerySet

from webapp.cohorts.models import Cohort, CohortLabel
from webapp.cohorts.selectors import UserLike, visible_cohorts, visible_studies
from webapp.detection.models import (
    Calibration,
    DetectionJob,
    DetectionResult,
    JobStatus,
    ModelVersion,
    TrainingJob,
)
from webapp.detection.visibility import hidden_from
from webapp.studies.models import Study


def _has(user: UserLike, perm: str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(perm))


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def visible_model_versions(user: UserLike) -> QuerySet[ModelVersion]:
    if not _has(user, "detection.view_modelversion"):
        return ModelVersion.objects.none()
    return ModelVersion.objects.all()


def visible_training_jobs(user: UserLike) -> QuerySet[TrainingJob]:
    if not _has(user, "detection.view_trainingjob"):
        return TrainingJob.objects.none()
    return TrainingJob.objects.all()


def visible_jobs(user: UserLike) -> QuerySet[DetectionJob]:
    """Detection jobs on studies the user sees."""
    if not _has(user, "detection.view_detectionjob"):
        return DetectionJob.objects.none()
    return DetectionJob.objects.filter(study__in=visible_studies(user).values("pk"))


def visible_results(user: UserLike) -> QuerySet[DetectionResult]:
    if not _has(user, "detection.view_detectionresult"):
        return DetectionResult.objects.none()
    results = DetectionResult.objects.filter(study__in=visible_studies(user).values("pk"))
    for hidden in hidden_from(user):
        results = results.exclude(study_id__in=hidden)
    return results


def visible_calibrations(user: UserLike) -> QuerySet[Calibration]:
    """Calibrations on cohorts the user sees (their per-study scores name those patients)."""
    if not _has(user, "detection.view_calibration"):
        return Calibration.objects.none()
    return Calibration.objects.filter(cohort__in=visible_cohorts(user).values("pk"))


def latest_calibration(model_version: ModelVersion | None) -> Calibration | None:
    """The newest finished calibration of a model version: the one scores are read against."""
    if model_version is None:
        return None
    return (
        Calibration.objects.filter(model_version=model_version, status=JobStatus.DONE)
        .order_by("-finished_at", "-id")
        .first()
    )


def labelled_studies(cohort: Cohort) -> list[tuple[Study, str, str]]:
    """``(study, label, lesion_type)`` for the cohort's uploaded studies its labels CSV names,
    in StudyInstanceUID order (an abnormal study with several lesion rows appears once)."""
    labels: dict[str, tuple[str, str]] = {}
    for uid, label, lesion_type in (
        CohortLabel.objects.filter(cohort=cohort)
        .order_by("id")
        .values_list("study_instance_uid", "label", "lesion_type")
    ):
        labels.setdefault(uid, (label, lesion_type))
    studies = (
        Study.objects.filter(cohort_links__cohort=cohort, study_instance_uid__in=list(labels))
        .select_related("patient")
        .order_by("study_instance_uid")
    )
    return [(s, *labels[s.study_instance_uid]) for s in studies]
