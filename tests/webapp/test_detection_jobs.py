"""Detection jobs, results, maps, calibration and model versions, with the worker's code run in
this process (the real worker processes are in test_detection_worker.py)."""

from __future__ import annotations

import zlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from detector.io import NotCTError, read_volume
from detector.lab.evaluate import sens_spec
from detector.model import FusionModel
from detector.score import score_volume
from tests.webapp.conftest import tiny_settings_overrides, zip_folder
from tests.webapp.factories import CohortFactory, CohortMemberFactory, ModelVersionFactory, detection_result
from webapp.accounts.models import AuditEvent
from webapp.cohorts.models import Cohort
from webapp.detection import claims, maps, runner, services, tasks
from webapp.detection import jobs as job_sending
from webapp.detection.models import (
    TRANSITIONS,
    Calibration,
    DetectionJob,
    DetectionResult,
    IllegalTransition,
    JobStatus,
    ModelVersion,
    TrainingJob,
)
from webapp.detection.signals import job_stage
from webapp.studies.models import Study

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


def upload(client, cohort, phantoms, indices: list[int] | None = None) -> list[int]:
    dirs = phantoms.series_dirs if indices is None else [phantoms.series_dirs[i] for i in indices]
    zipped = SimpleUploadedFile("cohort.zip", zip_folder(dirs, phantoms.root))
    r = client.post(f"/api/cohorts/{cohort.pk}/upload/", {"file": [zipped]}, format="multipart")
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.content[:300]
    return r.json()["study_ids"]


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, dict, str, str]]:
    """Tasks the services hand to the broker, captured instead of sent."""
    from webapp.celery import app

    calls: list[tuple[str, dict, str, str]] = []

    def send_task(name, kwargs=None, queue=None, task_id=None, **options):
        calls.append((name, kwargs, queue, task_id))

    monkeypatch.setattr(app, "send_task", send_task)
    return calls


@pytest.fixture
def screened(world, api, phantoms, model_version, sent) -> list[DetectionJob]:
    """The three phantom studies uploaded into screening cohort A: jobs queued by the ingest."""
    upload(api(world.coordinator), world.cohort_a, phantoms)
    return list(DetectionJob.objects.filter(cohort=world.cohort_a).order_by("pk"))


