"""Detection pages: the job monitor (filter by state, cancel), calibrations with their ROC plot
and operating points, and launching detection or calibration from a cohort's page. The same
services and selectors as the API."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.accounts.access import page_requires
from webapp.cohorts.models import Cohort
from webapp.cohorts.selectors import visible_cohorts
from webapp.core.errors import Conflict, form_errors
from webapp.detection import services
from webapp.detection.models import Calibration, DetectionJob, JobStatus
from webapp.detection.points import calibration_warnings
from webapp.detection.selectors import visible_calibrations, visible_jobs
from webapp.studies.services import record_study_list_view

JOBS_PER_PAGE = 50


@page_requires("detection.view_detectionjob")
def job_monitor(request: HttpRequest) -> HttpResponse:
    jobs = visible_jobs(request.user).select_related("study__patient", "model_version", "cohort")
    wanted = request.GET.get("status", "")
    if wanted in JobStatus.values:
        jobs = jobs.filter(status=wanted)
    cohort_id = request.GET.get("cohort", "")
    cohorts = visible_cohorts(request.user).order_by("name")
    if cohort_id.isdigit():
        jobs = jobs.filter(study__cohort_links__cohort_id=int(cohort_id))
    page = Paginator(jobs.order_by("-created_at", "-id"), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    record_study_list_view(
        request.user, [j.study_id for j in page], {"page": "jobs", "status": wanted, "cohort": cohort_id}
    )
    counted = dict(
        visible_jobs(request.user)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return render(
        request,
        "detection/jobs.html",
        {
            "page": page,
            "statuses": JobStatus.choices,
            "status": wanted,
            "cohorts": cohorts[:500],
            "cohort_id": cohort_id,
            "status_counts": [(value, label, counted.get(value, 0)) for value, label in JobStatus.choices],
            "live": {JobStatus.QUEUED, JobStatus.RUNNING},
        },
    )


@require_POST
@page_requires("detection.view_detectionjob", "detection.launch_detection")
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = visible_jobs(request.user).get(pk=job_id)
    except DetectionJob.DoesNotExist:
        raise Http404("no such job among yours") from None
    try:
        job = services.cancel_job(request.user, job)
    except Conflict as e:
        messages.error(request, str(e))
    else:
        messages.success(
            request,
            f"Job {job.pk} cancelled."
            if job.status == JobStatus.CANCELLED
            else f"Job {job.pk} stops at its next checkpoint (ask again if its worker is gone).",
        )
    return redirect(request.POST.get("next") or "detection_pages:jobs")


@page_requires("detection.view_calibration")
def calibration_list(request: HttpRequest) -> HttpResponse:
    calibrations = visible_calibrations(request.user).select_related("model_version", "cohort")[:200]
    return render(request, "detection/calibrations.html", {"calibrations": calibrations})


@page_requires("detection.view_calibration")
def calibration_detail(request: HttpRequest, calibration_id: int) -> HttpResponse:
    try:
        calibration = (
            visible_calibrations(request.user)
            .select_related("model_version", "cohort")
            .get(pk=calibration_id)
        )
    except Calibration.DoesNotExist:
        raise Http404("no such calibration among yours") from None
    services.view_calibration(request.user, calibration)
    rows = [
        {"branch": branch, "name": point.name, **point.to_dict(), **(point.counts or {})}
        for branch in ("fused", "global", "local")
        for point in calibration.points(branch).values()
    ]
    return render(
        request,
        "detection/calibration.html",
        {
            "calibration": calibration,
            "rows": rows,
            "warnings": calibration_warnings(
                calibration.n_normal, calibration.n_abnormal, calibration.operating_points
            ),
            "live": calibration.status in {"queued", "running"},
        },
    )


def _cohort(request: HttpRequest, cohort_id: int) -> Cohort:
    try:
        return visible_cohorts(request.user).get(pk=cohort_id)
    except Cohort.DoesNotExist:
        raise Http404("no such cohort among yours") from None


# The actions of detection's part of a cohort's page (cohort_part.py).
@require_POST
@page_requires("cohorts.view_cohort", "detection.launch_detection")
def cohort_detect(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = _cohort(request, cohort_id)
    try:
        result = services.launch_detection_for_cohort(request.user, cohort)
    except ValidationError as e:
        messages.error(request, form_errors(e))
    else:
        messages.success(
            request,
            f"Detection with {result.model_version.name}: {len(result.created)} job(s) queued, "
            f"{len(result.existing)} already queued, running or done.",
        )
    return redirect("cohort_pages:detail", cohort.pk)


@require_POST
@page_requires("cohorts.view_cohort", "detection.run_calibration")
def cohort_calibrate(request: HttpRequest, cohort_id: int) -> HttpResponse:
    cohort = _cohort(request, cohort_id)
    try:
        calibration: Calibration = services.launch_calibration(request.user, cohort)
    except ValidationError as e:
        messages.error(request, form_errors(e))
        return redirect("cohort_pages:detail", cohort.pk)
    messages.success(request, f"Calibration {calibration.pk} queued; this page follows it.")
    return redirect("detection_pages:calibration", calibration.pk)
