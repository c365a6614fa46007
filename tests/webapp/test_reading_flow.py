"""End to end through the API with the worker's code run in this process: phantom CT uploaded
into a screening cohort -> detection -> calibration on a labelled cohort -> worklist -> assigned
-> the radiologist opens and reads every item -> the admin's agreement table counts the reads.
Plus the agreement arithmetic (Cohen's kappa) on known tables."""

from __future__ import annotations

import csv

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.webapp.conftest import zip_folder
from tests.webapp.reading import read_body_from_label
from webapp.detection import runner
from webapp.detection.models import Calibration, DetectionJob
from webapp.worklists.review import cohens_kappa

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.mark.parametrize(
    ("table", "kappa"),
    [
        ((20, 5, 10, 15), 0.4),  # po 0.7, pe 0.5
        ((10, 0, 0, 10), 1.0),
        ((0, 10, 10, 0), -1.0),
        ((5, 0, 0, 0), None),  # one class only: chance agreement is 1
        ((0, 0, 0, 0), None),
    ],
)
def test_cohens_kappa(table, kappa):
    value = cohens_kappa(*table)
    assert value == pytest.approx(kappa) if kappa is not None else value is None


def test_upload_detect_calibrate_build_assign_read_and_review(
    world, api, phantoms, model_version, monkeypatch
):
    from webapp.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)  # the jobs run below, in this process
    coordinator, radiologist, admin = api(world.coordinator), api(world.radiologist), api(world.admin)

    # 1. Upload the phantom cohort into screening cohort A: the ingest queues one job per study.
    archive = SimpleUploadedFile("cohort.zip", zip_folder(phantoms.series_dirs, phantoms.root))
    r = coordinator.post(f"/api/cohorts/{world.cohort_a.pk}/upload/", {"file": [archive]}, format="multipart")
    assert r.status_code == 200 and r.json()["rejected"] == 0
    study_ids = r.json()["study_ids"]
    jobs = list(DetectionJob.objects.filter(study_id__in=study_ids).order_by("pk"))
    assert len(jobs) == 3

    # 2. Detection, as a worker would run it.
    for job in jobs:
        assert runner.run_detection(job.pk, "flow-worker") == "done"
    progress = coordinator.get(f"/api/jobs/?cohort={world.cohort_a.pk}").json()["results"]
    assert {j["status"] for j in progress if j["study"] in study_ids} == {"done"}

    # 3. Calibration on labelled cohort B (the same studies, their labels): reuses the results.
    archive.seek(0)
    assert (
        admin.post(
            f"/api/cohorts/{world.cohort_b.pk}/upload/", {"file": [archive]}, format="multipart"
        ).status_code
        == 200
    )
    labels = SimpleUploadedFile("labels.csv", phantoms.labels_csv.read_bytes())
    assert (
        admin.post(
            f"/api/cohorts/{world.cohort_b.pk}/labels/", {"file": labels}, format="multipart"
        ).status_code
        == 200
    )
    r = admin.post(f"/api/cohorts/{world.cohort_b.pk}/calibrate/", {}, format="json")
    assert r.status_code == 202
    assert runner.run_calibration(r.json()["id"], "flow-worker") == "done"
    calibration = Calibration.objects.get(pk=r.json()["id"])
    threshold = calibration.operating_points["fused"]["balanced"]["threshold"]

    # 4. The coordinator builds the worklist from A's results and assigns it to the radiologist.
    r = coordinator.post(
        "/api/worklists/",
        {"name": "flow", "cohort": world.cohort_a.pk, "readers": ["rad"], "blinded": False},
        format="json",
    )
    assert r.status_code == 201, r.content
    worklist = r.json()
    assert worklist["item_count"] == 3  # world.study_a has no result and is left out

    # 5. The radiologist reads every item in triage order, marking the lesion where the labels put it.
    rows = radiologist.get(f"/api/worklists/{worklist['id']}/items/").json()["results"]
    scores = [row["fused_score"] for row in rows]
    assert scores == sorted(scores, reverse=True)
    truth = {row["study_instance_uid"]: row for row in csv.DictReader(phantoms.labels_csv.open())}
    item_id = rows[0]["id"]
    read_ids = []
    while item_id is not None:
        item = radiologist.get(f"/api/worklist-items/{item_id}/").json()
        assert radiologist.post(f"/api/worklist-items/{item_id}/start/").json()["status"] == "in_progress"
        body = read_body_from_label(truth[item["study_instance_uid"]])
        r = radiologist.post(f"/api/worklist-items/{item_id}/read/", body, format="json")
        assert r.status_code == 201, r.content
        read = r.json()
        assert read["threshold"] == pytest.approx(threshold) and read["calibration"] == calibration.pk
        assert read["ai_call"] == ("positive" if item["fused_score"] >= threshold else "negative")
        read_ids.append(read["id"])
        item_id = item["next"]
    assert len(read_ids) == 3
    mine = radiologist.get(f"/api/worklists/{worklist['id']}/").json()["mine"]
    assert mine == {"read": 3, "in_progress": 0, "unread": 0}

    # 6. The admin's agreement table counts the three reads against the balanced threshold.
    body = admin.get(f"/api/review/agreement/?cohort={world.cohort_a.pk}").json()
    (row,) = body["rows"]
    expected = {"both_positive": 0, "ai_only": 0, "reader_only": 0, "both_negative": 0}
    for r in rows:
        ai = r["fused_score"] >= threshold
        reader = truth[r["study_instance_uid"]]["label"] == "abnormal"
        key = {(True, True): "both_positive", (True, False): "ai_only", (False, True): "reader_only"}.get(
            (ai, reader), "both_negative"
        )
        expected[key] += 1
    assert {k: row[k] for k in expected} == expected
    assert (row["reads"], row["compared"], row["model_version"], row["cohort"]) == (3, 3, "tiny", "A")
    kappa = cohens_kappa(*expected.values())
    assert row["kappa"] == (pytest.approx(kappa) if kappa is not None else None)
    assert len(body["disagreements"]) == expected["ai_only"] + expected["reader_only"]
    client = Client()  # the page renders the same table
    client.force_login(world.admin)
    html = client.get("/review/").content.decode()
    assert "tiny" in html and f"{row['percent_agreement']:.1f} %" in html