# --- launching ---------------------------------------------------------------------------------
def test_ingest_into_a_screening_cohort_queues_detection_on_commit(
    world, api, phantoms, model_version, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        study_ids = upload(api(world.coordinator), world.cohort_a, phantoms)
    jobs = list(DetectionJob.objects.order_by("pk"))
    assert sorted(j.study_id for j in jobs) == sorted(study_ids)
    assert {(j.status, j.queue, j.model_version_id, j.cohort_id) for j in jobs} == {
        ("queued", "cpu", model_version.pk, world.cohort_a.pk)
    }
    assert sent == [("detection.run_detection_job", {"job_id": j.pk}, "cpu", j.task_id) for j in jobs]
    event = AuditEvent.objects.get(action="detection.launched")
    assert event.details["reason"] == "ingest" and event.details["created"] == 3
    # The same images again, and into a calibration cohort: no new job.
    with django_capture_on_commit_callbacks(execute=True):
        upload(api(world.coordinator), world.cohort_a, phantoms)
        upload(api(world.admin), world.cohort_b, phantoms)
    assert DetectionJob.objects.count() == 3 and len(sent) == 3


def test_without_an_active_model_nothing_is_queued_and_launching_says_why(world, api, phantoms, sent):
    upload(api(world.coordinator), world.cohort_a, phantoms)
    assert not DetectionJob.objects.exists()
    r = api(world.coordinator).post(f"/api/cohorts/{world.cohort_a.pk}/detect/")
    assert r.status_code == 400 and "no model version is active" in r.json()["model_version"][0]


def test_detection_goes_to_the_gpu_queue_when_a_gpu_worker_is_configured(
    world, api, model_version, sent, settings, django_capture_on_commit_callbacks
):
    settings.DETECTION_QUEUE = "gpu"
    with django_capture_on_commit_callbacks(execute=True):
        r = api(world.coordinator).post(f"/api/studies/{world.study_a.pk}/detect/")
    assert r.status_code == 202
    job = DetectionJob.objects.get()
    assert job.queue == "gpu" and sent == [
        ("detection.run_detection_job", {"job_id": job.pk}, "gpu", job.task_id)
    ]


def test_cohort_launch_keeps_live_jobs_and_relaunches_failed_ones(world, api, screened):
    client = api(world.coordinator)
    r = client.post(f"/api/cohorts/{world.cohort_a.pk}/detect/")
    assert r.status_code == 202
    body = r.json()
    # world.study_a (a factory study in A) is new; the three uploaded studies have queued jobs.
    assert (body["created"], body["existing"], body["model_version_name"]) == (1, 3, "tiny")
    assert len(body["jobs"]) == 4 and {j["status"] for j in body["jobs"]} == {"queued"}
    DetectionJob.objects.filter(pk=screened[0].pk).update(status="failed")
    body = client.post(f"/api/cohorts/{world.cohort_a.pk}/detect/").json()
    assert (body["created"], body["existing"]) == (1, 3)
    assert body["jobs"][0]["study"] == screened[0].study_id


# --- running -----------------------------------------------------------------------------------
def test_a_job_runs_and_its_result_and_maps_come_back_over_the_api(world, api, screened, tiny_model_dir):
    job = screened[0]
    assert runner.run_detection(job.pk, "test-worker@host") == "done"
    job.refresh_from_db()
    assert (job.status, job.progress, job.stage, job.worker, job.device, job.attempts) == (
        "done",
        1.0,
        "done",
        "test-worker@host",
        "cpu",
        1,
    )
    assert {
        "load_model",
        "read",
        "resample",
        "lung_mask",
        "global",
        "local",
        "fusion",
        "write_maps",
        "total",
    } <= set(job.timings)
    result = job.result
    client = api(world.radiologist)
    r = client.get(f"/api/studies/{job.study_id}/result/")
    assert r.status_code == 200
    body = r.json()
    assert body["fused_score"] == pytest.approx(result.fused_score)
    assert body["fused_score"] > body["global_score"]  # S = G + w / L with L > 0
    assert body["model_version"] == {"id": result.model_version_id, "name": "tiny", "is_active": True}
    assert body["peaks"] and len(body["peaks"][0]["center_lps_mm"]) == 3
    assert (
        body["interpretation"]["calibration"] is None
        and "not been calibrated" in body["interpretation"]["message"]
    )
    assert AuditEvent.objects.filter(action="detection.result_viewed", object_id=str(result.pk)).exists()

    # The maps are the detector's own maps on the CT grid, within the quantisation step.
    study = Study.objects.get(pk=job.study_id)
    volume = read_volume(study.series.get().folder)
    expected = score_volume(FusionModel.load(tiny_model_dir, "cpu"), volume).maps_on_ct_grid(volume)
    shape = tuple(body["grid"]["shape_zyx"])
    assert shape == volume.shape
    np.testing.assert_allclose(body["grid"]["origin_lps_mm"], volume.geometry.origin_lps_mm)
    for kind in maps.KINDS:
        info = body["maps"][kind]
        r = client.get(info["url"])
        assert r.status_code == 200 and r["Content-Type"] == "application/octet-stream"
        raw = b"".join(r.streaming_content)
        assert len(raw) == int(np.prod(shape)) * 2 == int(r["Content-Length"])
        assert r["X-Map-Shape"] == ",".join(map(str, shape)) and r["X-Map-Dtype"] == "uint16"
        assert r["Cache-Control"] == "private, max-age=31536000, immutable"
        q = np.frombuffer(raw, "<u2").reshape(shape)
        values = float(r["X-Map-Offset"]) + q * float(r["X-Map-Scale"])
        np.testing.assert_allclose(values, expected[kind], atol=float(r["X-Map-Scale"]) / 2 + 1e-5)
        # A client that takes deflate gets the stored bytes as they are.
        z = client.get(info["url"], HTTP_ACCEPT_ENCODING="gzip, deflate")
        assert z["Content-Encoding"] == "deflate" and zlib.decompress(b"".join(z.streaming_content)) == raw
        assert z["ETag"] != r["ETag"] and "Accept-Encoding" in z["Vary"]
        head = client.head(info["url"])
        assert head.status_code == 200 and head["X-Map-Shape"] == r["X-Map-Shape"]
        # Revalidation: same ETag, no body.
        again = client.get(f"/api/studies/{job.study_id}/maps/{kind}/", HTTP_IF_NONE_MATCH=r["ETag"])
        assert again.status_code == 304 and again["Cache-Control"] == "private, no-cache"
    assert AuditEvent.objects.filter(action="detection.map_viewed").count() == 12
    assert client.get(f"/api/studies/{job.study_id}/maps/lungs/").status_code == 404


def test_a_job_run_twice_stores_one_result(screened):
    job = screened[0]
    assert runner.run_detection(job.pk, "w1") == "done"
    assert runner.run_detection(job.pk, "w2") == "skipped"
    assert tasks.run_detection_job.apply(kwargs={"job_id": job.pk}).get() == "skipped"
    assert DetectionResult.objects.filter(job=job).count() == 1
    job.refresh_from_db()
    assert (job.worker, job.attempts) == ("w1", 1)


def test_a_superseded_attempt_drops_its_work(screened, settings):
    job = screened[0]
    stale = claims.claim(DetectionJob, job.pk, "slow-worker")  # attempt 1, then its message is redelivered
    leftover = Path(settings.MEDIA_ROOT) / "results" / f"job-{job.pk}" / "attempt-1"
    leftover.mkdir(parents=True)
    assert runner.run_detection(job.pk, "second-worker") == "done"  # attempt 2
    with pytest.raises(claims.ClaimLost):
        claims.Checkpoints(DetectionJob, job.pk, stale.attempts)("global", 0.5)
    with pytest.raises(claims.ClaimLost), claims.owned(DetectionJob, job.pk, stale.attempts):
        pass
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == ("done", 2, "second-worker")
    assert DetectionResult.objects.filter(job=job).count() == 1 and not leftover.exists()


def test_a_job_whose_workers_keep_dying_is_given_up(screened, settings):
    job = screened[0]
    DetectionJob.objects.filter(pk=job.pk).update(status="running", attempts=settings.DETECTION_MAX_ATTEMPTS)
    assert runner.run_detection(job.pk, "w") == "skipped"
    job.refresh_from_db()
    assert job.status == "failed" and "gave up after 5 attempts" in job.error


def test_a_transient_error_is_retried_with_the_job_requeued_meanwhile(screened, monkeypatch):
    job = screened[0]
    seen: list[str] = []
    real_read = runner.read_volume

    def flaky_read(*args, **kwargs):
        seen.append(DetectionJob.objects.get(pk=job.pk).status)
        if len(seen) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_read(*args, **kwargs)

    monkeypatch.setattr(runner, "read_volume", flaky_read)
    tasks.run_detection_job.apply(kwargs={"job_id": job.pk})  # eager: the retry runs at once
    job.refresh_from_db()
    assert seen == ["running", "running"]
    assert (job.status, job.attempts, job.error) == ("done", 2, "")
    assert DetectionResult.objects.filter(job=job).count() == 1


def test_transient_errors_that_persist_fail_the_job_after_the_retries(screened, monkeypatch):
    job = screened[0]

    def down(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(runner, "read_volume", down)
    tasks.run_detection_job.apply(kwargs={"job_id": job.pk})
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("gave up after 4 tries: OperationalError")
    assert job.attempts == 4


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (NotCTError("the series is MR, not CT"), "the series is MR, not CT"),
        (SoftTimeLimitExceeded(), "ran past its time limit"),
        (RuntimeError("boom"), "RuntimeError: boom"),
    ],
)
def test_permanent_errors_fail_the_job_at_once_with_a_message(
    screened, monkeypatch, settings, error, message
):
    job = screened[0]

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(runner, "read_volume", broken)
    assert tasks.run_detection_job.apply(kwargs={"job_id": job.pk}).get() == "failed"
    job.refresh_from_db()
    assert job.status == "failed" and message in job.error and job.attempts == 1
    assert not (Path(settings.MEDIA_ROOT) / "results" / f"job-{job.pk}").exists() or not any(
        (Path(settings.MEDIA_ROOT) / "results" / f"job-{job.pk}").iterdir()
    )


