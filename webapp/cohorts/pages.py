"""Cohort pages: the list (and creating one), and a cohort's page with its studies, the upload
form with each file's verdict, labels and members; detection and worklists add their parts to
it (webapp/cohorts/parts.py) and own their actions.

Thin like the API views: every change goes through the same services; object access is the
selectors' (another cohort is 404), roles are the permissions (403).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webapp.accounts.access import page_requires
from webapp.accounts.services import user_role
from webapp.cohorts import services
from webapp.cohorts.models import Cohort, CohortMember
from webapp.cohorts.parts import page_parts
from webapp.cohorts.selectors import visible_cohorts, with_counts
from webapp.cohorts.upload_report import study_outcomes
from webapp.core.errors import STORAGE_FULL_MESSAGE, StorageFull, UploadTooLarge, form_errors, is_storage_full
from webapp.studies import services as study_services
from webapp.studies.models import Study

_VIEW = "cohorts.view_cohort"
STUDIES_SHOWN = 500


def _cohort(request: HttpRequest, cohort_id: int) -> Cohort:
    try:
        return visible_cohorts(request.user).get(pk=cohort_id)
    except Cohort.DoesNotExist:
        raise Http404("no such cohort among yours") from None


@page_requires(_VIEW)
def cohort_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            cohort = services.create_cohort(
                request.user,
                name=request.POST.get("name", ""),
                purpose=request.POST.get("purpose", ""),
                description=request.POST.get("description", ""),
                deidentify=request.POST.get("deidentify") == "on",
            )
        except ValidationError as e:
            messages.error(request, form_errors(e))
        else:
            messages.success(request, f"Cohort {cohort.name!r} created; upload its studies below.")
            return redirect("cohort_pages:detail", cohort.pk)
    cohorts = with_counts(visible_cohorts(request.user)).order_by("name")[:500]
    return render(request, "cohorts/list.html", {"cohorts": cohorts, "purposes": Cohort.Purpose.choices})


def _detail_context(request: HttpRequest, cohort: Cohort) -> dict[str, Any]:
    user = request.user
    studies = list(
        Study.objects.filter(cohort_links__cohort=cohort)
        .select_related("patient")
        .order_by("-created_at", "-id")[:STUDIES_SHOWN]
    )
    study_services.record_study_list_view(
        user, [s.pk for s in studies], {"cohort": str(cohort.pk), "page": "cohort"}
    )
    counts = with_counts(Cohort.objects.filter(pk=cohort.pk)).get()
    return {
        # what detection and worklists add: their parts, registered with webapp.cohorts.parts
        **page_parts(request, cohort, studies),
        "cohort": cohort,
        "counts": counts,
        "studies": studies,
        "studies_truncated": counts.study_count > len(studies),
        "role": user_role(user),
        "members": CohortMember.objects.filter(cohort=cohort)
        .select_related("user")
        .order_by("user__username"),
        "is_calibration": cohort.purpose == Cohort.Purpose.CALIBRATION,
    }


@page_requires(_VIEW)
def cohort_detail(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = _cohort(request, cohort_id)
    return render(request, "cohorts/detail.html", _detail_context(request, cohort))


def _csrf_refusal(request: HttpRequest) -> HttpResponse | None:
    """The CSRF check, run by the view once the body is parsed (see cohort_upload)."""
    return CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, _checked_view, (), {})


def _checked_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    return HttpResponse()


@csrf_exempt  # checked below, after the upload is parsed: an over-limit body must get its 413
@require_POST
@page_requires(_VIEW, "cohorts.upload_studies")
def cohort_upload(request: HttpRequest, cohort_id: int) -> HttpResponse:
    """Ingest the posted files and zips and show this cohort's page with every file's verdict."""
    cohort = _cohort(request, cohort_id)
    try:
        files = request.FILES.getlist("file")
    except UploadTooLarge as e:
        messages.error(request, f"{e}; nothing was stored")
        return render(request, "cohorts/detail.html", _detail_context(request, cohort), status=413)
    except OSError as e:
        if not is_storage_full(e):
            raise
        messages.error(request, STORAGE_FULL_MESSAGE)
        return render(request, "cohorts/detail.html", _detail_context(request, cohort), status=507)
    refusal = _csrf_refusal(request)
    if refusal is not None:
        return refusal
    started = timezone.now()
    try:
        result = services.upload_to_cohort(request.user, cohort, files)
    except StorageFull:
        messages.error(request, STORAGE_FULL_MESSAGE)
        return render(request, "cohorts/detail.html", _detail_context(request, cohort), status=507)
    except ValidationError as e:
        messages.error(request, form_errors(e))
        return render(request, "cohorts/detail.html", _detail_context(request, cohort), status=400)
    summary = result.summary()
    messages.success(
        request,
        f"{summary['accepted']} accepted, {summary['duplicate']} duplicate, {summary['rejected']} rejected"
        f" into {len(result.study_ids)} stud{'y' if len(result.study_ids) == 1 else 'ies'}.",
    )
    context = _detail_context(request, cohort)  # with the new studies, and the jobs the upload queued
    studies = Study.objects.filter(pk__in=result.study_ids).select_related("patient")
    known = {s.study_instance_uid: s for s in studies}
    new_uids = {s.study_instance_uid for s in studies if s.created_at >= started}
    context["upload_studies"] = study_outcomes(result.files, known, new_uids)
    context["verdicts"] = [asdict(f) for f in result.files]
    return render(request, "cohorts/detail.html", context)


@require_POST
@page_requires(_VIEW, "cohorts.attach_labels")
def cohort_labels(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = _cohort(request, cohort_id)
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise ValidationError({"file": "choose the labels CSV to upload"})
        result = services.attach_labels(request.user, cohort, upload)
    except ValidationError as e:
        messages.error(request, form_errors(e))
    else:
        note = (
            f" Not uploaded yet: {', '.join(result.not_uploaded_yet[:3])}…" if result.not_uploaded_yet else ""
        )
        messages.success(
            request,
            f"Labels attached: {result.normals} normal, {result.abnormals} abnormal; "
            f"{result.studies_present} of {result.studies_labelled} labelled studies are uploaded.{note}",
        )
    return redirect("cohort_pages:detail", cohort.pk)


@require_POST
@page_requires(_VIEW, "cohorts.manage_members")
def cohort_members(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = _cohort(request, cohort_id)
    try:
        member = services.add_member(request.user, cohort, request.POST.get("username", "").strip())
    except ValidationError as e:
        messages.error(request, form_errors(e))
    else:
        messages.success(request, f"{member.user.get_username()} is a member of {cohort.name}.")
    return redirect("cohort_pages:detail", cohort.pk)
