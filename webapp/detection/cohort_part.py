"""Detection's part of a cohort's page (webapp/cohorts/parts.py): the launch and calibrate
buttons, the active model and its balanced point, each study's fused score and the AI's call,
the live job panel and the cohort's calibrations."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from webapp.cohorts.models import Cohort
from webapp.cohorts.parts import CohortPagePart
from webapp.detection.models import DetectionResult
from webapp.detection.points import DEFAULT_POINT
from webapp.detection.selectors import active_model_version, latest_calibration, visible_calibrations
from webapp.detection.visibility import hidden_from
from webapp.studies.models import Study


def cohort_part(request: HttpRequest, cohort: Cohort, studies: list[Study]) -> CohortPagePart:
    version = active_model_version()
    scores = dict(
        DetectionResult.objects.filter(study__in=[s.pk for s in studies], model_version=version).values_list(
            "study_id", "fused_score"
        )
    )
    calibration = latest_calibration(version)
    balanced = calibration.point(DEFAULT_POINT) if calibration else None
    # A calibration scores the studies that have no stored result itself (no maps are kept):
    # their scores are shown too, marked as the calibration's.
    calibrated = {
        r["study_id"]: float(r["fused_score"])
        for r in (calibration.per_study if calibration else [])
        if not r.get("error") and r.get("fused_score") is not None and "study_id" in r
    }
    hidden = set()
    for ids in hidden_from(request.user):
        hidden |= set(ids.filter(study_id__in=[s.pk for s in studies]).values_list("study_id", flat=True))
    for s in studies:
        s.hidden = s.pk in hidden  # a blinded read of it is still to come: its score is not shown
        if s.hidden:
            s.fused_score, s.score_from_calibration, s.call = None, False, None
            continue
        s.fused_score = scores.get(s.pk)
        s.score_from_calibration = s.fused_score is None and s.pk in calibrated
        if s.score_from_calibration:
            s.fused_score = calibrated[s.pk]
        s.call = balanced.call(s.fused_score) if balanced and s.fused_score is not None else None
    return CohortPagePart(
        context={
            "model_version": version,
            "balanced": balanced,
            "calibration": calibration,
            "calibrations": visible_calibrations(request.user)
            .filter(cohort=cohort)
            .select_related("model_version")[:10],
            "jobs_url": f"{reverse('detection-job-list')}?cohort={cohort.pk}&page_size=500",
        },
        templates={
            "actions": "detection/cohort/actions.html",
            "cards": "detection/cohort/cards.html",
            "panels": "detection/cohort/jobs.html",
            "study_head": "detection/cohort/study_head.html",
            "study_cells": "detection/cohort/study_cells.html",
            "sections": "detection/cohort/calibrations.html",
        },
    )
