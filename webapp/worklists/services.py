"""Worklist actions: build a worklist, assign it, open (start) an item, record a read.

Each takes the acting user, checks role and object access itself (views only translate), runs
in one transaction and writes its audit row inside it. Opening and reading an item show a
patient's images and scores, so they are audited like every other view of patient data.

Reads are one per item and reader. A second read of the same item is refused (409) unless it
says why it amends the first (``amend_reason``): then it becomes version 2, the first stays
stored as superseded, and only the current version counts in the agreement review.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from webapp.accounts import roles
from webapp.accounts.services import audit, user_role
from webapp.cohorts.models import Cohort, CohortMember, CohortStudy
from webapp.cohorts.selectors import visible_cohorts
from webapp.core.errors import Conflict, require
from webapp.detection.models import Calibration, DetectionResult, ModelVersion
from webapp.detection.points import OperatingPoint as AiPoint
from webapp.detection.selectors import active_model_version, latest_calibration
from webapp.worklists.models import (
    ItemProgress,
    ItemStatus,
    OperatingPoint,
    Read,
    Verdict,
    Worklist,
    WorklistAssignment,
    WorklistItem,
)
from webapp.worklists.selectors import triage_order, visible_items, visible_worklists, with_my_status

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


# --- build and assign ----------------------------------------------------------------------------
def build_worklist(
    acting_user: AbstractBaseUser,
    cohort: Cohort,
    *,
    name: str,
    study_ids: Sequence[int] | None = None,
    model_version: ModelVersion | None = None,
    readers: Sequence[str] = (),
) -> Worklist:
    """A worklist of the cohort's studies that have a finished result of the model version (the
    active one by default): all of them, or the chosen ``study_ids``; assigned to ``readers``
    (usernames) in the same transaction when given."""
    require(acting_user, "worklists.add_worklist", "build worklists")
    if not visible_cohorts(acting_user).filter(pk=cohort.pk).exists():
        raise Cohort.DoesNotExist
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "a worklist needs a name"})
    if len(name) > 200:
        raise ValidationError({"name": "at most 200 characters"})
    version = model_version or active_model_version()
    if version is None:
        raise ValidationError(
            {"model_version": "no model version is active: an admin must activate one before worklists"}
        )
    results = DetectionResult.objects.filter(study__cohort_links__cohort=cohort, model_version=version)
    if study_ids is not None:
        wanted = set(study_ids)
        if not wanted:
            raise ValidationError({"study_ids": "choose at least one study, or leave study_ids out for all"})
        in_cohort = set(
            CohortStudy.objects.filter(cohort=cohort, study_id__in=wanted).values_list("study_id", flat=True)
        )
        if wanted - in_cohort:
            missing = ", ".join(str(i) for i in sorted(wanted - in_cohort)[:10])
            raise ValidationError({"study_ids": f"not studies of cohort {cohort.name!r}: {missing}"})
        results = results.filter(study_id__in=wanted)
        with_result = set(results.values_list("study_id", flat=True))
        if wanted - with_result:
            missing = ", ".join(str(i) for i in sorted(wanted - with_result)[:10])
            raise ValidationError(
                {
                    "study_ids": f"no finished detection result of model {version.name!r} yet for studies "
                    f"{missing}: wait for their jobs or leave them out"
                }
            )
    rows = list(results.values_list("pk", "study_id", "fused_score"))
    if not rows:
        raise ValidationError(
            {
                "cohort": f"no study of cohort {cohort.name!r} has a finished detection result of model "
                f"{version.name!r} yet: run detection and wait for its jobs"
            }
        )
    if readers:
        require(acting_user, "worklists.assign_worklist", "assign worklists")
        reader_users = _readers(cohort, readers)
    with transaction.atomic():
        worklist = Worklist.objects.create(
            name=name, cohort=cohort, model_version=version, created_by=acting_user
        )
        WorklistItem.objects.bulk_create(
            [
                WorklistItem(worklist=worklist, study_id=study_id, result_id=result_id, fused_score=score)
                for result_id, study_id, score in rows
            ],
            batch_size=1000,
        )
        audit(
            acting_user,
            "worklist.built",
            worklist,
            details={
                "name": name,
                "cohort": cohort.pk,
                "model_version": version.name,
                "items": len(rows),
                "chosen": study_ids is not None,
            },
        )
        if readers:
            _assign(acting_user, worklist, reader_users)
    return worklist


def _readers(worklist_cohort: Cohort, usernames: Iterable[str]) -> list[AbstractBaseUser]:
    """The named users, if each is an active radiologist and a member of the cohort."""
    names = sorted({u.strip() for u in usernames if u and u.strip()})
    if not names:
        raise ValidationError({"readers": "name at least one radiologist"})
    users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=names, is_active=True)}
    members = set(
        CohortMember.objects.filter(cohort=worklist_cohort, user__in=users.values()).values_list(
            "user__username", flat=True
        )
    )
    problems = []
    for username in names:
        user = users.get(username)
        if user is None:
            problems.append(f"{username}: no active user of that name")
        elif user_role(user) != roles.RADIOLOGIST:
            problems.append(f"{username}: not a radiologist")
        elif username not in members:
            problems.append(f"{username}: not a member of cohort {worklist_cohort.name!r}; add them first")
    if problems:
        raise ValidationError({"readers": problems})
    return [users[name] for name in names]


def _assign(acting_user: AbstractBaseUser, worklist: Worklist, readers: list[AbstractBaseUser]) -> None:
    added = []
    for reader in readers:
        _, created = WorklistAssignment.objects.get_or_create(
            worklist=worklist, reader=reader, defaults={"assigned_by": acting_user}
        )
        if created:
            added.append(reader.get_username())
    if added:
        audit(acting_user, "worklist.assigned", worklist, details={"readers": added})


def assign_worklist(
    acting_user: AbstractBaseUser, worklist: Worklist, usernames: Iterable[str]
) -> list[WorklistAssignment]:
    """Assign the worklist to radiologists who are members of its cohort (already assigned ones
    are kept). Returns every assignment of the worklist."""
    require(acting_user, "worklists.assign_worklist", "assign worklists")
    if not visible_worklists(acting_user).filter(pk=worklist.pk).exists():
        raise Worklist.DoesNotExist
    readers = _readers(worklist.cohort, usernames)
    with transaction.atomic():
        _assign(acting_user, worklist, readers)
    return list(worklist.assignments.select_related("reader"))


# --- items ----------------------------------------------------------------------------------------
def _assigned_item(acting_user: AbstractBaseUser, item_id: int) -> WorklistItem:
    """The item if the user may see it, and only if it is theirs to read (403 otherwise)."""
    items = visible_items(acting_user).select_related("worklist", "study__patient", "result__model_version")
    item = items.get(pk=item_id)
    if not WorklistAssignment.objects.filter(worklist=item.worklist_id, reader=acting_user).exists():
        raise PermissionDenied(
            "this item is not assigned to you: only the radiologists a worklist is assigned to read it"
        )
    return item


def view_item(acting_user: AbstractBaseUser, item_id: int) -> WorklistItem:
    """An item the user may see (WorklistItem.DoesNotExist otherwise), audited as a view."""
    with transaction.atomic():
        item = (
            with_my_status(visible_items(acting_user), acting_user)
            .select_related("worklist__cohort", "study__patient", "result__model_version")
            .get(pk=item_id)
        )
        audit(
            acting_user,
            "worklist_item.viewed",
            item,
            details={"study_id": item.study_id, "patient_id": item.study.patient.patient_id},
        )
    return item


def start_item(acting_user: AbstractBaseUser, item_id: int) -> ItemProgress:
    """The reader opens an item: unread becomes in progress, and the server's reading clock
    starts (again, when reopened). A read item stays read."""
    require(acting_user, "worklists.add_read", "read worklist items")
    with transaction.atomic():
        item = _assigned_item(acting_user, item_id)
        now = timezone.now()
        progress, created = ItemProgress.objects.select_for_update().get_or_create(
            item=item, reader=acting_user, defaults={"first_opened_at": now, "last_opened_at": now}
        )
        if not created:
            progress.last_opened_at = now
            progress.save(update_fields=["last_opened_at"])
        audit(
            acting_user,
            "worklist_item.started",
            item,
            details={
                "study_id": item.study_id,
                "patient_id": item.study.patient.patient_id,
                "status": progress.status,
            },
        )
    return progress


@dataclass(frozen=True)
class Neighbours:
    previous: int | None
    next: int | None
    next_unread: int | None  # for this reader: the first item in triage order not read yet


def neighbours(item: WorklistItem, user: AbstractBaseUser | None) -> Neighbours:
    """The items before and after this one in its worklist's triage order."""
    same = WorklistItem.objects.filter(worklist_id=item.worklist_id)
    before = Q(fused_score__gt=item.fused_score) | Q(fused_score=item.fused_score, id__lt=item.pk)
    after = Q(fused_score__lt=item.fused_score) | Q(fused_score=item.fused_score, id__gt=item.pk)
    previous = same.filter(before).order_by("fused_score", "-id").values_list("pk", flat=True).first()
    following = triage_order(same.filter(after)).values_list("pk", flat=True).first()
    unread = (
        triage_order(with_my_status(same.exclude(pk=item.pk), user).exclude(my_status=ItemStatus.READ))
        .values_list("pk", flat=True)
        .first()
    )
    return Neighbours(previous, following, unread)


def record_items_list_view(acting_user: AbstractBaseUser, worklist: Worklist, study_ids: list[int]) -> None:
    """Audit one page of a worklist's items: patient identifiers and scores were shown."""
    with transaction.atomic():
        audit(acting_user, "worklist.items_listed", worklist, details={"study_ids": study_ids[:1000]})


# --- reads ------------------------------------------------------------------------------------------
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
    item = _assigned_item(acting_user, item_id)
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
                    **({"amend_reason": amend_reason} if amend_reason else {}),
                },
            )
    except IntegrityError:
        # Two submissions of one read raced; the database kept the first.
        raise Conflict("this item was just read by you in another request; reload it") from None
    return read