def test_a_study_without_ct_fails_clearly(world, model_version):
    job = DetectionJob.objects.create(study=world.study_a, model_version=model_version, queue="cpu")
    world.study_a.series.update(modality="MR")
    assert runner.run_detection(job.pk, "w") == "failed"
    job.refresh_from_db()
    assert "has no CT series" in job.error


# --- cancelling --------------------------------------------------------------------------------
def test_cancel_a_queued_job(world, api, screened, monkeypatch, django_capture_on_commit_callbacks):
    revoked: list[str] = []
    monkeypatch.setattr(job_sending, "_revoke", revoked.append)
    job = screened[0]
    with django_capture_on_commit_callbacks(execute=True):
        r = api(world.coordinator).post(f"/api/jobs/{job.pk}/cancel/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert revoked == [job.task_id]
    assert runner.run_detection(job.pk, "w") == "skipped"  # the message arrived anyway
    assert not DetectionResult.objects.exists()
    r = api(world.coordinator).post(f"/api/jobs/{job.pk}/cancel/")
    assert r.status_code == 409 and "already" in r.json()["detail"]


def test_cancel_a_running_job_stops_it_at_the_next_checkpoint(world, api, screened, monkeypatch, settings):
    job = screened[0]
    real_read = runner.read_volume
    answers = []

    def read_then_cancel(*args, **kwargs):
        answers.append(api(world.coordinator).post(f"/api/jobs/{job.pk}/cancel/").json())
        return real_read(*args, **kwargs)

    monkeypatch.setattr(runner, "read_volume", read_then_cancel)
    assert runner.run_detection(job.pk, "w") == "cancelled"
    assert answers[0]["status"] == "running" and answers[0]["cancel_requested"] is True
    job.refresh_from_db()
    assert job.status == "cancelled" and "stopped at resample" in job.error
    assert not DetectionResult.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / "results" / f"job-{job.pk}" / "attempt-1").exists()


