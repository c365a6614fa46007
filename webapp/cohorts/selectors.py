"""Who sees what: the object-level access rule, in one place for every view and service."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from webapp.cohorts.models import Cohort, CohortLabel, CohortMember, CohortStudy
from webapp.core.queries import count_of
from webapp.studies.models import Study

UserLike = AbstractBaseUser | AnonymousUser | None


def sees_all_cohorts(user: UserLike) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and user.has_perm("cohorts.view_all_cohorts")
    )


def visible_cohorts(user: UserLike) -> QuerySet[Cohort]:
    """Cohorts the user is a member of (all of them for admins)."""
    if not (user and user.is_authenticated and user.is_active and user.has_perm("cohorts.view_cohort")):
        return Cohort.objects.none()
    if sees_all_cohorts(user):
        return Cohort.objects.all()
    return Cohort.objects.filter(memberships__user=user)


def visible_studies(user: UserLike) -> QuerySet[Study]:
    """Studies in at least one cohort the user sees."""
    if not (user and user.is_authenticated and user.is_active and user.has_perm("studies.view_study")):
        return Study.objects.none()
    if sees_all_cohorts(user):
        return Study.objects.all()
    # A subquery, not a join: a study in two of the user's cohorts must appear once.
    links = CohortStudy.objects.filter(cohort__memberships__user=user).values("study_id")
    return Study.objects.filter(pk__in=links)


def usable_study_ids(user: UserLike, study_ids: set[int]) -> set[int]:
    """Of these existing studies, those the user may add images to or link into a cohort."""
    return set(visible_studies(user).filter(pk__in=study_ids).values_list("pk", flat=True))


def with_counts(cohorts: QuerySet[Cohort]) -> QuerySet[Cohort]:
    return cohorts.annotate(
        study_count=count_of(CohortStudy, "cohort"),
        member_count=count_of(CohortMember, "cohort"),
        label_count=count_of(CohortLabel, "cohort"),
    )
