"""Rows for tests. Users get their role through the same service the site uses."""

from __future__ import annotations

from pathlib import Path

import factory
import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File

from webapp.accounts.services import set_role
from webapp.cohorts.models import Cohort, CohortMember, CohortStudy
from webapp.detection import maps
from webapp.detection.models import DetectionJob, DetectionResult, ModelVersion
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


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A model version row (no model files: for tests that never score)."""

    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"model {n}")
    source = ModelVersion.Source.IMPORTED
    status = ModelVersion.Status.READY
    directory = factory.Sequence(lambda n: f"models/none-{n}")


def detection_result(study: Study, version: ModelVersion, fused_score: float = 0.5) -> DetectionResult:
    """A finished detection job and its result, with small real map files under MEDIA_ROOT."""
    job = DetectionJob.objects.create(
        study=study, model_version=version, status="done", progress=1.0, attempts=1, queue="cpu"
    )
    relative = Path("results") / f"job-{job.pk}" / "attempt-1"
    folder = Path(settings.MEDIA_ROOT) / relative
    folder.mkdir(parents=True)
    rng = np.random.default_rng(job.pk)
    shape = (3, 4, 5)
    stored = {kind: maps.write_map(folder, kind, rng.random(shape, dtype=np.float32)) for kind in maps.KINDS}
    return DetectionResult.objects.create(
        job=job,
        study=study,
        model_version=version,
        series_instance_uid="1.2.3.4",
        global_score=fused_score - 0.7,
        local_score=1.0,
        fused_score=fused_score,
        peaks=[{"center_lps_mm": [1.0, 2.0, 3.0], "value": 1.5, "extent_mm": 10.0, "side": "left"}],
        grid={
            "shape_zyx": list(shape),
            "spacing_zyx_mm": [2.0, 1.0, 1.0],
            "origin_lps_mm": [0.0, 0.0, 0.0],
            "direction_zyx": [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
        },
        maps_directory=relative.as_posix(),
        maps=stored,
    )


def ingest_files(user, cohort, paths: list[Path]) -> Study:
    """Ingest files into a cohort through the site's own upload service; all must be accepted."""
    from webapp.cohorts.services import upload_to_cohort

    handles = [p.open("rb") for p in paths]
    try:
        result = upload_to_cohort(user, cohort, [File(h, name=p.name) for h, p in zip(handles, paths)])
    finally:
        for h in handles:
            h.close()
    assert result.summary()["accepted"] == len(paths), result.summary()
    return Study.objects.get(pk=result.study_ids[0])
