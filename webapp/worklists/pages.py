"""Worklist pages: the list (a radiologist's own, a coordinator's cohorts'), building one from a
cohort, a worklist's triage list with what the fused score means at the chosen operating point,
assigning it, and the admin's agreement review."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.accounts import roles
from webapp.accounts.access import page_requires
from webapp.accounts.services import user_role
from webapp.cohorts.models import Cohort, CohortMember
from webapp.cohorts.selectors import visible_cohorts
from webapp.core.errors import form_errors
from webapp.detection.models import DetectionResult, ModelVersion
from webapp.detection.points import DEFAULT_POINT, POINT_NAMES, POINT_RULES
from webapp.detection.selectors import active_model_version, latest_calibration
from webapp.worklists import review, services
from webapp.worklists.models import ItemStatus, OperatingPoint, Worklist
from webapp.worklists.selectors import (
    ai_hidden,
    is_assigned,
    manages_worklists,
    triage_order,
    with_my_status,
    with_read_counts,
)
from webapp.worklists.serializers import viewer_url
from webapp.worklists.views import worklists_for

_VIEW = "worklists.view_worklist"
ITEMS_PER_PAGE = 100


def next_unread_url(worklist: Worklist, user: Any) -> str | None:
    """The viewer page of the reader's first item in triage order not read yet."""
    item = (
        triage_order(with_my_status(worklist.items.all(), user).exclude(my_status=ItemStatus.READ))
        .values_list("pk", "study_id")
        .first()
    )
    return viewer_url(item[1], item[0]) if item else None


@page_requires(_VIEW)
def worklist_list(request: HttpRequest) -> HttpResponse:
    worklists = list(worklists_for(request.user)[:200])
    for w in worklists:
        w.assigned_to_me = any(a.reader_id == request.user.pk for a in w.assignments.all())
        w.next_url = next_unread_url(w, request.user) if w.assigned_to_me else None
        w.unread = max(
            getattr(w, "item_count", 0) - getattr(w, "my_read", 0) - getattr(w, "my_in_progress", 0), 0
        )
    return render(request, "worklists/list.html", {"worklists": worklists})


@page_requires(_VIEW, "worklists.add_worklist")
def worklist_new(request: HttpRequest) -> HttpResponse:
    """Choose a cohort, then its studies (all with a result, or some) and its radiologists."""
    cohorts = visible_cohorts(request.user).order_by("name")
    cohort = None
    raw = request.POST.get("cohort") or request.GET.get("cohort") or ""
    if raw.isdigit():
        try:
            cohort = cohorts.get(pk=int(raw))
        except Cohort.DoesNotExist:
            raise Http404("no such cohort among yours") from None
    version = active_model_version()
    if request.method == "POST" and cohort is not None:
        chosen = [int(v) for v in request.POST.getlist("study") if v.isdigit()]
        readers = request.POST.getlist("reader")
        try:
            worklist = services.build_worklist(
                request.user,
                cohort,
                name=request.POST.get("name", ""),
                study_ids=chosen if request.POST.get("subset") == "chosen" else None,
                readers=readers,
                blinded=request.POST.get("blinded") == "1",
            )
        except ValidationError as e:
            messages.error(request, form_errors(e))
        else:
            messages.success(
                request, f"Worklist {worklist.name!r} built with {worklist.items.count()} studies."
            )
            return redirect("worklist_pages:detail", worklist.pk)
    results, radiologists = [], []
    if cohort is not None and version is not None:
        results = list(
            DetectionResult.objects.filter(study__cohort_links__cohort=cohort, model_version=version)
            .select_related("study__patient")
            .order_by("-fused_score", "id")[:2000]
        )
        members = CohortMember.objects.filter(cohort=cohort).select_related("user").order_by("user__username")
        radiologists = [
            m.user for m in members if user_role(m.user) == roles.RADIOLOGIST and m.user.is_active
        ]
    return render(
        request,
        "worklists/new.html",
        {
            "cohorts": cohorts[:500],
            "cohort": cohort,
            "model_version": version,
            "results": results,
            "radiologists": radiologists,
        },
    )


