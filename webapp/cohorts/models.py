"""Cohorts and who may see them. A user sees a cohort, and the studies in it, only as one of its
members (CohortMember) or with the admin-only ``view_all_cohorts`` permission."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.studies.models import UID_MAX_LENGTH, Study


class Cohort(models.Model):
    class Purpose(models.TextChoices):
        SCREENING = "screening", "Screening"
        NORMAL_REFERENCE = "normal_reference", "Normal reference (training)"
        CALIBRATION = "calibration", "Calibration (labelled)"

    name = models.CharField(max_length=200)
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    description = models.TextField(blank=True)
    # De-identify every file on the way in (studies/deid.py), decided when the cohort is made.
    deidentify = models.BooleanField(default=False)
    # The secret the pseudonyms are derived from: never shown, never exported.
    deid_seed = models.CharField(max_length=64, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="cohorts_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("upload_studies", "Can upload studies into cohorts they belong to"),
            ("attach_labels", "Can attach a labels CSV to a calibration cohort"),
            ("manage_members", "Can add members to cohorts they belong to"),
            ("view_all_cohorts", "Can see every cohort without being a member"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.purpose})"


class CohortMember(models.Model):
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cohort_memberships"
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cohort", "user"], name="cohort_member_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.cohort}"


class CohortStudy(models.Model):
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="study_links")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cohort_links")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cohort", "study"], name="cohort_study_unique")]
        verbose_name_plural = "cohort studies"

    def __str__(self) -> str:
        return f"{self.study} in {self.cohort}"


class CohortLabel(models.Model):
    """One row of a calibration cohort's labels CSV (the detector's cohort format).

    Keyed by StudyInstanceUID rather than a Study row, so labels can arrive before or after the
    images; an abnormal study may have several rows, one per lesion.
    """

    class Label(models.TextChoices):
        NORMAL = "normal", "Normal"
        ABNORMAL = "abnormal", "Abnormal"

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="labels")
    study_instance_uid = models.CharField(max_length=UID_MAX_LENGTH)
    patient_id = models.CharField(max_length=64, blank=True)
    label = models.CharField(max_length=16, choices=Label.choices)
    lesion_type = models.CharField(max_length=64, blank=True)
    lesion_center_x_mm = models.FloatField(null=True, blank=True)  # patient LPS
    lesion_center_y_mm = models.FloatField(null=True, blank=True)
    lesion_center_z_mm = models.FloatField(null=True, blank=True)
    lesion_diameter_mm = models.FloatField(null=True, blank=True)
    lesion_site = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["cohort", "study_instance_uid"], name="cohort_label_study_idx")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.study_instance_uid}: {self.label}"
