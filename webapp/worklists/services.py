"""Worklist actions: build a worklist, assign it, open (start) an item (recording a read:
reads.py).

Each takes the acting user, checks role and object access itself (views only translate), runs
in one transaction and writes its audit row inside it. Opening an item shows a patient's images
and scores, so it is audited like every other view of patient data.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webapp.accounts import roles
from webapp.accounts.services import audit, user_role
from webapp.cohorts.models import Cohort, CohortMember, CohortStudy
from webapp.cohorts.selectors import visible_cohorts
from webapp.core.errors import require
from webapp.detection.models import DetectionResult, ModelVersion
from webapp.detection.selectors import active_model_version
from webapp.worklists.models import (
    ItemProgress,
    ItemStatus,
    Worklist,
    WorklistAssignment,
    WorklistItem,
)
from webapp.worklists.selectors import triage_order, visible_items, visible_worklists, with_my_status


# --- build and assign ----------------------------------------------------------------------------
def build_worklist(
    acting_user: AbstractBaseUser,
    cohort: Cohort,
    *,
    name: str,
    study_ids: Sequence[int] | None = None,
    model_version: ModelVersion | None = None,
    readers: Sequence[str] = (),
    blinded: bool | None = None,
) -> Worklist:
    """A worklist of the cohort's studies that have a finished result of the model version (the
    active one by default): all of them, or the chosen ``study_ids``; assigned to ``readers``
    (usernames) in the same transaction when given. Blinded (the AI hidden until each read,
    items shuffled) by default for screening cohorts."""
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
    rows = sorted(results.values_list("pk", "study_id", "fused_score"), key=lambda r: (-r[2], r[0]))
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
    if blinded is None:
        blinded = cohort.purpose == Cohort.Purpose.SCREENING
    if blinded:
        secrets.SystemRandom().shuffle(rows)  # the reading order must not follow the score
    with transaction.atomic():
        worklist = Worklist.objects.create(
            name=name, cohort=cohort, model_version=version, created_by=acting_user, blinded=blinded
        )
        WorklistItem.objects.bulk_create(
            [
                WorklistItem(
                    worklist=worklist, study_id=study_id, result_id=result_id, fused_score=score, position=n
                )
                for n, (result_id, study_id, score) in enumerate(rows, start=1)
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
                "blinded": blinded,
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
def assigned_item(acting_user: AbstractBaseUser, item_id: int) -> WorklistItem:
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
        item = assigned_item(acting_user, item_id)
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
    """The items before and after this one in its worklist's reading order."""
    same = WorklistItem.objects.filter(worklist_id=item.worklist_id)
    before = Q(position__lt=item.position) | Q(position=item.position, id__lt=item.pk)
    after = Q(position__gt=item.position) | Q(position=item.position, id__gt=item.pk)
    previous = same.filter(before).order_by("-position", "-id").values_list("pk", flat=True).first()
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
