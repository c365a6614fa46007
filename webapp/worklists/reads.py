"""Recording a read: the verdict, lesion marks checked against the study's CT, the operating point
the reader worked at (and the AI's call there). Audited.

Reads are one per item and reader. A second read of the same item is refused (409) unless it
says why it amends the first (``amend_reason``): then it becomes version 2, the first stays
stored as superseded, and only the current version counts in the agreement review.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.accounts.services import audit
from webapp.core.errors import Conflict, require
from webapp.detection.models import Calibration, DetectionResult
from webapp.detection.points import OperatingPoint as AiPoint
from webapp.detection.selectors import latest_calibration
from webapp.worklists.models import (
    ItemProgress,
    ItemStatus,
    OperatingPoint,
    Read,
    Verdict,
)
from webapp.worklists.services import assigned_item
from webapp.worklists.signals import read_recorded

# Limits of a read; anything past them is a client bug or a typo, not a reading.
MAX_READING_SECONDS = 12 * 3600
MAX_MARKS = 50
MAX_DIAMETER_MM = 300.0
MAX_COMMENT_CHARS = 5000
MAX_MARK_COMMENT_CHARS = 500
# How far outside the scanned volume a mark may lie (a click on the edge of the last slice).
MARK_MARGIN_MM = 5.0
# Without a CT grid to check against, a mark is refused past this distance from the origin.
MAX_ABS_COORDINATE_MM = 2000.0


def _ct_bounds_lps_mm(grid: dict[str, Any]) -> tuple[list[float], list[float]] | None:
    """The scanned volume's bounding box in LPS mm, from the result's CT grid (None if unknown)."""
    try:
        shape = [int(n) for n in grid["shape_zyx"]]
        spacing = [float(s) for s in grid["spacing_zyx_mm"]]
        origin = [float(o) for o in grid["origin_lps_mm"]]
        axes = [[float(v) for v in row] for row in grid["direction_zyx"]]
    except (KeyError, TypeError, ValueError):
        return None
    corners = []
    for iz in (0, shape[0] - 1):
        for iy in (0, shape[1] - 1):
            for ix in (0, shape[2] - 1):
                index = (iz, iy, ix)
                corners.append(
                    [origin[d] + sum(index[k] * spacing[k] * axes[k][d] for k in range(3)) for d in range(3)]
                )
    low = [min(c[d] for c in corners) - MARK_MARGIN_MM for d in range(3)]
    high = [max(c[d] for c in corners) + MARK_MARGIN_MM for d in range(3)]
    return low, high


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def clean_lesion_marks(marks: Any, grid: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate lesion marks: LPS mm points inside the scanned volume, optional diameter and comment."""
    if marks is None:
        return []
    if not isinstance(marks, list):
        raise ValidationError({"lesion_marks": "a list of {center_lps_mm: [x, y, z], diameter_mm, comment}"})
    if len(marks) > MAX_MARKS:
        raise ValidationError({"lesion_marks": f"at most {MAX_MARKS} marks per read"})
    bounds = _ct_bounds_lps_mm(grid)
    clean, problems = [], []
    for n, mark in enumerate(marks, start=1):
        if not isinstance(mark, dict):
            problems.append(f"mark {n}: an object with center_lps_mm")
            continue
        center = mark.get("center_lps_mm")
        point = [_finite_number(v) for v in center] if isinstance(center, list) and len(center) == 3 else None
        if point is None or any(v is None for v in point):
            problems.append(f"mark {n}: center_lps_mm must be three finite numbers [x, y, z] in mm (LPS)")
            continue
        if bounds is not None:
            low, high = bounds
            outside = [
                f"{axis}={v:.1f} not in [{lo:.1f}, {hi:.1f}]"
                for axis, v, lo, hi in zip("xyz", point, low, high)
                if not lo <= v <= hi
            ]
            if outside:
                problems.append(f"mark {n}: outside the scanned volume ({', '.join(outside)} mm, LPS)")
                continue
        elif any(abs(v) > MAX_ABS_COORDINATE_MM for v in point):
            problems.append(f"mark {n}: coordinates beyond ±{MAX_ABS_COORDINATE_MM:.0f} mm")
            continue
        diameter = mark.get("diameter_mm")
        if diameter is not None:
            diameter = _finite_number(diameter)
            if diameter is None or not 0 < diameter <= MAX_DIAMETER_MM:
                problems.append(f"mark {n}: diameter_mm must be a number in (0, {MAX_DIAMETER_MM:.0f}]")
                continue
        comment = mark.get("comment", "") or ""
        if not isinstance(comment, str) or len(comment) > MAX_MARK_COMMENT_CHARS:
            problems.append(f"mark {n}: comment must be text of at most {MAX_MARK_COMMENT_CHARS} characters")
            continue
        clean.append({"center_lps_mm": point, "diameter_mm": diameter, "comment": comment.strip()})
    if problems:
        raise ValidationError({"lesion_marks": problems})
    return clean


