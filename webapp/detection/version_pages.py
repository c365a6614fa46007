"""Model version pages: the list, and one version with its training cohort, settings in words,
training time, calibrations and results, and (for admins) activate / retire / restore."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.accounts.access import page_requires
from webapp.core.errors import Conflict
from webapp.detection import services
from webapp.detection.models import DetectionJob, ModelVersion, TrainingJob
from webapp.detection.selectors import visible_calibrations
from webapp.detection.settings_view import settings_sections

_VIEW = "detection.view_modelversion"


def _version(version_id: int) -> ModelVersion:
    try:
        return ModelVersion.objects.select_related("training_cohort", "created_by").get(pk=version_id)
    except ModelVersion.DoesNotExist:
        raise Http404("no such model version") from None


@page_requires(_VIEW)
def version_list(request: HttpRequest) -> HttpResponse:
    versions = ModelVersion.objects.select_related("training_cohort").annotate(
        n_results=Count("detection_results", distinct=True),
        n_calibrations=Count("calibrations", distinct=True),
    )[:200]
    return render(request, "detection/model_versions.html", {"versions": versions})


@page_requires(_VIEW)
def version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    version = _version(version_id)
    training = TrainingJob.objects.filter(model_version=version).first()
    duration = (
        (training.finished_at - training.started_at).total_seconds()
        if training and training.started_at and training.finished_at
        else None
    )
    jobs = dict(
        DetectionJob.objects.filter(model_version=version)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    context = {
        "version": version,
        "training": training,
        "training_seconds": duration,
        "training_meta": (version.meta or {}).get("training", {}),
        "sections": settings_sections(version.detector_settings or {}),
        "calibrations": visible_calibrations(request.user)
        .filter(model_version=version)
        .select_related("cohort")[:20],
        "n_results": version.detection_results.count(),
        "jobs": jobs,
        "can_manage": request.user.has_perm("detection.activate_modelversion"),
    }
    return render(request, "detection/model_version.html", context)


@require_POST
@page_requires(_VIEW, "detection.activate_modelversion")
def version_action(request: HttpRequest, version_id: int, action: str) -> HttpResponse:
    version = _version(version_id)
    try:
        if action == "activate":
            services.activate_model_version(request.user, version)
            messages.success(request, f"{version.name} is now the active model: new detection jobs use it.")
        elif action in ("retire", "restore"):
            services.retire_model_version(request.user, version, restore=action == "restore")
            messages.success(
                request, f"{version.name} is {'ready again' if action == 'restore' else 'retired'}."
            )
        else:
            raise Http404("no such action")
    except Conflict as e:
        messages.error(request, str(e))
    return redirect("detection_pages:model_version", version.pk)
