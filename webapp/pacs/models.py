"""DICOM peers (PACS, scanners) and what crossed the network with them.

A ``DicomNode`` is one peer, as Orthanc calls a "modality": its AE title, host and port (and a
DICOMweb URL, when it has one). What it may do is on the row: push studies into a cohort
(``cohort``), receive our results (``send_results``), be pulled from (any enabled node).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from webapp.cohorts.models import Cohort
from webapp.studies.models import Study

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
