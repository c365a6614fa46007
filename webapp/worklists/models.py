"""Worklists, who reads them, and the reads.

A coordinator builds a worklist from a cohort's studies that have a finished detection result
(of one model version) and assigns it to radiologists of that cohort. Every assigned radiologist
reads every item (multi-reader: what an AI-versus-reader agreement study needs); their progress
on an item is one ``ItemProgress`` row (none yet = unread). A read is never edited: a correction
is a new version that supersedes the previous one, so the trail of what was decided stays.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from webapp.cohorts.models import Cohort
from webapp.detection.models import Calibration, DetectionResult, ModelVersion
from webapp.studies.models import Study


class Worklist(models.Model):
    name = models.CharField(max_length=200)
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="worklists")
    # The model version whose results order the items (the active one when it was built).
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="worklists")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="worklists_created"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Blinded reads: the AI's call and score stay hidden from each reader until they submit
    # their read of the item, and the items come in a shuffled order (a score order would
    # tell them the AI's ranking), so that the reads measure the reader.
    blinded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("assign_worklist", "Can assign worklists of their cohorts to radiologists")]

    def __str__(self) -> str:
        return self.name


class WorklistItem(models.Model):
    worklist = models.ForeignKey(Worklist, on_delete=models.CASCADE, related_name="items")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="worklist_items")
    result = models.ForeignKey(DetectionResult, on_delete=models.PROTECT, related_name="worklist_items")
    # Copied from the result.
    fused_score = models.FloatField()
    # The reading order (1, 2, ...): most anomalous first, or shuffled in a blinded worklist;
    # fixed when the worklist is built, so next / previous are an index scan at 10k items.
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["worklist", "study"], name="worklist_item_unique_study")
        ]
        indexes = [models.Index(fields=["worklist", "position", "id"], name="worklist_item_order_idx")]

    def __str__(self) -> str:
        return f"item {self.pk} of worklist {self.worklist_id}: study {self.study_id}"


class WorklistAssignment(models.Model):
    worklist = models.ForeignKey(Worklist, on_delete=models.CASCADE, related_name="assignments")
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="worklist_assignments"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["assigned_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["worklist", "reader"], name="worklist_assignment_unique_reader")
        ]

    def __str__(self) -> str:
        return f"{self.reader} reads {self.worklist}"


class ItemStatus(models.TextChoices):
    UNREAD = "unread", "Unread"
    IN_PROGRESS = "in_progress", "In progress"
    READ = "read", "Read"


class ItemProgress(models.Model):
    """One reader's progress on one item; no row means unread."""

    item = models.ForeignKey(WorklistItem, on_delete=models.CASCADE, related_name="progress")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.IN_PROGRESS)
    first_opened_at = models.DateTimeField(default=timezone.now)
    # The server's reading time runs from the latest opening to the submission.
    last_opened_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "reader"], name="item_progress_unique_reader"),
            models.CheckConstraint(
                condition=Q(status__in=["in_progress", "read"]), name="item_progress_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["reader", "status"], name="item_progress_reader_idx")]

    def __str__(self) -> str:
        return f"{self.reader} on item {self.item_id}: {self.status}"


class Verdict(models.TextChoices):
    NORMAL = "normal", "Normal"
    ABNORMAL = "abnormal", "Abnormal"
    UNCERTAIN = "uncertain", "Uncertain"


class OperatingPoint(models.TextChoices):
    BALANCED = "balanced", "Balanced"
    HIGH_SENSITIVITY = "high_sensitivity", "High sensitivity"
    HIGH_SPECIFICITY = "high_specificity", "High specificity"
    CUSTOM = "custom", "Custom threshold"


class Read(models.Model):
    """One radiologist's read of one worklist item, with what the AI showed them at the time
    (or, for a blinded read, what it would have shown)."""

    item = models.ForeignKey(WorklistItem, on_delete=models.CASCADE, related_name="reads")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reads")
    version = models.PositiveIntegerField(default=1)  # 2, 3, ... are amendments
    is_current = models.BooleanField(default=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    amend_reason = models.TextField(blank=True)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    # [{"center_lps_mm": [x, y, z], "diameter_mm": float | None, "comment": str}]
    lesion_marks = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    reading_seconds = models.FloatField()  # as the reader's client measured it
    server_seconds = models.FloatField(null=True, blank=True)  # latest opening -> submission
    # What the AI showed: the result, its model version and fused score, and the operating point.
    result = models.ForeignKey(DetectionResult, on_delete=models.PROTECT, related_name="reads")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="reads")
    fused_score = models.FloatField()
    operating_point = models.CharField(max_length=24, choices=OperatingPoint.choices)
    threshold = models.FloatField(null=True, blank=True)
    calibration = models.ForeignKey(
        Calibration, null=True, blank=True, on_delete=models.SET_NULL, related_name="reads"
    )
    ai_call = models.CharField(max_length=16, blank=True)  # positive / negative at that threshold
    # Made without seeing the AI (the first read of an item of a blinded worklist).
    blinded = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "reader", "version"], name="read_unique_version"),
            # One read per item and reader counts; earlier versions stay as history.
            models.UniqueConstraint(
                fields=["item", "reader"], condition=Q(is_current=True), name="read_one_current_per_reader"
            ),
            models.CheckConstraint(condition=Q(reading_seconds__gte=0), name="read_seconds_not_negative"),
        ]
        permissions = [("review_agreement", "Can review AI-versus-reader agreement across cohorts")]

    def __str__(self) -> str:
        return f"read v{self.version} of item {self.item_id} by {self.reader}: {self.verdict}"
