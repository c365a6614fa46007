"""Rows for tests. Users get their role through the same service the site uses."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from webapp.accounts.services import set_role
from webapp.cohorts.models import Cohort, CohortMember, CohortStudy
from webapp.studies.models import Instance, Patient, Series, Study


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("test-password-1")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs) -> None:
        if create and extracted:
            set_role(None, self, extracted)


class CohortFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cohort

    name = factory.Sequence(lambda n: f"cohort {n}")
    purpose = Cohort.Purpose.SCREENING


class CohortMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CohortMember

    cohort = factory.SubFactory(CohortFactory)
    user = factory.SubFactory(UserFactory)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    patient_id = factory.Sequence(lambda n: f"P{n:05d}")


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    study_instance_uid = factory.Sequence(lambda n: f"1.2.826.0.1.3680043.10.1.{n}")
    patient = factory.SubFactory(PatientFactory)


class SeriesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Series

    series_instance_uid = factory.Sequence(lambda n: f"1.2.826.0.1.3680043.10.2.{n}")
    study = factory.SubFactory(StudyFactory)
    modality = "CT"


class InstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instance

    sop_instance_uid = factory.Sequence(lambda n: f"1.2.826.0.1.3680043.10.3.{n}")
    sop_class_uid = "1.2.840.10008.5.1.4.1.1.2"
    series = factory.SubFactory(SeriesFactory)
    rows = 16
    columns = 16
    transfer_syntax_uid = "1.2.840.10008.1.2.1"
    file_path = factory.LazyAttribute(lambda o: f"dicom/test/{o.sop_instance_uid}.dcm")
    file_size = 1024
    sha256 = "0" * 64


def study_in_cohort(cohort: Cohort) -> Study:
    """A stored study (one series, one instance row) linked to ``cohort``."""
    instance = InstanceFactory()
    study = instance.series.study
    CohortStudy.objects.create(cohort=cohort, study=study)
    return study
