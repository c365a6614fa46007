"""The DICOM hierarchy as stored: Patient -> Study -> Series -> Instance (one file each).

Rows are keyed by their DICOM UIDs; an Instance's SOPInstanceUID is unique across the whole
site, which is what de-duplication relies on. Which users may see a study is decided by cohort
membership (webapp.cohorts), not here.
"""

from __future__ import annotations

import functools
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.db import models

UID_MAX_LENGTH = 64  # DICOM PS3.5 9.1


class Patient(models.Model):
    """A patient as one cohort knows them. ``scope`` names whose record this is (``cohort:<id>``,
    given by the ingest's caller): the same PatientID uploaded into another cohort is another
    record, so nobody sees demographics that came from a cohort they cannot see."""

    scope = models.CharField(max_length=64, blank=True)
    patient_id = models.CharField(max_length=64)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_name = models.CharField(max_length=255, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "patient_id", "issuer_of_patient_id"], name="patient_unique_id_in_scope"
            )
        ]
        ordering = ["patient_id"]

    def __str__(self) -> str:
        return self.patient_id


class Study(models.Model):
    study_instance_uid = models.CharField(max_length=UID_MAX_LENGTH, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="studies")
    study_date = models.DateField(null=True, blank=True)
    study_description = models.CharField(max_length=255, blank=True)
    accession_number = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.study_instance_uid


class Series(models.Model):
    series_instance_uid = models.CharField(max_length=UID_MAX_LENGTH, unique=True)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    modality = models.CharField(max_length=16)
    series_number = models.IntegerField(null=True, blank=True)
    series_description = models.CharField(max_length=255, blank=True)
    body_part_examined = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series_number", "id"]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return self.series_instance_uid

    @property
    def folder(self) -> Path:
        """The folder holding this series' files (what detector.read_series takes)."""
        return Path(settings.MEDIA_ROOT) / series_relative_folder(
            self.study.study_instance_uid, self.series_instance_uid
        )


class Instance(models.Model):
    sop_instance_uid = models.CharField(max_length=UID_MAX_LENGTH, unique=True)
    sop_class_uid = models.CharField(max_length=UID_MAX_LENGTH)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    instance_number = models.IntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    number_of_frames = models.PositiveIntegerField(default=1)
    transfer_syntax_uid = models.CharField(max_length=UID_MAX_LENGTH)
    # Relative to MEDIA_ROOT, so the media folder can move without rewriting rows.
    file_path = models.CharField(max_length=400, unique=True)
    file_size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["instance_number", "id"]

    def __str__(self) -> str:
        return self.sop_instance_uid

    @property
    def absolute_path(self) -> Path:
        """The stored file, checked on every use to lie under MEDIA_ROOT: a row edited to point
        elsewhere (``../../etc/...``) must never make the site serve a server file."""
        root = _resolved(str(settings.MEDIA_ROOT))
        path = (root / self.file_path).resolve()
        if not path.is_relative_to(root):
            raise SuspiciousFileOperation(f"instance {self.pk}: its stored file path leaves the media folder")
        return path


class Pseudonym(models.Model):
    """The pseudonym map of de-identified cohorts: which original patient and study each
    pseudonymised study came from. Kept apart from the images (their files and the Patient and
    Study rows hold only pseudonyms) and readable by admins only (in Django's admin, audited);
    no API, page or export shows it. Rows are written by the ingest and never edited."""

    scope = models.CharField(max_length=64)  # the patient scope, ``cohort:<id>``
    study_instance_uid = models.CharField(max_length=UID_MAX_LENGTH)  # the pseudonym
    patient_id = models.CharField(max_length=64)  # the pseudonym
    original_study_instance_uid = models.CharField(max_length=UID_MAX_LENGTH)
    original_patient_id = models.CharField(max_length=64)
    original_issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "study_instance_uid"], name="pseudonym_unique_study")
        ]
        ordering = ["scope", "patient_id", "id"]

    def __str__(self) -> str:  # what audit rows name: the pseudonyms, never the originals
        return f"{self.patient_id} / {self.study_instance_uid}"


@functools.lru_cache(maxsize=8)
def _resolved(folder: str) -> Path:
    """MEDIA_ROOT resolved once (every frame request checks a path against it)."""
    return Path(folder).resolve()


def series_relative_folder(study_instance_uid: str, series_instance_uid: str) -> Path:
    """Where a series lives under MEDIA_ROOT. UIDs are validated digits-and-dots before use."""
    return Path("dicom") / study_instance_uid / series_instance_uid