def _point(request: HttpRequest) -> str:
    point = request.GET.get("point", DEFAULT_POINT)
    return point if point in POINT_NAMES else DEFAULT_POINT


@page_requires(_VIEW)
def worklist_detail(request: HttpRequest, worklist_id: int) -> HttpResponse:
    try:
        worklist = worklists_for(request.user).get(pk=worklist_id)
    except Worklist.DoesNotExist:
        raise Http404("no such worklist among yours") from None
    items = with_read_counts(with_my_status(worklist.items.all(), request.user)).select_related(
        "study__patient"
    )
    wanted = request.GET.get("status", "")
    if wanted in ItemStatus.values:
        items = items.filter(my_status=wanted)
    page = Paginator(triage_order(items), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    services.record_items_list_view(request.user, worklist, [i.study_id for i in page])
    calibration = latest_calibration(worklist.model_version)
    point_name = _point(request)
    point = calibration.point(point_name) if calibration else None
    mine = is_assigned(request.user, worklist.pk)
    for item in page:
        # a reader of a blinded worklist sees the AI's call and score of an item once they read it
        item.ai_hidden = mine and ai_hidden(worklist.blinded, item.my_status)
        item.call = point.call(item.fused_score) if point and not item.ai_hidden else None
        item.viewer = viewer_url(item.study_id, item.pk)
        item.status_label = ItemStatus(item.my_status).label.lower()
    context: dict[str, Any] = {
        "worklist": worklist,
        "page": page,
        "status": wanted,
        "statuses": ItemStatus.choices,
        "calibration": calibration,
        "point_name": point_name,
        "point": point,
        "point_rule": POINT_RULES[point_name],
        "points": [(v, label) for v, label in OperatingPoint.choices if v in POINT_NAMES],
        "point_label": OperatingPoint(point_name).label.lower(),
        "assigned": mine,
        "next_url": next_unread_url(worklist, request.user) if mine else None,
        "manages": manages_worklists(request.user),
    }
    if context["manages"]:
        members = CohortMember.objects.filter(cohort=worklist.cohort_id).select_related("user")
        assigned = {a.reader_id for a in worklist.assignments.all()}
        context["assignable"] = [
            m.user
            for m in members.order_by("user__username")
            if m.user_id not in assigned and m.user.is_active and user_role(m.user) == roles.RADIOLOGIST
        ]
    return render(request, "worklists/detail.html", context)


@require_POST
@page_requires(_VIEW, "worklists.assign_worklist")
def worklist_assign(request: HttpRequest, worklist_id: int) -> HttpResponse:
    try:
        worklist = worklists_for(request.user).get(pk=worklist_id)
        services.assign_worklist(request.user, worklist, request.POST.getlist("reader"))
    except Worklist.DoesNotExist:
        raise Http404("no such worklist among yours") from None
    except ValidationError as e:
        messages.error(request, form_errors(e))
    else:
        messages.success(request, "Assigned.")
    return redirect("worklist_pages:detail", worklist_id)


@page_requires("worklists.review_agreement")
def review_page(request: HttpRequest) -> HttpResponse:
    version_id = request.GET.get("model_version", "")
    cohort_id = request.GET.get("cohort", "")
    result = review.agreement(
        request.user,
        model_version_id=int(version_id) if version_id.isdigit() else None,
        cohort_id=int(cohort_id) if cohort_id.isdigit() else None,
    )
    return render(
        request,
        "worklists/review.html",
        {
            "review": result,
            "model_versions": ModelVersion.objects.order_by("-created_at")[:200],
            "cohorts": visible_cohorts(request.user).order_by("name")[:500],
            "model_version_id": version_id,
            "cohort_id": cohort_id,
        },
    )
