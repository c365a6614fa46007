"""The detection flow on the embedded default (SQLite, file-system broker, media on local disk):
``manage.py import_model``, runserver and a real worker, all as subprocesses with nothing set."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error

import numpy as np
import pytest

from tests.webapp.conftest import zip_folder
from tests.webapp.test_embedded_and_deploy import (
    PY,
    REPO,
    clean_env,
    free_port,
    http,
    manage,
    multipart,
    stop,
)
from tests.webapp.workers import Worker

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


def test_embedded_default_detects_through_its_worker(tmp_path, phantoms, tiny_model_dir):
    var = tmp_path / "var"
    env = clean_env(var, DEMO_PASSWORD="embedded-demo-1")
    manage(env, "migrate", "--noinput")
    manage(env, "create_demo_users")
    out = manage(env, "import_model", str(tiny_model_dir), "--name", "tiny", "--activate").stdout
    assert "'tiny' imported" in out and "active" in out
    worker = Worker("embedded", env, tmp_path / "worker.log", queues="cpu").wait_ready()
    port = free_port()
    server = subprocess.Popen(
        [PY, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                http("GET", f"{base}/accounts/login/")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        status, body = http(
            "POST",
            f"{base}/api/auth/token/",
            json.dumps({"username": "coordinator", "password": "embedded-demo-1"}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200, body
        auth = {"Authorization": f"Token {json.loads(body)['token']}"}
        status, body = http(
            "POST",
            f"{base}/api/cohorts/",
            json.dumps({"name": "screening", "purpose": "screening"}).encode(),
            {**auth, "Content-Type": "application/json"},
        )
        cohort = json.loads(body)["id"]
        # One study: the flow is what is under test here (three go through the PostgreSQL one).
        data, content_type = multipart([("study.zip", zip_folder(phantoms.series_dirs[:1], phantoms.root))])
        status, body = http(
            "POST", f"{base}/api/cohorts/{cohort}/upload/", data, {**auth, "Content-Type": content_type}
        )
        assert status == 200, body
        study_ids = json.loads(body)["study_ids"]

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            jobs = json.loads(http("GET", f"{base}/api/jobs/?cohort={cohort}", headers=auth)[1])["results"]
            assert not [j for j in jobs if j["status"] in {"failed", "cancelled"}], jobs
            if len(jobs) == 1 and jobs[0]["status"] == "done":
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"jobs not done: {jobs}\n{worker.output()[-3000:]}")
        assert {j["worker"].split("@")[0] for j in jobs} == {worker.name}

        status, body = http("GET", f"{base}/api/studies/{study_ids[0]}/result/", headers=auth)
        assert status == 200, body
        result = json.loads(body)
        shape = result["grid"]["shape_zyx"]
        status, raw = http("GET", base + result["maps"]["fused"]["url"], headers=auth)
        assert status == 200 and len(raw) == 2 * int(np.prod(shape))
        info = result["maps"]["fused"]
        fused = info["offset"] + np.frombuffer(raw, "<u2").reshape(shape) * info["scale"]
        assert fused.min() >= 0.0 and fused.max() <= 1.0 + 1e-3
    finally:
        log = stop(server)
        worker_log = worker.stop()
    assert "Traceback" not in log, log
    assert "Traceback" not in worker_log, worker_log[-3000:]
