"""Admin review: how often the AI and the readers agree.

The AI's call on a study is positive when the read's fused score is at or above the balanced
operating point of the newest finished calibration of the read's model version (the same
threshold result pages show). A reader's verdict abnormal is positive, normal negative;
uncertain reads and reads of uncalibrated model versions are counted but left out of the
agreement figures. Only current reads count (an amended read replaces its earlier version).
Blinded reads (made without the AI in view) and reads made with it are counted apart: only the
blinded ones measure the reader independently of the AI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction

from webapp.accounts.services import audit
from webapp.detection.models import Calibration, ModelVersion
from webapp.detection.points import OperatingPoint
from webapp.detection.selectors import latest_calibration
from webapp.worklists.models import Read, Verdict

POINT = "balanced"


def cohens_kappa(both_pos: int, ai_only: int, reader_only: int, both_neg: int) -> float | None:
    """Cohen's kappa of a 2x2 table; None when chance agreement is 1 (one class only)."""
    n = both_pos + ai_only + reader_only + both_neg
    if n == 0:
        return None
    observed = (both_pos + both_neg) / n
    ai_pos, reader_pos = both_pos + ai_only, both_pos + reader_only
    expected = (ai_pos * reader_pos + (n - ai_pos) * (n - reader_pos)) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


@dataclass
class AgreementRow:
    model_version_id: int
    model_version: str
    cohort_id: int
    cohort: str
    calibration_id: int | None
    threshold: float | None
    blinded: bool = False  # the reads were made without the AI in view
    reads: int = 0
    both_positive: int = 0
    ai_only: int = 0  # AI positive, reader normal
    reader_only: int = 0  # AI negative, reader abnormal
    both_negative: int = 0
    uncertain: int = 0
    uncalibrated: int = 0

    @property
    def compared(self) -> int:
        return self.both_positive + self.ai_only + self.reader_only + self.both_negative

    @property
    def percent_agreement(self) -> float | None:
        if not self.compared:
            return None
        return 100.0 * (self.both_positive + self.both_negative) / self.compared

    @property
    def kappa(self) -> float | None:
        return cohens_kappa(self.both_positive, self.ai_only, self.reader_only, self.both_negative)


@dataclass
class Disagreement:
    read_id: int
    study_id: int
    patient_id: str
    study_instance_uid: str
    worklist_id: int
    item_id: int
    reader: str
    verdict: str
    fused_score: float
    threshold: float
    ai_call: str
    model_version: str
    cohort: str
    read_at: datetime
    blinded: bool


@dataclass
class Review:
    rows: list[AgreementRow] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    operating_point: str = POINT


def _balanced_points(version_ids: set[int]) -> dict[int, tuple[Calibration | None, OperatingPoint | None]]:
    out: dict[int, tuple[Calibration | None, OperatingPoint | None]] = {}
    for version in ModelVersion.objects.filter(pk__in=version_ids):
        calibration = latest_calibration(version)
        out[version.pk] = (calibration, calibration.point(POINT) if calibration else None)
    return out


def agreement(
    acting_user: AbstractBaseUser,
    *,
    model_version_id: int | None = None,
    cohort_id: int | None = None,
    max_disagreements: int = 500,
) -> Review:
    """The agreement table per model version and cohort, and the reads where AI and reader
    disagree (most anomalous first). Audited: the disagreements name patients."""
    if not acting_user.has_perm("worklists.review_agreement"):
        raise PermissionDenied("only admins review AI-versus-reader agreement")
    reads = Read.objects.filter(is_current=True).select_related(
        "model_version", "item__worklist__cohort", "item__study__patient", "reader"
    )
    if model_version_id is not None:
        reads = reads.filter(model_version_id=model_version_id)
    if cohort_id is not None:
        reads = reads.filter(item__worklist__cohort_id=cohort_id)
    reads = list(reads.order_by("-fused_score", "id"))
    points = _balanced_points({r.model_version_id for r in reads})
    rows: dict[tuple[int, int, bool], AgreementRow] = {}
    review = Review()
    for read in reads:
        cohort = read.item.worklist.cohort
        calibration, point = points[read.model_version_id]
        threshold = point.threshold if point else None
        key = (read.model_version_id, cohort.pk, read.blinded)
        row = rows.get(key)
        if row is None:
            row = rows[key] = AgreementRow(
                read.model_version_id,
                read.model_version.name,
                cohort.pk,
                cohort.name,
                calibration.pk if calibration else None,
                threshold,
                read.blinded,
            )
        row.reads += 1
        if threshold is None:
            row.uncalibrated += 1
            continue
        if read.verdict == Verdict.UNCERTAIN:
            row.uncertain += 1
            continue
        ai_positive = point.is_positive(read.fused_score)
        reader_positive = read.verdict == Verdict.ABNORMAL
        if ai_positive and reader_positive:
            row.both_positive += 1
        elif not ai_positive and not reader_positive:
            row.both_negative += 1
        else:
            if ai_positive:
                row.ai_only += 1
            else:
                row.reader_only += 1
            if len(review.disagreements) < max_disagreements:
                review.disagreements.append(
                    Disagreement(
                        read.pk,
                        read.item.study_id,
                        read.item.study.patient.patient_id,
                        read.item.study.study_instance_uid,
                        read.item.worklist_id,
                        read.item_id,
                        read.reader.get_username(),
                        read.verdict,
                        read.fused_score,
                        threshold,
                        "positive" if ai_positive else "negative",
                        read.model_version.name,
                        cohort.name,
                        read.created_at,
                        read.blinded,
                    )
                )
    review.rows = sorted(rows.values(), key=lambda r: (r.model_version, r.cohort, not r.blinded))
    with transaction.atomic():
        audit(
            acting_user,
            "review.agreement_viewed",
            object_type="worklists.read",
            details={
                "model_version": model_version_id,
                "cohort": cohort_id,
                "reads": len(reads),
                "disagreement_study_ids": [d.study_id for d in review.disagreements][:1000],
            },
        )
    return review
