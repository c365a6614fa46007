"""The loopback cluster (issue 15): deploy/cluster.sh brings up nginx -> gunicorn, two Celery
workers and a beat on the PostgreSQL and Redis of this machine, in production settings; four
clients upload 24 phantom studies into two cohorts at once through nginx; one worker is killed
with SIGKILL in the middle of a job; every study ends with exactly one result, no request gets a
5xx; then 20 clients read the worklist at once. Bounded: about 300 requests, a few minutes."""

from __future__ import annotations

import csv
import os
import signal
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from deploy.cluster_client import Client, Cluster, alive, free_ports, percentile, zip_series

pytestmark = pytest.mark.slow
PASSWORD = "cluster-test-password-7Q"
STUDIES = 24
READERS = 20
READS_EACH = 10


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> tuple[Path, list[Path]]:
    """The phantoms' folder and one series folder per study."""
    from detector.lab.phantom import generate_cohort

    root = tmp_path_factory.mktemp("cluster-phantoms")
    labels = generate_cohort(root, STUDIES // 2, STUDIES // 2, 5150, "tiny", progress=False)
    return root, [root / row["folder"] for row in csv.DictReader(labels.open())]


@pytest.fixture(scope="module")
def cluster(tiny_model_dir) -> Cluster:
    # Not under pytest's 0700 temporary folder: nginx's unprivileged workers read static and media.
    directory = Path(tempfile.mkdtemp(prefix="fusionscreen-cluster-"))
    cluster = Cluster(
        directory,
        f"fs_cluster_test_{os.getpid()}",
        free_ports(3),
        workers=2,
        DRAIN_S="5",
        # A killed worker's unacknowledged job goes back to the queue within seconds, not hours.
        CELERY_VISIBILITY_TIMEOUT="30",
        CELERY_UNACKED_RESTORE_INTERVAL="2",
        DEMO_PASSWORD=PASSWORD,
        TWO_FACTOR_FOR_ADMINS="1",
    )
    try:
        cluster.run("up")
        cluster.run("manage", "create_demo_users")
        cluster.run("manage", "import_model", str(tiny_model_dir), "--name", "tiny", "--activate")
        yield cluster
    finally:
        pids = [cluster.pid(p) for p in ("web", "worker-1", "worker-2", "beat", "nginx")]
        cluster.run("purge")
        assert not [p for p in pids if p and alive(p)], "processes left running after purge"
        assert not directory.exists()


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_uploads_a_killed_worker_and_concurrent_readers_through_nginx(cluster, studies):
    coordinator = cluster.client().sign_in("coordinator", PASSWORD)
    ready = coordinator.get("/readyz").json()
    assert ready["status"] == "ok", ready  # database, broker, media, two workers' heartbeats, the model
    cohorts = []
    for name in ("cluster A", "cluster B"):
        answer = coordinator.post_json("/api/cohorts/", {"name": name, "purpose": "screening"})
        assert answer.status == 201, answer.body
        cohorts.append(answer.json()["id"])
        member = coordinator.post_json(f"/api/cohorts/{cohorts[-1]}/members/", {"username": "radiologist"})
        assert member.status == 201, member.body

    # Four clients upload six studies each at once, two into each cohort.
    root, series = studies
    batches = [series[i::4] for i in range(4)]
    uploaded: dict[int, list[int]] = {c: [] for c in cohorts}
    errors: list[str] = []

    def upload(index: int) -> None:
        cohort = cohorts[index % 2]
        try:
            client = cluster.client().sign_in("coordinator", PASSWORD)
            answer = client.upload_zip(cohort, zip_series(batches[index], root))
        except Exception as e:  # reported by the test, not lost in a thread
            errors.append(f"upload {index}: {e!r}")
            return
        if answer.status != 200:
            errors.append(f"upload {index}: {answer.status} {answer.body[:300]!r}")
        else:
            uploaded[cohort].extend(answer.json()["study_ids"])

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()

    # SIGKILL the worker of the first job seen running, in the middle of its work.
    def running_job():
        assert not errors, errors
        for cohort in cohorts:
            for job in coordinator.all_pages(f"/api/jobs/?cohort={cohort}&status=running"):
                if job["worker"]:
                    return job
        return None

    victim = wait_until(running_job, 300, "a detection job to run")
    worker = "worker-" + victim["worker"].split("@")[0].split("-")[1]
    os.kill(cluster.pid(worker), signal.SIGKILL)
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    all_ids = sorted(uploaded[cohorts[0]] + uploaded[cohorts[1]])
    assert len(all_ids) == len(set(all_ids)) == STUDIES
    time.sleep(2)
    cluster.run("up")  # like systemd's Restart=always: the killed worker comes back

    def all_done():
        jobs = [j for c in cohorts for j in coordinator.all_pages(f"/api/jobs/?cohort={c}")]
        assert not [j for j in jobs if j["status"] in {"failed", "cancelled"}], jobs
        return jobs if len(jobs) == STUDIES and all(j["status"] == "done" for j in jobs) else None

    jobs = wait_until(all_done, 900, "every detection job to finish")
    assert sorted(j["study"] for j in jobs) == all_ids  # one job per study
    killed = next(j for j in jobs if j["id"] == victim["id"])
    assert killed["attempts"] >= 2, killed  # delivered again after the kill, finished once
    results = [r for c in cohorts for r in coordinator.all_pages(f"/api/results/?cohort={c}")]
    assert sorted(r["study"] for r in results) == all_ids  # exactly one result per study

    # nginx sends a stored map (sendfile) with the app's headers; it is the map the API describes.
    one = coordinator.get(f"/api/studies/{all_ids[0]}/result/").json()
    kind, info = next(iter(one["maps"].items()))
    sent = coordinator.get(info["url"], **{"Accept-Encoding": "deflate"})
    assert sent.status == 200 and sent.headers["content-encoding"] == "deflate"
    shape = [int(v) for v in sent.headers["x-map-shape"].split(",")]
    assert shape == one["grid"]["shape_zyx"] and sent.headers["etag"].startswith('"')
    assert len(zlib.decompress(sent.body)) == 2 * int(np.prod(shape))
    assert (
        coordinator.get(
            info["url"], **{"Accept-Encoding": "deflate", "If-None-Match": sent.headers["etag"]}
        ).status
        == 304
    )
    # A DICOM instance, sent by nginx after the app checked access: the stored bytes.
    uid = one["study_instance_uid"]
    instance = coordinator.get(f"/dicomweb/studies/{uid}/instances", Accept="application/dicom+json").json()[
        0
    ]
    series_uid, sop_uid = instance["0020000E"]["Value"][0], instance["00080018"]["Value"][0]
    dicom = coordinator.get(
        f"/dicomweb/studies/{uid}/series/{series_uid}/instances/{sop_uid}", Accept="application/dicom"
    )
    assert dicom.status == 200 and dicom.headers["content-type"] == "application/dicom"
    assert dicom.body[128:132] == b"DICM" and "attachment" in dicom.headers["content-disposition"]
    # The viewer's WebAssembly decoders, as static files with their MIME type.
    static = cluster.directory / "data" / "static"
    wasm = next(static.rglob("*.wasm"))
    decoder = coordinator.get(f"/static/{wasm.relative_to(static).as_posix()}")
    assert decoder.status == 200 and decoder.headers["content-type"] == "application/wasm"
    assert decoder.body == wasm.read_bytes()
    # Security headers that nginx adds to the files it sends agree with the app's own.
    page = coordinator.get("/accounts/login/")
    for header in (
        "strict-transport-security",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
    ):
        assert sent.headers[header] == page.headers[header], header

    # The worklist, read by 20 clients at once.
    built = coordinator.post_json(
        "/api/worklists/", {"cohort": cohorts[0], "name": "cluster reading", "readers": ["radiologist"]}
    )
    assert built.status == 201, built.body
    worklist = built.json()["id"]
    readers = [cluster.client().sign_in("radiologist", PASSWORD) for _ in range(READERS)]
    seen: list[int] = []
    before = len(cluster.log.rows)

    def read(client: Client) -> None:
        for _ in range(READS_EACH):
            answer = client.get(f"/api/worklists/{worklist}/items/")
            seen.append(answer.status)

    threads = [threading.Thread(target=read, args=(c,)) for c in readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert seen == [200] * (READERS * READS_EACH)
    latencies = [row[3] for row in cluster.log.rows[before:]]
    print(
        f"worklist under {READERS} readers: p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p95 {percentile(latencies, 95) * 1000:.0f} ms over {len(latencies)} requests"
    )

    assert cluster.log.server_errors() == []
    assert len(cluster.log.rows) < 600  # bounded
    access = (cluster.directory / "logs" / "nginx-access.log").read_text().splitlines()
    assert access and not [line for line in access if '"status":5' in line], "nginx answered a 5xx"
