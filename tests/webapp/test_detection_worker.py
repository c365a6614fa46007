"""Detection through real ``celery -A webapp worker`` processes on PostgreSQL and Redis: upload ->
jobs -> worker -> results and maps over the API; training and calibration as worker jobs;
cancelling a running job; a worker killed with SIGKILL in the middle of a job."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.webapp.conftest import tiny_settings_overrides, zip_folder
from tests.webapp.workers import Worker, wait_for, worker_env
from webapp.detection.models import DetectionJob, DetectionResult
from webapp.operations.models import WorkerHeartbeat

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


@pytest.fixture(scope="module")
def main_worker(shared) -> Iterator[Worker]:
    """The worker on queue cpu, with the pause hook (paused only when a test asks)."""
    (shared["root"] / "pause-main").mkdir()
    env = worker_env(
        shared["root"] / "var", **shared["env"], FS_TEST_PAUSE_DIR=str(shared["root"] / "pause-main")
    )
    worker = Worker("main", env, shared["root"] / "main-worker.log", queues="cpu", hooks=True).wait_ready()
    yield worker
    log = worker.stop()
    assert "Traceback" not in log, log[-5000:]


def upload(client, cohort_id: int, phantoms, indices: list[int] | None = None) -> list[int]:
    dirs = phantoms.series_dirs if indices is None else [phantoms.series_dirs[i] for i in indices]
    zipped = SimpleUploadedFile("cohort.zip", zip_folder(dirs, phantoms.root))
    r = client.post(f"/api/cohorts/{cohort_id}/upload/", {"file": [zipped]}, format="multipart")
    assert r.status_code == 200, r.content[:300]
    return r.json()["study_ids"]


def finish_on_a_new_worker(name: str, env, shared, job) -> tuple[Worker, DetectionJob, str]:
    """Start a worker on the gpu queue, wait until it ends ``job``, then stop it."""
    worker = Worker(name, env, shared["root"] / f"{name}.log", "gpu").wait_ready()
    try:
        done = wait_for(
            lambda: DetectionJob.objects.filter(pk=job.pk, status__in=["done", "failed"]).first(),
            timeout=180,
            what=f"job {job.pk} to be ended by worker {name}",
        )
        time.sleep(3)  # a further delivery, if there were one, would show up now
        done.refresh_from_db()
    finally:
        log = worker.stop()
    return worker, done, log


def test_upload_detection_results_and_maps_through_the_worker(
    world, api, phantoms, main_worker, active_model
):
    coordinator = api(world.coordinator)
    # The worker says it is alive (the row /readyz reads), on the queue it serves.
    beat = wait_for(lambda: WorkerHeartbeat.objects.filter(name__startswith=main_worker.name).first())
    assert beat.queues == "cpu" and not beat.stopped
    zipped = SimpleUploadedFile("cohort.zip", zip_folder(phantoms.series_dirs, phantoms.root))
    r = coordinator.post(f"/api/cohorts/{world.cohort_a.pk}/upload/", {"file": [zipped]}, format="multipart")
    assert r.status_code == 200, r.content[:300]
    study_ids, request_id = r.json()["study_ids"], r["X-Request-ID"]
    assert len(study_ids) == 3

    def all_done():
        rows = coordinator.get(f"/api/jobs/?cohort={world.cohort_a.pk}").json()["results"]
        assert not [r for r in rows if r["status"] in {"failed", "cancelled"}], rows
        return rows if len(rows) == 3 and all(r["status"] == "done" for r in rows) else None

    jobs = wait_for(all_done, what="three detection jobs done by the worker")
    for job in jobs:
        assert job["worker"].startswith(main_worker.name) and job["device"] == "cpu" and job["queue"] == "cpu"
        assert job["progress"] == 1.0 and job["attempts"] == 1 and job["result"] is not None
        assert job["timings"]["total"] > 0 and "global" in job["timings"]
    one = api(world.radiologist).get(f"/api/studies/{study_ids[0]}/result/").json()
    assert one["model_version"]["name"] == "tiny" and np.isfinite(one["fused_score"]) and one["peaks"]
    shape = tuple(one["grid"]["shape_zyx"])
    for kind, info in one["maps"].items():
        r = api(world.radiologist).get(info["url"])
        raw = b"".join(r.streaming_content)
        assert r.status_code == 200 and len(raw) == 2 * int(np.prod(shape)), kind
        assert api(world.radiologist).get(info["url"], HTTP_IF_NONE_MATCH=r["ETag"]).status_code == 304
    assert DetectionResult.objects.count() == 3
    # The upload's request id reached the worker with the jobs it queued: every job step says so.
    steps = [line for line in main_worker.output().splitlines() if "webapp.jobs: job step" in line]
    for job in jobs:
        mine = [line for line in steps if f" job_id={job['id']} " in line]
        assert mine and all(f"request_id={request_id}" in line for line in mine), steps


def test_calibration_and_training_run_as_worker_jobs(world, api, phantoms, main_worker, media):
    admin = api(world.admin)
    # Training: a normal reference cohort of the two normal phantoms, one epoch, tiny settings.
    normals = admin.post(
        "/api/cohorts/", {"name": "normals", "purpose": "normal_reference"}, format="json"
    ).json()
    upload(admin, normals["id"], phantoms, [1, 2])
    r = admin.post(
        "/api/model-versions/train/",
        {
            "cohort": normals["id"],
            "name": "trained-by-worker",
            "epochs": 1,
            "settings": tiny_settings_overrides(),
            "activate": True,
        },
        format="json",
    )
    assert r.status_code == 202, r.content
    training = wait_for(
        lambda: (
            (j := admin.get(f"/api/training-jobs/{r.json()['id']}/").json())["status"] in {"done", "failed"}
            and j
        ),
        what="the training job",
    )
    assert training["status"] == "done", training
    assert training["progress"] == 1.0 and training["worker"].startswith(main_worker.name)
    version = admin.get(f"/api/model-versions/{training['model_version']}/").json()
    assert version["status"] == "ready" and version["is_active"] and version["training"]["n_normals"] == 2

    # Calibration with the model just trained, on the labelled phantom cohort.
    calib = admin.post("/api/cohorts/", {"name": "calib", "purpose": "calibration"}, format="json").json()
    upload(admin, calib["id"], phantoms)
    labels = SimpleUploadedFile("labels.csv", phantoms.labels_csv.read_bytes())
    assert (
        admin.post(f"/api/cohorts/{calib['id']}/labels/", {"file": labels}, format="multipart").status_code
        == 200
    )
    r = admin.post(f"/api/cohorts/{calib['id']}/calibrate/", {}, format="json")
    assert r.status_code == 202, r.content
    calibration = wait_for(
        lambda: (
            (c := admin.get(f"/api/calibrations/{r.json()['id']}/").json())["status"] in {"done", "failed"}
            and c
        ),
        what="the calibration",
    )
    assert calibration["status"] == "done", calibration
    assert calibration["model_version_name"] == "trained-by-worker"
    assert all(0.0 <= calibration["auc"][b] <= 1.0 for b in ("global", "local", "fused"))
    assert (calibration["n_normal"], calibration["n_abnormal"]) == (2, 1)
    assert admin.get(calibration["roc_plot_url"]).status_code == 200


def test_cancelling_a_running_job_stops_it_at_the_next_checkpoint(
    world, api, phantoms, main_worker, active_model, shared
):
    pause = shared["root"] / "pause-main"
    (pause / "pause-at-global").touch()
    coordinator = api(world.coordinator)
    upload(coordinator, world.cohort_a.pk, phantoms, [0])
    marker = wait_for(lambda: next(iter(pause.glob("paused-DetectionJob-*")), None), what="the job to pause")
    job_id = int(marker.name.split("-")[2])
    r = coordinator.post(f"/api/jobs/{job_id}/cancel/")
    assert r.status_code == 200 and r.json()["status"] == "running" and r.json()["cancel_requested"]
    marker.unlink()  # let the worker go on: it stops at the next checkpoint
    job = wait_for(
        lambda: (j := coordinator.get(f"/api/jobs/{job_id}/").json())["status"] != "running" and j,
        what="the job to stop",
    )
    assert job["status"] == "cancelled" and "stopped at local" in job["error"] and job["result"] is None
    assert not DetectionResult.objects.filter(job_id=job_id).exists()


def test_a_worker_killed_mid_job_leaves_it_to_another_worker_which_completes_it_once(
    world, api, phantoms, active_model, shared, settings
):
    """SIGKILL while the job runs: the message was never acknowledged, so Redis hands it to
    the next worker once the visibility timeout passes; the job is re-claimed and finished
    there, and exactly one result exists."""
    settings.DETECTION_QUEUE = "gpu"  # away from the main worker: these two workers own queue gpu
    pause = shared["root"] / "pause-kill"
    pause.mkdir()
    (pause / "pause-at-global").touch()
    fast_redelivery = {"CELERY_VISIBILITY_TIMEOUT": "4", "CELERY_UNACKED_RESTORE_INTERVAL": "1"}
    env = worker_env(shared["root"] / "var", **shared["env"], **fast_redelivery)
    first = Worker(
        "doomed", {**env, "FS_TEST_PAUSE_DIR": str(pause)}, shared["root"] / "doomed.log", "gpu", hooks=True
    )
    first.wait_ready()
    try:
        upload(api(world.coordinator), world.cohort_a.pk, phantoms, [0])
        marker = wait_for(
            lambda: next(iter(pause.glob("paused-DetectionJob-*")), None), what="the job to start"
        )
        job = DetectionJob.objects.get(pk=int(marker.name.split("-")[2]))
        assert (job.status, job.attempts, job.stage, job.queue) == ("running", 1, "global", "gpu")
        assert job.worker.startswith(first.name)
    finally:
        first.kill()
    assert first.proc.returncode == -9
    marker.unlink()
    second, done, log = finish_on_a_new_worker("rescuer", env, shared, job)
    assert done.status == "done", (done.error, log[-3000:])
    assert done.attempts == 2 and done.worker.startswith(second.name)
    assert DetectionResult.objects.filter(job=done).count() == 1
    assert DetectionResult.objects.filter(study=done.study).count() == 1
    result_dirs = sorted(p.name for p in (shared["media"] / "results" / f"job-{done.pk}").iterdir())
    assert result_dirs == ["attempt-2"]
    assert "Traceback" not in log, log[-3000:]


def test_a_job_left_running_by_a_killed_worker_is_swept_and_finished_once_by_the_next(
    world, api, phantoms, active_model, shared, settings
):
    """The file-system broker's case, on Redis with redelivery out of reach (the default
    visibility timeout is hours): SIGKILL mid-job leaves the job running with nobody on it; the
    sweep re-queues it, the next worker finishes it, and exactly one result exists."""
    from django.core.management import call_command

    from webapp.accounts.models import AuditEvent

    settings.DETECTION_QUEUE = "gpu"  # away from the main worker: these two workers own queue gpu
    pause = shared["root"] / "pause-sweep"
    pause.mkdir()
    (pause / "pause-at-local").touch()
    env = worker_env(shared["root"] / "var", **shared["env"])
    first = Worker(
        "lost", {**env, "FS_TEST_PAUSE_DIR": str(pause)}, shared["root"] / "lost.log", "gpu", hooks=True
    )
    first.wait_ready()
    try:
        upload(api(world.coordinator), world.cohort_a.pk, phantoms, [1])
        marker = wait_for(
            lambda: next(iter(pause.glob("paused-DetectionJob-*")), None), what="the job to start"
        )
        job = DetectionJob.objects.get(pk=int(marker.name.split("-")[2]))
        assert (job.status, job.attempts, job.stage) == ("running", 1, "local")
        assert job.heartbeat_at is not None and job.heartbeat_at >= job.started_at
    finally:
        first.kill()
    marker.unlink()

    call_command("sweep_jobs")  # the heartbeat is fresh: nothing to do yet
    job.refresh_from_db()
    assert job.status == "running"
    settings.DETECTION_JOB_STALE_AFTER = 1
    time.sleep(1.5)
    call_command("sweep_jobs")
    call_command("sweep_jobs")  # a second sweep finds nothing running: one re-queue, one message
    job.refresh_from_db()
    assert (job.status, job.stage, job.attempts) == ("queued", "re-queued", 1)
    assert "re-queued after attempt 1" in job.error and first.name in job.error
    audits = AuditEvent.objects.filter(action="detectionjob.requeued", object_id=str(job.pk))
    assert audits.count() == 1

    second, done, log = finish_on_a_new_worker("after-sweep", env, shared, job)
    assert done.status == "done", (done.error, log[-3000:])
    assert done.attempts == 2 and done.worker.startswith(second.name) and done.error == ""
    assert DetectionResult.objects.filter(job=done).count() == 1
    assert DetectionResult.objects.filter(study=done.study).count() == 1
    assert "Traceback" not in log, log[-3000:]