def _operating_point(
    result: DetectionResult, name: str, threshold: float | None
) -> tuple[AiPoint | None, Calibration | None]:
    """The threshold behind the reader's operating point: a named one comes from the newest
    calibration of the result's model version; a custom one is the reader's own number."""
    if name not in OperatingPoint.values:
        raise ValidationError({"operating_point": f"one of {', '.join(OperatingPoint.values)}"})
    if threshold is not None and _finite_number(threshold) is None:
        raise ValidationError({"threshold": "a finite number (a fused-score threshold)"})
    calibration = latest_calibration(result.model_version)
    if name == OperatingPoint.CUSTOM:
        if threshold is None:
            raise ValidationError({"threshold": "a custom operating point needs its threshold"})
        return AiPoint.custom(float(threshold)), calibration
    if calibration is None:
        if threshold is not None:
            raise ValidationError(
                {
                    "threshold": f"model {result.model_version.name!r} has no calibration, so "
                    f"{name} has no threshold: send operating_point=custom with yours"
                }
            )
        return None, None
    point = calibration.point(name)
    calibrated = point.threshold if point else None
    if threshold is not None and (
        calibrated is None or not math.isclose(threshold, calibrated, rel_tol=1e-9)
    ):
        raise ValidationError(
            {
                "threshold": f"{threshold} is not the {name} threshold of calibration {calibration.pk} "
                f"({calibrated}); send operating_point=custom to read at your own threshold"
            }
        )
    return point, calibration


def record_read(
    acting_user: AbstractBaseUser,
    item_id: int,
    *,
    verdict: str,
    reading_seconds: float,
    operating_point: str,
    lesion_marks: list[dict[str, Any]] | None = None,
    comment: str = "",
    threshold: float | None = None,
    result_id: int | None = None,
    amend_reason: str = "",
) -> Read:
    """Record the reader's read of an item: verdict, lesion marks (LPS mm), comment, reading time,
    and what the AI showed (result, model version, fused score, operating point)."""
    require(acting_user, "worklists.add_read", "read worklist items")
    if verdict not in Verdict.values:
        raise ValidationError({"verdict": f"one of {', '.join(Verdict.values)}"})
    seconds = _finite_number(reading_seconds)
    if seconds is None or not 0 <= seconds <= MAX_READING_SECONDS:
        raise ValidationError(
            {"reading_seconds": f"the reading time in seconds, from 0 to {MAX_READING_SECONDS}"}
        )
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise ValidationError({"comment": f"at most {MAX_COMMENT_CHARS} characters"})
    amend_reason = (amend_reason or "").strip()
    item = assigned_item(acting_user, item_id)
    result = item.result
    if result_id is not None and result_id != result.pk:
        # The viewer may have shown another result of this study (say, a newer model's).
        try:
            result = DetectionResult.objects.select_related("model_version").get(
                pk=result_id, study_id=item.study_id
            )
        except DetectionResult.DoesNotExist:
            raise ValidationError({"result": f"result {result_id} is not a result of this study"}) from None
    marks = clean_lesion_marks(lesion_marks, result.grid)
    if verdict == Verdict.NORMAL and marks:
        raise ValidationError(
            {"lesion_marks": "a normal read has no lesion marks: remove them or choose abnormal or uncertain"}
        )
    point, calibration = _operating_point(result, operating_point, threshold)
    point_threshold = point.threshold if point else None
    ai_call = point.call(result.fused_score) if point else ""
    try:
        with transaction.atomic():
            now = timezone.now()
            progress = ItemProgress.objects.select_for_update().filter(item=item, reader=acting_user).first()
            current = Read.objects.filter(item=item, reader=acting_user, is_current=True).first()
            if current is not None and not amend_reason:
                raise Conflict(
                    f"you read this item already (verdict {current.verdict}, {current.created_at:%Y-%m-%d %H:%M} "
                    "UTC); to correct it, send the read again with amend_reason"
                )
            if current is None and amend_reason:
                raise ValidationError({"amend_reason": "there is no read of yours to amend on this item"})
            if current is not None:
                current.is_current = False
                current.save(update_fields=["is_current"])
            read = Read.objects.create(
                item=item,
                reader=acting_user,
                version=current.version + 1 if current else 1,
                supersedes=current,
                amend_reason=amend_reason,
                verdict=verdict,
                lesion_marks=marks,
                comment=comment,
                reading_seconds=seconds,
                server_seconds=(now - progress.last_opened_at).total_seconds() if progress else None,
                result=result,
                model_version=result.model_version,
                fused_score=result.fused_score,
                operating_point=operating_point,
                threshold=point_threshold,
                calibration=calibration,
                ai_call=ai_call,
                # a first read in a blinded worklist was made without the AI in view
                blinded=item.worklist.blinded and current is None,
                created_at=now,
            )
            if progress is None:
                progress = ItemProgress(
                    item=item, reader=acting_user, first_opened_at=now, last_opened_at=now
                )
            progress.status = ItemStatus.READ
            progress.read_at = now
            progress.save()
            audit(
                acting_user,
                "worklist_item.read" if current is None else "worklist_item.read_amended",
                item,
                details={
                    "read": read.pk,
                    "version": read.version,
                    "study_id": item.study_id,
                    "verdict": verdict,
                    "marks": len(marks),
                    "reading_seconds": seconds,
                    "server_seconds": read.server_seconds,
                    "model_version": result.model_version.name,
                    "fused_score": result.fused_score,
                    "operating_point": operating_point,
                    "threshold": point_threshold,
                    "blinded": read.blinded,
                    **({"amend_reason": amend_reason} if amend_reason else {}),
                },
            )
            read_recorded.send(sender=Read, read_id=read.pk)
    except IntegrityError:
        # Two submissions of one read raced; the database kept the first.
        raise Conflict("this item was just read by you in another request; reload it") from None
    return read
