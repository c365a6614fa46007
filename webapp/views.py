"""The dashboard: what each role needs first. Radiologists: their worklists and where to start
reading. Coordinators: their cohorts, recent uploads and jobs. Admins: model versions,
calibrations, the health of the job queue, and user management."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from webapp.accounts import roles
from webapp.accounts.models import AuditEvent
from webapp.accounts.services import user_role
from webapp.cohorts.selectors import visible_cohorts, with_counts
from webapp.detection.models import DetectionJob, JobStatus, ModelVersion, TrainingJob
from webapp.detection.selectors import visible_calibrations, visible_jobs
from webapp.studies.services import record_study_list_view


def _radiologist(request: HttpRequest) -> dict[str, Any]:
    from webapp.worklists.pages import next_unread_url
    from webapp.worklists.views import worklists_for

    worklists = [
        w
        for w in worklists_for(request.user)[:100]
        if any(a.reader_id == request.user.pk for a in w.assignments.all())
    ]
    for w in worklists:
        w.unread = max(w.item_count - w.my_read - w.my_in_progress, 0)
        w.next_url = next_unread_url(w, request.user)
    return {"my_worklists": worklists, "next_url": next((w.next_url for w in worklists if w.next_url), None)}


def _coordinator(request: HttpRequest) -> dict[str, Any]:
    cohorts = with_counts(visible_cohorts(request.user)).order_by("name")[:50]
    names = dict(visible_cohorts(request.user).order_by("-created_at").values_list("pk", "name")[:1000])
    uploads = list(
        AuditEvent.objects.filter(
            action="cohort.upload", object_type="cohorts.cohort", object_id__in=[str(pk) for pk in names]
        )[:10]
    )
    for u in uploads:
        u.cohort_name = names.get(int(u.object_id), u.object_id)
    jobs = list(visible_jobs(request.user).select_related("study__patient", "model_version")[:10])
    if jobs:  # the list names patients
        record_study_list_view(request.user, [j.study_id for j in jobs], {"page": "dashboard"})
    return {"cohorts": cohorts, "uploads": uploads, "jobs": jobs}


QUEUED_WAIT_WARNING = dt.timedelta(minutes=5)


def _admin(request: HttpRequest) -> dict[str, Any]:
    since = timezone.now() - dt.timedelta(hours=24)
    by_status = dict(DetectionJob.objects.order_by().values_list("status").annotate(n=Count("pk")))
    recent = dict(
        DetectionJob.objects.filter(created_at__gte=since)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    # Only a wait longer than a worker takes to pick a job up is worth a warning.
    waiting_since = timezone.now() - QUEUED_WAIT_WARNING
    oldest_queued = (
        DetectionJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=waiting_since)
        .order_by("created_at")
        .first()
    )
    return {
        "model_versions": ModelVersion.objects.select_related("training_job").order_by("-created_at")[:10],
        "calibrations": visible_calibrations(request.user).select_related("model_version", "cohort")[:8],
        "job_health": [(s, label, by_status.get(s, 0), recent.get(s, 0)) for s, label in JobStatus.choices],
        "oldest_queued": oldest_queued,
        "failed_recent": DetectionJob.objects.filter(status=JobStatus.FAILED, finished_at__gte=since)
        .select_related("study")
        .order_by("-finished_at")[:5],
        "training_jobs": TrainingJob.objects.select_related("model_version").order_by("-created_at")[:5],
    }


@login_required
def home(request: HttpRequest) -> HttpResponse:
    role = user_role(request.user)
    context: dict[str, Any] = {"dashboard": role}
    if role == roles.RADIOLOGIST:
        context |= _radiologist(request)
    elif role == roles.COORDINATOR:
        context |= _coordinator(request)
    elif role == roles.ADMIN:
        context |= _admin(request) | _coordinator(request)
    return render(request, "home.html", context)