def test_a_second_cancel_ends_a_running_job_whose_worker_is_gone(world, api, screened):
    job = screened[0]
    lost = claims.claim(DetectionJob, job.pk, "killed-worker")  # its worker died; no redelivery
    client = api(world.coordinator)
    first = client.post(f"/api/jobs/{job.pk}/cancel/").json()
    assert (first["status"], first["cancel_requested"]) == ("running", True)
    second = client.post(f"/api/jobs/{job.pk}/cancel/").json()
    assert second["status"] == "cancelled" and "had not stopped it" in second["error"]
    with pytest.raises(claims.ClaimLost):  # were that worker alive after all, it stops here
        claims.Checkpoints(DetectionJob, job.pk, lost.attempts)("local", 0.6)
    relaunched = client.post(f"/api/studies/{job.study_id}/detect/").json()
    assert relaunched["created"] == 1 and relaunched["jobs"][0]["id"] != job.pk


# --- the sweep of jobs whose worker is gone ------------------------------------------------------
def _claimed(job: DetectionJob, worker: str, heartbeat_age_s: float, **fields) -> DetectionJob:
    claims.claim(DetectionJob, job.pk, worker)
    old = timezone.now() - timedelta(seconds=heartbeat_age_s)
    DetectionJob.objects.filter(pk=job.pk).update(heartbeat_at=old, **fields)
    job.refresh_from_db()
    return job


def test_the_sweep_requeues_a_stale_running_job_once_and_its_next_delivery_finishes_it(
    screened, sent, settings, django_capture_on_commit_callbacks, capsys
):
    settings.DETECTION_JOB_STALE_AFTER = 600
    lost = _claimed(screened[0], "gone@host", 3600)
    alive = _claimed(screened[1], "alive@host", 5)
    dying = _claimed(screened[2], "gone@host", 3600, attempts=settings.DETECTION_MAX_ATTEMPTS)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("sweep_jobs")
        call_command("sweep_jobs")  # idempotent: the second finds nothing stale
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"1 requeued (detectionjob {lost.pk}); 1 failed (detectionjob {dying.pk})",
        "no stale running jobs, no unsent jobs",
    ]
    for job in (lost, alive, dying):
        job.refresh_from_db()
    assert (lost.status, lost.stage, lost.attempts, lost.heartbeat_at) == ("queued", "re-queued", 1, None)
    assert "gone@host stopped reporting" in lost.error
    assert sent == [("detection.run_detection_job", {"job_id": lost.pk}, "cpu", lost.task_id)]
    assert (alive.status, dying.status) == ("running", "failed")
    assert f"gave up after {settings.DETECTION_MAX_ATTEMPTS} attempts" in dying.error
    actions = AuditEvent.objects.filter(action__in=["detectionjob.requeued", "detectionjob.failed"])
    assert sorted((a.action, a.object_id) for a in actions) == [
        ("detectionjob.failed", str(dying.pk)),
        ("detectionjob.requeued", str(lost.pk)),
    ]
    # The lost worker, were it only slow, loses its claim; the new delivery stores the one result.
    assert runner.run_detection(lost.pk, "rescuer@host") == "done"
    with pytest.raises(claims.ClaimLost):
        claims.Checkpoints(DetectionJob, lost.pk, 1)("local", 0.6)
    lost.refresh_from_db()
    assert (lost.status, lost.attempts, lost.worker) == ("done", 2, "rescuer@host")
    assert DetectionResult.objects.filter(study=lost.study).count() == 1


