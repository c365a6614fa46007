"""What a user may read through DICOMweb: the studies of their cohorts (all of them for admins),
looked up by DICOM UIDs. Anything else does not exist for them (404)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from webapp.cohorts.selectors import visible_studies
from webapp.core.queries import count_of
from webapp.studies.models import Instance, Series, Study

UserLike = AbstractBaseUser | AnonymousUser | None


def searchable_studies(user: UserLike) -> QuerySet[Study]:
    """Visible studies with the counts QIDO-RS reports."""
    return (
        visible_studies(user)
        .select_related("patient")
        .annotate(
            series_count=count_of(Series, "study"),
            instance_count=count_of(Instance, "series__study"),
        )
    )


def visible_study(user: UserLike, study_uid: str) -> Study:
    """The study with this StudyInstanceUID if the user sees it (Study.DoesNotExist if not)."""
    return visible_studies(user).select_related("patient").get(study_instance_uid=study_uid)


def visible_series(user: UserLike) -> QuerySet[Series]:
    """Every series of the studies the user sees (the top-level QIDO-RS /series)."""
    return (
        Series.objects.filter(study__in=visible_studies(user).values("pk"))
        .select_related("study")
        .annotate(instance_count=count_of(Instance, "series"))
        .order_by("-study__created_at", "study_id", "series_number", "id")
    )


def visible_instances(user: UserLike) -> QuerySet[Instance]:
    """Every instance of the studies the user sees (the top-level QIDO-RS /instances)."""
    return (
        Instance.objects.filter(series__study__in=visible_studies(user).values("pk"))
        .select_related("series", "series__study")
        .order_by(
            "-series__study__created_at",
            "series__study_id",
            "series__series_number",
            "series_id",
            "instance_number",
            "id",
        )
    )


def series_in(study: Study) -> QuerySet[Series]:
    return (
        study.series.select_related("study")
        .annotate(instance_count=count_of(Instance, "series"))
        .order_by("series_number", "id")
    )


def series_by_uid(study: Study, series_uid: str) -> Series:
    return study.series.get(series_instance_uid=series_uid)


def instances_in(study: Study, series_uid: str | None = None) -> QuerySet[Instance]:
    qs = Instance.objects.filter(series__study=study).select_related("series", "series__study")
    if series_uid is not None:
        qs = qs.filter(series__series_instance_uid=series_uid)
    return qs.order_by("series__series_number", "series_id", "instance_number", "id")


def instance_by_uid(study: Study, series_uid: str, sop_uid: str) -> Instance:
    return Instance.objects.select_related("series").get(
        series__study=study, series__series_instance_uid=series_uid, sop_instance_uid=sop_uid
    )


def visible_instance(user: UserLike, study_uid: str, series_uid: str, sop_uid: str) -> Instance:
    """One instance addressed by its three UIDs, if the user sees its study: a single query, for
    the frame requests a viewer sends by the hundred."""
    return Instance.objects.get(
        sop_instance_uid=sop_uid,
        series__series_instance_uid=series_uid,
        series__study__study_instance_uid=study_uid,
        series__study__in=visible_studies(user).values("pk"),
    )
