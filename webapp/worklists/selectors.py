"""Who sees which worklists and items.

Admins see every worklist; coordinators those of the cohorts they are members of; radiologists
only the worklists assigned to them, in cohorts they are still members of.
"""

from __future__ import annotations

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from webapp.cohorts.selectors import UserLike, sees_all_cohorts, visible_cohorts
from webapp.core.queries import count_of
from webapp.worklists.models import ItemProgress, ItemStatus, Read, Worklist, WorklistAssignment, WorklistItem


def _has(user: UserLike, perm: str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(perm))


def manages_worklists(user: UserLike) -> bool:
    """Coordinators and admins build and assign; they see the worklists of their cohorts."""
    return _has(user, "worklists.assign_worklist")


def visible_worklists(user: UserLike) -> QuerySet[Worklist]:
    if not _has(user, "worklists.view_worklist"):
        return Worklist.objects.none()
    if sees_all_cohorts(user):
        return Worklist.objects.all()
    in_my_cohorts = Worklist.objects.filter(cohort__in=visible_cohorts(user).values("pk"))
    if manages_worklists(user):
        return in_my_cohorts
    return in_my_cohorts.filter(
        Exists(WorklistAssignment.objects.filter(worklist=OuterRef("pk"), reader=user))
    )


def visible_items(user: UserLike) -> QuerySet[WorklistItem]:
    return WorklistItem.objects.filter(worklist__in=visible_worklists(user).values("pk"))


def is_assigned(user: UserLike, worklist_id: int) -> bool:
    return bool(
        user
        and user.is_authenticated
        and WorklistAssignment.objects.filter(worklist_id=worklist_id, reader=user).exists()
    )


def with_my_status(items: QuerySet[WorklistItem], user: UserLike) -> QuerySet[WorklistItem]:
    """Annotate ``my_status`` (unread / in_progress / read) for this reader."""
    if not (user and user.is_authenticated):
        return items.annotate(my_status=Value(ItemStatus.UNREAD))
    status = ItemProgress.objects.filter(item=OuterRef("pk"), reader=user).values("status")[:1]
    return items.annotate(my_status=Coalesce(Subquery(status), Value(ItemStatus.UNREAD)))


def with_counts(worklists: QuerySet[Worklist], user: UserLike) -> QuerySet[Worklist]:
    """Item and reader counts, reads done by anyone, and this user's own progress."""
    signed_in = bool(user and user.is_authenticated)
    mine = ItemProgress.objects.filter(item__worklist=OuterRef("pk"), reader=user) if signed_in else None
    qs = worklists.annotate(
        item_count=count_of(WorklistItem, "worklist"),
        reader_count=count_of(WorklistAssignment, "worklist"),
        reads_done=_current_reads(),
    )
    if mine is None:
        return qs
    counted = (
        mine.order_by()
        .values("item__worklist")
        .annotate(
            n_read=Count("pk", filter=Q(status=ItemStatus.READ)),
            n_open=Count("pk", filter=Q(status=ItemStatus.IN_PROGRESS)),
        )
    )
    return qs.annotate(
        my_read=Coalesce(Subquery(counted.values("n_read")[:1], output_field=IntegerField()), 0),
        my_in_progress=Coalesce(Subquery(counted.values("n_open")[:1], output_field=IntegerField()), 0),
    )


def _current_reads() -> Coalesce:
    counted = (
        Read.objects.filter(item__worklist=OuterRef("pk"), is_current=True)
        .order_by()
        .values("item__worklist")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def triage_order(items: QuerySet[WorklistItem]) -> QuerySet[WorklistItem]:
    """The worklist's reading order: most anomalous first, or shuffled when it is blinded
    (``WorklistItem.position``, fixed at build); ties by id so next/previous are stable."""
    return items.order_by("position", "id")


def ai_hidden(blinded: bool, my_status: str | None) -> bool:
    """Whether the AI's call and score are hidden from this reader on an item: in a blinded
    worklist, until they have submitted their read of it."""
    return bool(blinded) and my_status != ItemStatus.READ


def with_read_counts(items: QuerySet[WorklistItem]) -> QuerySet[WorklistItem]:
    """Annotate ``reads_done``: current reads of the item by all its readers."""
    counted = (
        Read.objects.filter(item=OuterRef("pk"), is_current=True)
        .order_by()
        .values("item")
        .annotate(n=Count("*"))
        .values("n")
    )
    return items.annotate(reads_done=Coalesce(Subquery(counted, output_field=IntegerField()), 0))


def blinded_study_ids(user: UserLike) -> QuerySet:
    """The studies (``study_id`` values) whose AI is hidden from this user: those of blinded
    worklists they read and have not submitted their read of yet."""
    if not (user and user.is_authenticated):
        return WorklistItem.objects.none().values("study_id")
    unread = WorklistItem.objects.filter(worklist__blinded=True, worklist__assignments__reader=user).exclude(
        reads__reader=user, reads__is_current=True
    )
    return unread.values("study_id")


def blinds_study(user: UserLike, study_id: int) -> bool:
    """Whether the AI is hidden from this user on a study: they are a reader of a blinded
    worklist with that study and have not submitted their read of it yet (the viewer then shows
    no overlay, findings or call, whichever link they came by)."""
    return blinded_study_ids(user).filter(study_id=study_id).exists()
