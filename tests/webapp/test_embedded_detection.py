"""The detection flow on the embedded default (SQLite, file-system broker, media on local disk):
``manage.py import_model``, runserver and a real worker, all as subprocesses with nothing set;
then the reading flow on its results: worklist built and assigned, items read in triage order."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest

from tests.webapp.conftest import zip_folder
from tests.webapp.reading import read_body_from_label
from tests.webapp.test_embedded_and_deploy import (
    clean_env,
    http,
    manage,
    multipart,
    start_site,
    stop,
    token_auth,
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
    try:
        server, base = start_site(env)
    except BaseException:
        worker.stop()
        raise
    try:
        auth = token_auth(base, "coordinator", "embedded-demo-1")
        status, body = http(
            "POST",
            f"{base}/api/cohorts/",
            json.dumps({"name": "screening", "purpose": "screening"}).encode(),
            {**auth, "Content-Type": "application/json"},
        )
        cohort = json.loads(body)["id"]
        # Two studies (the abnormal phantom and a normal one), so the worklist has an order to
        # check; the PostgreSQL flow covers three.
        data, content_type = multipart([("study.zip", zip_folder(phantoms.series_dirs[:2], phantoms.root))])
        status, body = http(
            "POST", f"{base}/api/cohorts/{cohort}/upload/", data, {**auth, "Content-Type": content_type}
        )
        assert status == 200, body
        study_ids = json.loads(body)["study_ids"]

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            jobs = json.loads(http("GET", f"{base}/api/jobs/?cohort={cohort}", headers=auth)[1])["results"]
            assert not [j for j in jobs if j["status"] in {"failed", "cancelled"}], jobs
            if len(jobs) == 2 and {j["status"] for j in jobs} == {"done"}:
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

        coordinator_assigns_and_radiologist_reads(base, auth, cohort, study_ids, phantoms.labels_csv, env)
    finally:
        log = stop(server)
        worker_log = worker.stop()
    assert "Traceback" not in log, log
    assert "Traceback" not in worker_log, worker_log[-3000:]


def coordinator_assigns_and_radiologist_reads(
    base: str, coordinator: dict, cohort: int, study_ids: list[int], labels_csv, env: dict
) -> None:
    """The coordinator builds a worklist from the cohort's results and assigns it to the demo
    radiologist, who reads every item in triage order; the reads are in the SQLite database."""

    def call(method: str, path: str, auth: dict, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        status, raw = http(method, base + path, data, {**auth, "Content-Type": "application/json"})
        return status, json.loads(raw) if raw else {}

    status, body = call("POST", f"/api/cohorts/{cohort}/members/", coordinator, {"username": "radiologist"})
    assert status == 201, body
    status, worklist = call(
        "POST",
        "/api/worklists/",
        coordinator,
        {"name": "embedded", "cohort": cohort, "readers": ["radiologist"], "blinded": False},
    )
    assert status == 201, worklist
    assert worklist["item_count"] == len(study_ids) and worklist["readers"] == ["radiologist"]

    radiologist = token_auth(base, "radiologist", "embedded-demo-1")
    status, listed = call("GET", "/api/worklists/", radiologist)
    assert [w["id"] for w in listed["results"]] == [worklist["id"]]
    rows = call("GET", f"/api/worklists/{worklist['id']}/items/", radiologist)[1]["results"]
    assert sorted(row["study"] for row in rows) == sorted(study_ids)
    stored = {
        row["study"]: call("GET", f"/api/studies/{row['study']}/result/", coordinator)[1]["fused_score"]
        for row in rows
    }
    assert [row["fused_score"] for row in rows] == sorted(stored.values(), reverse=True)
    assert all(row["fused_score"] == pytest.approx(stored[row["study"]]) for row in rows)

    truth = {row["study_instance_uid"]: row for row in csv.DictReader(labels_csv.open())}
    expected = {}
    for row in rows:
        status, item = call("GET", f"/api/worklist-items/{row['id']}/", radiologist)
        assert status == 200 and item["my_read"] is None, item
        status, progress = call("POST", f"/api/worklist-items/{row['id']}/start/", radiologist)
        assert status == 200 and progress["status"] == "in_progress", progress
        body = read_body_from_label(truth[item["study_instance_uid"]], comment=f"read of {row['study']}")
        status, read = call("POST", f"/api/worklist-items/{row['id']}/read/", radiologist, body)
        assert status == 201, read
        assert (read["verdict"], read["reader"], read["fused_score"]) == (
            body["verdict"],
            "radiologist",
            pytest.approx(row["fused_score"]),
        )
        expected[row["id"]] = body
    assert {b["verdict"] for b in expected.values()} == {"normal", "abnormal"}
    mine = call("GET", f"/api/worklists/{worklist['id']}/", radiologist)[1]["mine"]
    assert mine == {"read": len(rows), "in_progress": 0, "unread": 0}

    # Stored: read back from the embedded SQLite database by another process.
    dump = manage(
        env,
        "shell",
        "-c",
        "import json; from webapp.worklists.models import Read; "
        "print(json.dumps([[r.item_id, r.reader.username, r.verdict, r.lesion_marks, r.comment] "
        "for r in Read.objects.filter(is_current=True)]))",
    ).stdout
    reads = {item: rest for item, *rest in json.loads(dump.strip().splitlines()[-1])}
    assert set(reads) == set(expected)
    for item_id, body in expected.items():
        reader, verdict, marks, comment = reads[item_id]
        assert (reader, verdict, comment) == ("radiologist", body["verdict"], body["comment"])
        wanted = [c for m in body.get("lesion_marks", []) for c in m["center_lps_mm"]]
        assert [c for m in marks for c in m["center_lps_mm"]] == pytest.approx(wanted)
