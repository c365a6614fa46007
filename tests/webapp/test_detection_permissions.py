"""Every detection endpoint x every role (and anonymous), on our cohort's data (A) and another
cohort's (B). Same world as test_permissions.py, plus an active model version, a finished
result and a queued job per study, a calibration per cohort and a training job.

Roles: radiologists read results, model versions and calibrations of their cohorts;
coordinators also launch, follow and cancel detection on their cohorts; admins import, train,
activate and calibrate, and see everything. Role refusals are 403, another cohort's objects 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from tests.webapp.factories import ModelVersionFactory, detection_result, study_in_cohort
from webapp.accounts.models import AuditEvent
from webapp.cohorts.models import CohortLabel
from webapp.detection.models import Calibration, DetectionJob, TrainingJob

pytestmark = pytest.mark.django_db

ROLES = ("radiologist", "coordinator", "admin", "anonymous")
ALL = {"radiologist": 200, "coordinator": 200, "admin": 200, "anonymous": 401}
ALL_A_ONLY = {"radiologist": 404, "coordinator": 404, "admin": 200, "anonymous": 401}
ADMIN_ONLY = {"radiologist": 403, "coordinator": 403, "admin": 200, "anonymous": 401}
RUNNERS = {"radiologist": 403, "coordinator": 200, "admin": 200, "anonymous": 401}
RUNNERS_B = {"radiologist": 403, "coordinator": 404, "admin": 200, "anonymous": 401}


def _calibration(cohort, version, finished_minutes_ago: int) -> Calibration:
    calibration = Calibration.objects.create(
        cohort=cohort,
        model_version=version,
        status="done",
        progress=1.0,
        finished_at=timezone.now() - timezone.timedelta(minutes=finished_minutes_ago),
        operating_points={"fused": {"balanced": {"threshold": 0.5, "sensitivity": 1.0, "specificity": 1.0}}},
        roc_plot=f"calibrations/c-{cohort.pk}/roc/",
    )
    plot = Path(settings.MEDIA_ROOT) / calibration.roc_plot
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot.write_bytes(b"\x89PNG\r\n\x1a\n")
    return calibration


@dataclass
class Detection:
    version: object
    job_a: DetectionJob
    job_b: DetectionJob
    queued_a: DetectionJob
    queued_b: DetectionJob
    calibration_a: Calibration
    calibration_b: Calibration
    training: TrainingJob


@pytest.fixture
def detection(world) -> Detection:
    version = ModelVersionFactory(name="perm-model", is_active=True)
    other_version = ModelVersionFactory(name="other-model")
    result_a = detection_result(world.study_a, version, 0.9)
    result_b = detection_result(world.study_b, version, 0.1)
    queued_a = DetectionJob.objects.create(study=world.study_a, model_version=other_version, queue="cpu")
    queued_b = DetectionJob.objects.create(study=world.study_b, model_version=other_version, queue="cpu")
    # B is a calibration cohort with one normal and one abnormal labelled study.
    abnormal = study_in_cohort(world.cohort_b)
    CohortLabel.objects.create(
        cohort=world.cohort_b, study_instance_uid=world.study_b.study_instance_uid, label="normal"
    )
    CohortLabel.objects.create(
        cohort=world.cohort_b, study_instance_uid=abnormal.study_instance_uid, label="abnormal"
    )
    training_version = ModelVersionFactory(name="in-training", status="training", source="trained")
    training = TrainingJob.objects.create(model_version=training_version, cohort=world.cohort_a, queue="cpu")
    return Detection(
        version,
        result_a.job,
        result_b.job,
        queued_a,
        queued_b,
        _calibration(world.cohort_a, version, 60),
        _calibration(world.cohort_b, version, 1),  # the newest: "latest" is B's
        training,
    )


# (case id, method, url, json body, {role: status})
CASES = [
    ("models-list", "get", "/api/model-versions/", None, ALL),
    ("model-detail", "get", "/api/model-versions/{version}/", None, ALL),
    (
        "model-import",
        "post",
        "/api/model-versions/import/",
        {"directory": "missing", "name": "n"},
        {**ADMIN_ONLY, "admin": 400},  # past the role check: no such directory
    ),
    (
        "model-train",
        "post",
        "/api/model-versions/train/",
        {"cohort": "{A}", "name": "n"},
        {**ADMIN_ONLY, "admin": 400},  # past the role check: A is not a normal reference cohort
    ),
    ("model-activate", "post", "/api/model-versions/{version}/activate/", None, ADMIN_ONLY),
    ("training-list", "get", "/api/training-jobs/", None, ADMIN_ONLY),
    ("training-detail", "get", "/api/training-jobs/{training}/", None, ADMIN_ONLY),
    ("training-cancel", "post", "/api/training-jobs/{training}/cancel/", None, ADMIN_ONLY),
    ("jobs-list", "get", "/api/jobs/", None, RUNNERS),
    ("jobs-list-A", "get", "/api/jobs/?cohort={A}", None, RUNNERS),
    ("jobs-list-B", "get", "/api/jobs/?cohort={B}", None, RUNNERS_B),
    ("job-detail-A", "get", "/api/jobs/{job_a}/", None, RUNNERS),
    ("job-detail-B", "get", "/api/jobs/{job_b}/", None, RUNNERS_B),
    ("job-cancel-A", "post", "/api/jobs/{queued_a}/cancel/", None, RUNNERS),
    ("job-cancel-B", "post", "/api/jobs/{queued_b}/cancel/", None, RUNNERS_B),
    (
        "job-cancel-done",
        "post",
        "/api/jobs/{job_a}/cancel/",
        None,
        {**RUNNERS, "coordinator": 409, "admin": 409},
    ),
    (
        "detect-cohort-A",
        "post",
        "/api/cohorts/{A}/detect/",
        None,
        {**RUNNERS, "coordinator": 202, "admin": 202},
    ),
    ("detect-cohort-B", "post", "/api/cohorts/{B}/detect/", None, {**RUNNERS_B, "admin": 202}),
    (
        "detect-study-A",
        "post",
        "/api/studies/{study_A}/detect/",
        None,
        {**RUNNERS, "coordinator": 202, "admin": 202},
    ),
    ("detect-study-B", "post", "/api/studies/{study_B}/detect/", None, {**RUNNERS_B, "admin": 202}),
    ("result-A", "get", "/api/studies/{study_A}/result/", None, ALL),
    ("result-B", "get", "/api/studies/{study_B}/result/", None, ALL_A_ONLY),
    ("result-missing", "get", "/api/studies/999999/result/", None, {**ALL_A_ONLY, "admin": 404}),
    ("map-A", "get", "/api/studies/{study_A}/maps/fused/", None, ALL),
    ("map-B", "get", "/api/studies/{study_B}/maps/local/", None, ALL_A_ONLY),
    ("results-list", "get", "/api/results/", None, ALL),
    ("results-list-A", "get", "/api/results/?cohort={A}", None, ALL),
    ("results-list-B", "get", "/api/results/?cohort={B}", None, ALL_A_ONLY),
    ("calibrate-A", "post", "/api/cohorts/{A}/calibrate/", {}, {**ADMIN_ONLY, "admin": 400}),  # not labelled
    ("calibrate-B", "post", "/api/cohorts/{B}/calibrate/", {}, {**ADMIN_ONLY, "admin": 202}),
    ("calibrations-list", "get", "/api/calibrations/", None, ALL),
    ("calibration-A", "get", "/api/calibrations/{calibration_a}/", None, ALL),
    ("calibration-B", "get", "/api/calibrations/{calibration_b}/", None, ALL_A_ONLY),
    ("calibration-roc-A", "get", "/api/calibrations/{calibration_a}/roc/", None, ALL),
    ("calibration-roc-B", "get", "/api/calibrations/{calibration_b}/roc/", None, ALL_A_ONLY),
    # the newest calibration is B's: A's users get its operating points only (test below)
    ("calibration-latest", "get", "/api/calibrations/latest/", None, ALL),
    (
        "calibration-cancel-done",
        "post",
        "/api/calibrations/{calibration_b}/cancel/",
        None,
        {**ADMIN_ONLY, "admin": 409},
    ),
    (
        "calibration-cancel-done-A",
        "post",
        "/api/calibrations/{calibration_a}/cancel/",
        None,
        {**ADMIN_ONLY, "admin": 409},
    ),
]


def _params():
    for case_id, method, url, body, expected in CASES:
        for role in ROLES:
            yield pytest.param(method, url, body, role, expected[role], id=f"{case_id}-{role}")


@pytest.mark.parametrize(("method", "url", "body", "role", "status"), list(_params()))
def test_detection_endpoint_role_matrix(world, detection, api, method, url, body, role, status, monkeypatch):
    from webapp.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)  # nothing leaves the test
    ids = {
        "A": world.cohort_a.pk,
        "B": world.cohort_b.pk,
        "study_A": world.study_a.pk,
        "study_B": world.study_b.pk,
        "version": detection.version.pk,
        "job_a": detection.job_a.pk,
        "job_b": detection.job_b.pk,
        "queued_a": detection.queued_a.pk,
        "queued_b": detection.queued_b.pk,
        "calibration_a": detection.calibration_a.pk,
        "calibration_b": detection.calibration_b.pk,
        "training": detection.training.pk,
    }
    url = url.format(**ids)
    if body is not None:
        body = {
            k: int(v.format(**ids)) if isinstance(v, str) and v.startswith("{") else v
            for k, v in body.items()
        }
    client = api(world.user(role))
    response = (
        getattr(client, method)(url, body, format="json")
        if body is not None
        else getattr(client, method)(url)
    )
    assert response.status_code == status, getattr(response, "content", b"")[:300]


def test_lists_hold_only_what_the_role_may_see(world, detection, api):
    def ids(user, url):
        return sorted(row["id"] for row in api(user).get(url).json()["results"])

    d = detection
    assert ids(world.coordinator, "/api/jobs/") == sorted([d.job_a.pk, d.queued_a.pk])
    assert ids(world.other_coordinator, "/api/jobs/") == sorted([d.job_b.pk, d.queued_b.pk])
    assert ids(world.admin, "/api/jobs/") == sorted([d.job_a.pk, d.queued_a.pk, d.job_b.pk, d.queued_b.pk])
    assert ids(world.radiologist, "/api/results/") == [d.job_a.result.pk]
    assert ids(world.admin, "/api/results/") == [d.job_a.result.pk, d.job_b.result.pk]
    assert ids(world.radiologist, "/api/calibrations/") == [d.calibration_a.pk]
    assert ids(world.other_coordinator, "/api/calibrations/") == [d.calibration_b.pk]
    # The results list is a triage list: most anomalous first, with the call at each point.
    rows = api(world.admin).get("/api/results/").json()["results"]
    assert [r["fused_score"] for r in rows] == [0.9, 0.1]
    assert [r["calls"]["balanced"] for r in rows] == ["positive", "negative"]
    assert AuditEvent.objects.filter(action="detection.results_listed").count() == 3


def test_the_other_cohorts_coordinator_sees_their_own(world, detection, api):
    client = api(world.other_coordinator)
    assert client.get(f"/api/studies/{world.study_b.pk}/result/").status_code == 200
    assert client.get(f"/api/calibrations/{detection.calibration_b.pk}/").status_code == 200
    assert client.get("/api/calibrations/latest/").json()["id"] == detection.calibration_b.pk
    assert client.get(f"/api/studies/{world.study_a.pk}/result/").status_code == 404
    assert client.post(f"/api/jobs/{detection.queued_a.pk}/cancel/").status_code == 404


def test_a_user_without_a_role_sees_no_detection(world, detection, api):
    from tests.webapp.factories import CohortMemberFactory, UserFactory

    nobody = UserFactory(username="norole")
    CohortMemberFactory(cohort=world.cohort_a, user=nobody)
    client = api(nobody)
    for url in (
        "/api/jobs/",
        "/api/results/",
        "/api/model-versions/",
        f"/api/studies/{world.study_a.pk}/result/",
    ):
        assert client.get(url).status_code == 403, url


def test_latest_calibration_of_another_cohort_gives_its_operating_points_only(world, detection, api):
    """The viewer's operating-point control needs the model's newest calibration (B's) for a
    cohort-A reader too; B's cohort and per-study scores stay hidden, and nothing is audited as a
    look at B's calibration."""
    body = api(world.radiologist).get("/api/calibrations/latest/").json()
    assert body["id"] == detection.calibration_b.pk
    assert body["operating_points"] == detection.calibration_b.operating_points
    assert "per_study" not in body and "cohort" not in body and "roc_plot_url" not in body
    assert not AuditEvent.objects.filter(action="calibration.viewed").exists()
    full = api(world.admin).get("/api/calibrations/latest/").json()
    assert "per_study" in full and full["cohort"] == world.cohort_b.pk