def test_the_sweep_sends_again_a_job_the_broker_never_took(
    world, api, phantoms, model_version, monkeypatch, django_capture_on_commit_callbacks
):
    """Jobs launched while the broker was down stayed queued forever (issue 12, finding 12)."""
    from datetime import timedelta

    from django.utils import timezone

    from webapp.celery import app
    from webapp.detection import sweep

    calls: list[str] = []

    def broker_down(name, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        upload(api(world.coordinator), world.cohort_a, phantoms)
    jobs = list(DetectionJob.objects.filter(cohort=world.cohort_a))
    assert jobs and all(j.status == "queued" and j.sent_at is None for j in jobs)
    assert "the periodic sweep sends it again" in jobs[0].error
    assert not sweep.sweep_stale_jobs().resent  # too young: its launch may still be sending it
    monkeypatch.setattr(app, "send_task", lambda name, kwargs=None, **o: calls.append(kwargs["job_id"]))
    report = sweep.sweep_stale_jobs(now=timezone.now() + timedelta(minutes=2))
    assert sorted(calls) == sorted(j.pk for j in jobs) and len(report.resent) == len(jobs)
    assert all(j.sent_at is not None for j in DetectionJob.objects.filter(cohort=world.cohort_a))
    assert AuditEvent.objects.filter(action="detectionjob.resent").count() == len(jobs)
    assert not sweep.sweep_stale_jobs(now=timezone.now() + timedelta(minutes=4)).resent  # sent once


def test_a_starting_worker_sweeps_the_jobs_its_previous_process_left_running(screened, sent):
    """Whatever their heartbeat: a worker that has just started runs nothing yet. A cancel that
    was waiting for the lost worker is carried out."""
    from types import SimpleNamespace

    mine = _claimed(screened[0], "w1@host", 1, cancel_requested=True)
    other = _claimed(screened[1], "w2@host", 1)
    tasks.sweep_at_worker_start(sender=SimpleNamespace(hostname="w1@host"))
    mine.refresh_from_db()
    other.refresh_from_db()
    assert (mine.status, other.status) == ("cancelled", "running")
    assert "w1@host stopped reporting" in mine.error


def test_checkpoints_are_heartbeats(screened):
    job = _claimed(screened[0], "w@host", 3600)
    claims.Checkpoints(DetectionJob, job.pk, job.attempts)("global", 0.45)
    job.refresh_from_db()
    assert (timezone.now() - job.heartbeat_at).total_seconds() < 60 and job.stage == "global"


# --- the state machine and the database's guarantees --------------------------------------------
PAIRS = [(a, b) for a in JobStatus.values for b in JobStatus.values]


@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_only_legal_transitions_happen(world, current, target):
    version = ModelVersionFactory()
    job = DetectionJob.objects.create(study=world.study_a, model_version=version, status=current)
    legal = target in TRANSITIONS[current]
    if legal:
        job.transition_to(target)
        job.refresh_from_db()
        assert job.status == target
        assert (job.finished_at is not None) == (target in {"done", "failed", "cancelled"})
    else:
        with pytest.raises(IllegalTransition):
            job.transition_to(target)
        job.refresh_from_db()
        assert job.status == current


def test_terminal_states_have_no_way_out():
    assert all(not TRANSITIONS[s] for s in ("done", "failed", "cancelled"))
    assert TRANSITIONS["queued"] == {"running", "cancelled", "failed"}


def test_the_database_keeps_one_active_model_version():
    a = ModelVersionFactory(is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersionFactory(is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersionFactory(status="training", is_active=True)  # and only a ready one
    b = ModelVersionFactory()
    services.activate_model_version(None, b)
    a.refresh_from_db()
    assert (a.is_active, ModelVersion.objects.get(is_active=True)) == (False, b)


def test_the_database_keeps_one_live_job_and_one_result_per_study_and_model(world):
    version = ModelVersionFactory()
    DetectionJob.objects.create(study=world.study_a, model_version=version, status="failed")
    DetectionJob.objects.create(study=world.study_a, model_version=version, status="queued")
    with pytest.raises(IntegrityError), transaction.atomic():
        DetectionJob.objects.create(study=world.study_a, model_version=version, status="done")
    result = detection_result(world.study_b, version)
    with pytest.raises(IntegrityError), transaction.atomic():
        DetectionResult.objects.create(
            job=result.job,
            study=world.study_b,
            model_version=ModelVersionFactory(),
            series_instance_uid="1",
            global_score=0,
            local_score=0,
            fused_score=0,
            maps_directory="x",
        )


# --- calibration -------------------------------------------------------------------------------
@pytest.fixture
def calibration_cohort(world, api, phantoms) -> Cohort:
    cohort = CohortFactory(name="calib", purpose="calibration")
    CohortMemberFactory(cohort=cohort, user=world.coordinator)
    upload(api(world.admin), cohort, phantoms)
    labels = SimpleUploadedFile("labels.csv", phantoms.labels_csv.read_bytes())
    assert (
        api(world.admin)
        .post(f"/api/cohorts/{cohort.pk}/labels/", {"file": labels}, format="multipart")
        .status_code
        == 200
    )
    return cohort


def test_calibration_gives_roc_auc_and_operating_points_that_match_the_scores(
    world, api, calibration_cohort, model_version, sent
):
    r = api(world.admin).post(f"/api/cohorts/{calibration_cohort.pk}/calibrate/", {}, format="json")
    assert r.status_code == 202, r.content
    calibration = Calibration.objects.get(pk=r.json()["id"])
    assert calibration.model_version == model_version and calibration.status == "queued"
    assert runner.run_calibration(calibration.pk, "w") == "done"
    body = api(world.coordinator).get(f"/api/calibrations/{calibration.pk}/").json()
    assert body["status"] == "done" and (body["n_normal"], body["n_abnormal"], body["n_unreadable"]) == (
        2,
        1,
        0,
    )
    assert {row["source"] for row in body["per_study"]} == {"scored for this calibration"}
    y = np.array([row["label"] == "abnormal" for row in body["per_study"]], dtype=int)
    for branch in ("global", "local", "fused"):
        assert 0.0 <= body["auc"][branch] <= 1.0
        roc = body["roc"][branch]
        assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0 and roc["thresholds"][0] is None
        scores = np.array([row[f"{branch}_score"] for row in body["per_study"]])
        points = body["operating_points"][branch]
        assert set(points) == {"balanced", "high_sensitivity", "high_specificity"}
        for point in points.values():
            assert point == pytest.approx(sens_spec(y, scores, point["threshold"]))
        assert points["high_sensitivity"]["sensitivity"] >= 0.95
        assert points["high_specificity"]["specificity"] >= 0.95
    png = api(world.coordinator).get(body["roc_plot_url"])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert b"".join(png.streaming_content).startswith(b"\x89PNG")
    latest = api(world.admin).get("/api/calibrations/latest/").json()
    assert latest["id"] == calibration.pk

    # Every result of this model version now says what its fused score means.
    study_id = body["per_study"][0]["study_id"]
    job = DetectionJob.objects.create(study_id=study_id, model_version=model_version, queue="cpu")
    assert runner.run_detection(job.pk, "w") == "done"
    interpretation = api(world.coordinator).get(f"/api/studies/{study_id}/result/").json()["interpretation"]
    assert interpretation["calibration"] == calibration.pk
    balanced = interpretation["operating_points"]["balanced"]
    fused = job.result.fused_score
    assert balanced["call"] == ("positive" if fused >= balanced["threshold"] else "negative")
    rows = api(world.coordinator).get(f"/api/results/?cohort={calibration_cohort.pk}").json()["results"]
    assert rows[0]["calls"]["balanced"] == balanced["call"]


def test_calibration_reuses_stored_results_and_needs_both_labels(
    world, api, calibration_cohort, model_version, sent
):
    for study in Study.objects.filter(cohort_links__cohort=calibration_cohort):
        job = DetectionJob.objects.create(study=study, model_version=model_version, queue="cpu")
        runner.run_detection(job.pk, "w")
    calibration = services.launch_calibration(world.admin, calibration_cohort)
    runner.run_calibration(calibration.pk, "w")
    calibration.refresh_from_db()
    assert calibration.status == "done" and calibration.device == "none (stored results only)"
    assert all(row["source"].startswith("detection result") for row in calibration.per_study)
    screening = api(world.admin).post(f"/api/cohorts/{world.cohort_a.pk}/calibrate/", {}, format="json")
    assert screening.status_code == 400 and "labelled calibration cohort" in screening.json()["cohort"][0]
    unlabelled = api(world.admin).post(f"/api/cohorts/{world.cohort_b.pk}/calibrate/", {}, format="json")
    assert unlabelled.status_code == 400 and "0 normal and 0 abnormal" in unlabelled.json()["cohort"][0]


# --- model versions ----------------------------------------------------------------------------
def test_import_through_the_api_only_from_the_import_root(world, api, tiny_model_dir, settings, tmp_path):
    settings.MODEL_IMPORT_ROOT = tmp_path / "imports"
    (settings.MODEL_IMPORT_ROOT / "v1").mkdir(parents=True)
    for name in ("model.pt", "model.json"):
        (settings.MODEL_IMPORT_ROOT / "v1" / name).hardlink_to(tiny_model_dir / name)
    client = api(world.admin)
    r = client.post("/api/model-versions/import/", {"directory": "v1", "name": "first", "activate": True})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["is_active"] and body["status"] == "ready" and body["source"] == "imported"
    assert body["settings"]["local_cube_vox"] == 16 and body["training"]["n_normals"] == 3
    assert "normal_patient_ids" in body["meta"]["training"]  # admins see the whole model.json
    version = ModelVersion.objects.get(pk=body["id"])
    assert (version.path / "model.pt").is_file() and len(version.model_sha256) == 64
    # Radiologists see the version, not the training patients.
    seen = api(world.radiologist).get(f"/api/model-versions/{version.pk}/").json()
    assert "meta" not in seen and seen["training"]["n_normals"] == 3
    for directory, message in [
        (str(tiny_model_dir), "imported from under"),
        ("../outside", "imported from under"),
        ("missing", "no such directory"),
    ]:
        r = client.post("/api/model-versions/import/", {"directory": directory, "name": "x"})
        assert r.status_code == 400 and message in r.json()["directory"][0], r.content
    r = client.post("/api/model-versions/import/", {"directory": "v1", "name": "first"})
    assert r.status_code == 400 and "exists already" in r.json()["name"][0]
    (settings.MODEL_IMPORT_ROOT / "broken").mkdir()
    (settings.MODEL_IMPORT_ROOT / "broken" / "model.json").write_text(
        (tiny_model_dir / "model.json").read_text()
    )
    (settings.MODEL_IMPORT_ROOT / "broken" / "model.pt").write_bytes(b"not a model")
    r = client.post("/api/model-versions/import/", {"directory": "broken", "name": "broken"})
    assert r.status_code == 400 and "does not load" in r.json()["directory"][0]
    assert ModelVersion.objects.count() == 1


class _RunsCodeWhenUnpickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_importing_a_model_file_that_would_run_code_is_refused(
    world, api, tiny_model_dir, settings, tmp_path
):
    """Whoever can write under MODEL_IMPORT_ROOT must not run code in the web process (issue 12, 10)."""
    import torch

    settings.MODEL_IMPORT_ROOT = tmp_path / "imports"
    evil = settings.MODEL_IMPORT_ROOT / "evil"
    evil.mkdir(parents=True)
    (evil / "model.json").write_text((tiny_model_dir / "model.json").read_text())
    blob = torch.load(tiny_model_dir / "model.pt", map_location="cpu", weights_only=True)
    marker = tmp_path / "code-ran"
    blob["meta"]["payload"] = _RunsCodeWhenUnpickled(marker)
    torch.save(blob, evil / "model.pt")
    r = api(world.admin).post("/api/model-versions/import/", {"directory": "evil", "name": "evil"})
    assert r.status_code == 400 and "refused" in r.json()["directory"][0], r.content
    assert not marker.exists() and not ModelVersion.objects.exists()


def test_import_model_command_and_activation(world, api, tiny_model_dir, capsys):
    call_command("import_model", str(tiny_model_dir), "--name", "cmd-1")
    call_command("import_model", str(tiny_model_dir), "--name", "cmd-2", "--activate")
    out = capsys.readouterr().out
    assert "'cmd-1' imported" in out and "not active" in out and "'cmd-2' imported" in out
    assert ModelVersion.objects.get(is_active=True).name == "cmd-2"
    first = ModelVersion.objects.get(name="cmd-1")
    r = api(world.admin).post(f"/api/model-versions/{first.pk}/activate/")
    assert r.status_code == 200 and r.json()["is_active"]
    assert list(ModelVersion.objects.filter(is_active=True)) == [first]
    event = AuditEvent.objects.filter(action="model_version.activated").first()
    assert event.details == {"name": "cmd-1", "previous": ["cmd-2"]}
    with pytest.raises(Exception, match="exists already"):
        call_command("import_model", str(tiny_model_dir), "--name", "cmd-1")


def test_training_runs_and_reports_progress(
    world, api, phantoms, sent, django_capture_on_commit_callbacks, monkeypatch
):
    cohort = CohortFactory(name="normals", purpose="normal_reference")
    CohortMemberFactory(cohort=cohort, user=world.admin)
    upload(api(world.admin), cohort, phantoms, [1, 2])  # the two normals (A001 sorts first)
    with django_capture_on_commit_callbacks(execute=True):
        r = api(world.admin).post(
            "/api/model-versions/train/",
            {
                "cohort": cohort.pk,
                "name": "trained",
                "epochs": 1,
                "settings": tiny_settings_overrides(),
                "activate": True,
            },
        )
    assert r.status_code == 202, r.content
    job = TrainingJob.objects.get(pk=r.json()["id"])
    assert job.model_version.status == "training" and sent[0][:3] == (
        "detection.train_model_version",
        {"training_job_id": job.pk},
        "cpu",
    )
    stages: list[tuple[str, float]] = []

    def record(sender, stage, progress, **kwargs):
        stages.append((stage, progress))

    import detector.train as detector_train

    callbacks: list[tuple[str, float]] = []
    real_train = detector_train.train

    def train_watching_the_callback(*args, on_progress, **kwargs):
        assert kwargs["progress"] is False  # no tqdm bars in a worker: progress is the callback's
        return real_train(*args, **kwargs, on_progress=lambda *a: (callbacks.append(a), on_progress(*a)))

    monkeypatch.setattr(detector_train, "train", train_watching_the_callback)
    job_stage.connect(record, sender=TrainingJob, dispatch_uid="test-record")
    try:
        assert runner.run_training(job.pk, "w") == "done"
    finally:
        job_stage.disconnect(dispatch_uid="test-record", sender=TrainingJob)
    progress = [p for _, p in stages]
    assert progress == sorted(progress) and progress[0] == 0.01 and progress[-1] == 0.97
    # Every phase start and step came through the callback, and became the job's stage.
    names = [s for s, _ in callbacks]
    assert names[:11] == [
        "read + lung mask 0/2",
        "read + lung mask 1/2",
        "read + lung mask 2/2",
        *[f"global coreset banks {i}/6" for i in range(7)],
        "local training 0/1",
    ]
    assert names[11].startswith("local training 1/1 (loss ")
    # the default (fpi) realisation's normal reference: one step per training normal
    assert names[12:] == [f"local normal reference {i}/2" for i in range(3)]
    assert [f for _, f in callbacks] == sorted(f for _, f in callbacks)
    assert (callbacks[0][1], callbacks[-1][1]) == (0.0, 1.0)
    assert [s for s, _ in stages[1:-1]] == [s for s, _ in callbacks]
    assert [p for _, p in stages[1:-1]] == pytest.approx([0.02 + 0.93 * f for _, f in callbacks])
    job.refresh_from_db()
    version = job.model_version
    assert (job.status, job.progress, version.status, version.is_active) == ("done", 1.0, "ready", True)
    assert version.meta["training"]["n_normals"] == 2 and version.meta["training"]["epochs"] == 1
    assert version.detector_settings["local_cube_vox"] == 16 and (version.path / "model.pt").is_file()
    detail = api(world.admin).get(f"/api/model-versions/{version.pk}/").json()
    assert detail["training_job"]["status"] == "done" and detail["training_cohort"] == cohort.pk


def test_training_requests_are_checked(world, api, sent):
    from tests.webapp.factories import study_in_cohort

    client = api(world.admin)

    def refused(payload: dict, field: str, message: str) -> None:
        r = client.post("/api/model-versions/train/", payload, format="json")
        assert r.status_code == 400 and message in str(r.json()[field]), r.content

    refused({"cohort": world.cohort_a.pk, "name": "x"}, "cohort", "normal reference")
    refused({"cohort": world.cohort_b.pk, "name": "x"}, "cohort", "normal reference")
    normals = CohortFactory(purpose="normal_reference")
    study_in_cohort(normals)
    refused({"cohort": normals.pk, "name": "x"}, "cohort", "at least 2")
    study_in_cohort(normals)
    refused(
        {"cohort": normals.pk, "name": "x", "settings": {"no_such": 1}}, "settings", "unknown model setting"
    )
    refused({"cohort": normals.pk, "name": "x", "epochs": 0}, "epochs", "greater than or equal to 1")
    r = client.post(
        "/api/model-versions/train/", {"cohort": normals.pk, "name": "ok", "epochs": 1}, format="json"
    )
    assert r.status_code == 202 and ModelVersion.objects.get(name="ok").status == "training"
    refused({"cohort": normals.pk, "name": "ok"}, "name", "exists already")


def test_cancelling_queued_training_fails_its_model_version(world, api, sent, monkeypatch):
    monkeypatch.setattr(job_sending, "_revoke", lambda task_id: None)
    normals = CohortFactory(purpose="normal_reference")
    from tests.webapp.factories import study_in_cohort

    study_in_cohort(normals)
    study_in_cohort(normals)
    job = services.launch_training(world.admin, normals, name="to-cancel")
    r = api(world.admin).post(f"/api/training-jobs/{job.pk}/cancel/")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert ModelVersion.objects.get(name="to-cancel").status == "failed"
    r = api(world.admin).post(f"/api/model-versions/{job.model_version_id}/activate/")
    assert r.status_code == 409
