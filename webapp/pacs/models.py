"""DICOM peers (PACS, scanners) and what crossed the network with them.

A ``DicomNode`` is one peer, as Orthanc calls a "modality": its AE title, host and port (and a
DICOMweb URL, when it has one). What it may do is on the row: push studies into a cohort
(``cohort``), receive our results (``send_results``), be pulled from (any enabled node).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from webapp.cohorts.models import Cohort
from webapp.detection.models import DetectionResult
from webapp.studies.models import Study
from webapp.worklists.models import Read

# PS3.5 AE title: 1-16 characters of the default repertoire, no backslash, no control characters;
# leading and trailing spaces are not significant.
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


def validate_ae_title(value: str) -> None:
    if not _AE_TITLE.match(value) or not value.strip():
        raise ValidationError(
            f"{value!r} is not an AE title: 1 to 16 printable ASCII characters, no backslash"
        )


class DicomNode(models.Model):
    name = models.SlugField(max_length=64, unique=True, help_text="a short name for this peer")
    ae_title = models.CharField(max_length=16, validators=[validate_ae_title], help_text="its AE title")
    host = models.CharField(max_length=255, blank=True, help_text="where it listens for DICOM")
    port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    dicomweb_url = models.URLField(
        blank=True, help_text="its DICOMweb root (QIDO/WADO/STOW), e.g. http://pacs:8042/dicom-web"
    )
    cohort = models.ForeignKey(
        Cohort,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dicom_nodes",
        help_text="studies this peer pushes to us go into this cohort; empty: it may not push",
    )
    send_results = models.BooleanField(
        default=False, help_text="send every detection result to this peer as SEG, Parametric Map and SR"
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = "DICOM node"
        constraints = [
            # One calling AE title names one cohort: the receiver must know where a push goes.
            models.UniqueConstraint(
                fields=["ae_title"],
                condition=models.Q(cohort__isnull=False, enabled=True),
                name="pacs_one_pushing_node_per_ae_title",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ae_title.strip()})"

    @property
    def has_dimse(self) -> bool:
        return bool(self.host and self.port)


class ReceivedStudy(models.Model):
    """A study that arrived over C-STORE, until detection is queued for it: complete is decided
    by silence (no instance for ``DICOM_QUIET_SECONDS``), as no DICOM message says "done"."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="+")
    calling_ae = models.CharField(max_length=16)
    instances = models.PositiveIntegerField(default=0)
    first_received_at = models.DateTimeField(default=timezone.now)
    last_received_at = models.DateTimeField(default=timezone.now, db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "cohort"], name="pacs_received_study_unique")]
        verbose_name_plural = "received studies"


class StoredObject(models.Model):
    """A DICOM file FusionScreen made, stored under MEDIA_ROOT."""

    sop_instance_uid = models.CharField(max_length=64, unique=True)
    series_instance_uid = models.CharField(max_length=64)
    file = models.CharField(max_length=400)  # relative to MEDIA_ROOT
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class ResultObject(StoredObject):
    """A DICOM object made from a detection result (a Parametric Map per map, the findings'
    SEG, the SR)."""

    class Kind(models.TextChoices):
        REPORT = "sr", "Measurement report (Comprehensive 3D SR)"
        SEGMENTATION = "seg", "Findings (Segmentation)"
        FUSED_MAP = "pm-fused", "Fused anomaly map (Parametric Map)"
        GLOBAL_MAP = "pm-global", "Global-branch anomaly map (Parametric Map)"
        LOCAL_MAP = "pm-local", "Local-branch anomaly map (Parametric Map)"

    result = models.ForeignKey(DetectionResult, on_delete=models.CASCADE, related_name="dicom_objects")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    sop_class_uid = models.CharField(max_length=64)

    class Meta:
        ordering = ["result", "kind"]
        constraints = [models.UniqueConstraint(fields=["result", "kind"], name="pacs_one_object_per_kind")]
        permissions = [("send_results", "Can send results to a DICOM node")]


class ReadReport(StoredObject):
    """A radiologist's read as a DICOM SR (read_reports.py), made when the read is recorded."""

    read = models.OneToOneField(Read, on_delete=models.CASCADE, related_name="dicom_report")


class Delivery(models.Model):
    """Sending a result's DICOM objects (or, with ``read``, a read's report) to one node:
    automatic (``send_results``) or asked for."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    result = models.ForeignKey(DetectionResult, on_delete=models.CASCADE, related_name="deliveries")
    read = models.ForeignKey(Read, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey(DicomNode, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    via = models.CharField(max_length=16, blank=True)  # "c-store" or "stow-rs"
    detail = models.TextField(blank=True)  # per object: what the node answered
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"


class Retrieval(models.Model):
    """An admin's pull of one study from a node into a cohort: C-MOVE to our own receiver when
    the node has a DICOM address (the receiver files what arrives under this row's cohort), else
    WADO-RS from its DICOMweb root."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    node = models.ForeignKey(DicomNode, on_delete=models.CASCADE, related_name="retrievals")
    study_instance_uid = models.CharField(max_length=64, db_index=True)
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    via = models.CharField(max_length=16, blank=True)  # "c-move" or "wado-rs"
    instances = models.PositiveIntegerField(default=0)  # received (C-MOVE: the node's count)
    detail = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("retrieve_studies", "Can pull studies from a DICOM node into a cohort")]
