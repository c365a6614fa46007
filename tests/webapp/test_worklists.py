"""Worklists and reads through the API: building, assigning, the triage order, opening an item,
recording a read and what a read refuses (bad coordinates, negative time, an item that is not
yours, a second read without amend_reason), and the audit rows they leave."""

from __future__ import annotations

import pytest

from tests.webapp.reading import BALANCED, Reading, make_reading, read_body
from webapp.accounts.models import AuditEvent
from webapp.worklists.models import ItemProgress, Read, Worklist

pytestmark = pytest.mark.django_db


@pytest.fixture
def reading(world) -> Reading:
    return make_reading(world)


def test_a_coordinator_builds_a_worklist_of_the_cohorts_results_and_assigns_it(world, reading, api):
    client = api(world.coordinator)
    r = client.post(
        "/api/worklists/",
        {"name": "second look", "cohort": world.cohort_a.pk, "readers": ["rad", "rad2"]},
        format="json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["item_count"], body["readers"], body["cohort_name"]) == (3, ["rad", "rad2"], "A")
    assert body["model_version_name"] == "reading-model"
    assert AuditEvent.objects.filter(action="worklist.built", object_id=str(body["id"])).exists()
    assert AuditEvent.objects.get(action="worklist.assigned", object_id=str(body["id"])).details == {
        "readers": ["rad", "rad2"]
    }
    # A chosen subset.
    study_ids = [reading.items_a[0].study_id]
    r = client.post(
        "/api/worklists/", {"name": "one", "cohort": world.cohort_a.pk, "study_ids": study_ids}, format="json"
    )
    assert r.status_code == 201 and r.json()["item_count"] == 1


def test_building_says_what_is_wrong(world, reading, api):
    client = api(world.coordinator)

    def build(**body):
        return client.post(
            "/api/worklists/", {"name": "x", "cohort": world.cohort_a.pk, **body}, format="json"
        )

    r = build(study_ids=[world.study_b.pk])
    assert r.status_code == 400 and "not studies of cohort 'A'" in r.json()["study_ids"][0]
    from tests.webapp.factories import study_in_cohort

    pending = study_in_cohort(world.cohort_a)
    r = build(study_ids=[pending.pk])
    assert r.status_code == 400 and "no finished detection result" in r.json()["study_ids"][0]
    r = build(readers=["coord-b"])
    assert r.status_code == 400 and "not a radiologist" in r.json()["readers"][0]
    r = build(readers=["rad-b"])
    assert r.status_code == 400 and "not a member of cohort 'A'" in r.json()["readers"][0]
    assert Worklist.objects.count() == 2  # nothing half-built: only the fixture's two
    assert (
        client.post("/api/worklists/", {"name": "x", "cohort": world.cohort_b.pk}, format="json").status_code
        == 404
    )


def test_the_radiologist_sees_their_items_in_triage_order_with_their_status(world, reading, api):
    client = api(world.radiologist)
    listed = client.get("/api/worklists/").json()["results"]
    assert [w["id"] for w in listed] == [reading.worklist_a.pk]
    assert listed[0]["mine"] == {"read": 0, "in_progress": 0, "unread": 3}
    rows = client.get(f"/api/worklists/{reading.worklist_a.pk}/items/").json()["results"]
    assert [row["fused_score"] for row in rows] == [0.9, 0.7, 0.3]
    assert [row["calls"]["balanced"] for row in rows] == ["positive", "positive", "negative"]
    assert {row["status"] for row in rows} == {"unread"}
    assert rows[0]["viewer_url"] == f"/viewer/studies/{rows[0]['study']}/?item={rows[0]['id']}"
    assert AuditEvent.objects.get(action="worklist.items_listed").details["study_ids"] == [
        r["study"] for r in rows
    ]
    # The other radiologist of cohort A is not assigned: no worklist, no items.
    other = api(reading.other_radiologist)
    assert other.get("/api/worklists/").json()["results"] == []
    assert other.get(f"/api/worklists/{reading.worklist_a.pk}/items/").status_code == 404


def test_start_then_read_moves_the_status_and_records_what_the_ai_showed(world, reading, api):
    client = api(world.radiologist)
    first, second, third = reading.items_a
    detail = client.get(f"/api/worklist-items/{second.pk}/").json()
    assert (detail["previous"], detail["next"], detail["next_unread"]) == (first.pk, third.pk, first.pk)
    assert detail["position"] == 2 and detail["status"] == "unread" and detail["my_read"] is None
    assert detail["interpretation"]["operating_points"]["balanced"]["threshold"] == BALANCED
    r = client.post(f"/api/worklist-items/{first.pk}/start/")
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    assert client.get(f"/api/worklist-items/{first.pk}/").json()["status"] == "in_progress"
    r = client.post(f"/api/worklist-items/{first.pk}/read/", read_body(), format="json")
    assert r.status_code == 201, r.content
    read = r.json()
    assert (read["verdict"], read["version"], read["is_current"]) == ("abnormal", 1, True)
    assert read["model_version_name"] == "reading-model" and read["fused_score"] == 0.9
    assert (read["operating_point"], read["threshold"], read["ai_call"]) == ("balanced", BALANCED, "positive")
    assert read["calibration"] == reading.calibration.pk
    assert read["reading_seconds"] == 42.5 and read["server_seconds"] >= 0
    assert read["lesion_marks"] == [
        {"center_lps_mm": [2.0, 1.5, 2.0], "diameter_mm": 6.0, "comment": "spiculated"}
    ]
    detail = client.get(f"/api/worklist-items/{first.pk}/").json()
    assert detail["status"] == "read" and detail["my_read"]["id"] == read["id"]
    assert detail["next_unread"] == second.pk
    mine = client.get(f"/api/worklists/{reading.worklist_a.pk}/").json()["mine"]
    assert mine == {"read": 1, "in_progress": 0, "unread": 2}
    event = AuditEvent.objects.get(action="worklist_item.read")
    assert event.actor == world.radiologist and event.details["verdict"] == "abnormal"
    assert AuditEvent.objects.filter(action="worklist_item.started", object_id=str(first.pk)).exists()
    # A custom operating point: the reader's own threshold.
    r = client.post(
        f"/api/worklist-items/{third.pk}/read/",
        read_body(verdict="normal", lesion_marks=[], operating_point="custom", threshold=0.25),
        format="json",
    )
    assert r.status_code == 201 and (r.json()["threshold"], r.json()["ai_call"]) == (0.25, "positive")
    assert r.json()["server_seconds"] is None  # never opened with start


def test_a_second_read_is_refused_unless_it_amends_the_first(world, reading, api):
    client = api(world.radiologist)
    item = reading.items_a[0]
    url = f"/api/worklist-items/{item.pk}/read/"
    first = client.post(url, read_body(), format="json").json()
    r = client.post(url, read_body(verdict="normal", lesion_marks=[]), format="json")
    assert r.status_code == 409 and "amend_reason" in r.json()["detail"]
    r = client.post(
        url,
        read_body(verdict="normal", lesion_marks=[], amend_reason="artefact, not a nodule"),
        format="json",
    )
    assert r.status_code == 201
    second = r.json()
    assert (second["version"], second["supersedes"], second["verdict"]) == (2, first["id"], "normal")
    assert list(Read.objects.filter(item=item).order_by("version").values_list("is_current", flat=True)) == [
        False,
        True,
    ]
    assert (
        AuditEvent.objects.get(action="worklist_item.read_amended").details["amend_reason"]
        == "artefact, not a nodule"
    )
    r = client.post(
        f"/api/worklist-items/{reading.items_a[1].pk}/read/",
        read_body(amend_reason="nothing to amend"),
        format="json",
    )
    assert r.status_code == 400 and "no read of yours to amend" in r.json()["amend_reason"][0]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (read_body(reading_seconds=-1), "reading_seconds", "from 0 to"),
        (read_body(reading_seconds=10**6), "reading_seconds", "from 0 to"),
        (read_body(verdict="maybe"), "verdict", "valid choice"),
        (
            read_body(lesion_marks=[{"center_lps_mm": [500.0, 0.0, 0.0]}]),
            "lesion_marks",
            "outside the scanned volume",
        ),
        (read_body(lesion_marks=[{"center_lps_mm": [1.0, 2.0]}]), "lesion_marks", ""),
        (
            read_body(lesion_marks=[{"center_lps_mm": [1.0, 1.0, 1.0], "diameter_mm": -3}]),
            "lesion_marks",
            "diameter_mm",
        ),
        (read_body(verdict="normal"), "lesion_marks", "a normal read has no lesion marks"),
        (read_body(operating_point="custom"), "threshold", "needs its threshold"),
        (read_body(threshold=0.123), "threshold", "is not the balanced threshold"),
        (read_body(operating_point="strict"), "operating_point", "valid choice"),
        (read_body(result=999999), "result", "not a result of this study"),
        (read_body(comment="x" * 6000), "comment", "at most"),
    ],
)
def test_a_bad_read_is_refused_with_the_field_and_why(world, reading, api, body, field, message):
    r = api(world.radiologist).post(f"/api/worklist-items/{reading.items_a[0].pk}/read/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json() and message in str(r.json()[field])
    assert not Read.objects.exists()


def test_only_the_assigned_radiologist_reads_an_item(world, reading, api):
    item = reading.items_a[0]
    for user, status in (
        (reading.other_radiologist, 404),  # same cohort, not assigned: the item is not theirs to see
        (reading.radiologist_b, 404),  # another cohort
        (world.coordinator, 403),  # sees the item, cannot read
        (world.admin, 403),
    ):
        client = api(user)
        assert (
            client.post(f"/api/worklist-items/{item.pk}/read/", read_body(), format="json").status_code
            == status
        )
        assert client.post(f"/api/worklist-items/{item.pk}/start/").status_code == status
    assert not Read.objects.exists() and not ItemProgress.objects.exists()


def test_coordinators_follow_progress_without_seeing_the_verdicts(world, reading, api):
    api(world.radiologist).post(
        f"/api/worklist-items/{reading.items_a[0].pk}/read/", read_body(), format="json"
    )
    body = api(world.coordinator).get(f"/api/worklists/{reading.worklist_a.pk}/").json()
    assert (body["reads_done"], body["mine"]) == (1, None)
    rows = api(world.coordinator).get(f"/api/worklists/{reading.worklist_a.pk}/items/").json()["results"]
    assert [row["reads_done"] for row in rows] == [1, 0, 0]
    detail = api(world.coordinator).get(f"/api/worklist-items/{reading.items_a[0].pk}/").json()
    assert detail["my_read"] is None


def test_review_counts_current_reads_and_sets_aside_uncertain_and_uncalibrated_ones(world, reading, api):
    from tests.webapp.factories import ModelVersionFactory, detection_result
    from webapp.worklists import services

    client = api(world.radiologist)
    top, middle, low = reading.items_a
    client.post(f"/api/worklist-items/{top.pk}/read/", read_body(), format="json")
    client.post(
        f"/api/worklist-items/{top.pk}/read/",
        read_body(verdict="normal", lesion_marks=[], amend_reason="second look"),
        format="json",
    )
    client.post(f"/api/worklist-items/{middle.pk}/read/", read_body(verdict="uncertain"), format="json")
    client.post(
        f"/api/worklist-items/{low.pk}/read/", read_body(verdict="normal", lesion_marks=[]), format="json"
    )
    # A model version without a calibration: its reads are counted, not compared.
    v2 = ModelVersionFactory(name="uncalibrated-model")
    detection_result(world.study_a, v2, 0.8)
    worklist = services.build_worklist(
        world.coordinator,
        world.cohort_a,
        name="v2",
        study_ids=[world.study_a.pk],
        model_version=v2,
        readers=["rad"],
    )
    item = worklist.items.get()
    r = client.post(f"/api/worklist-items/{item.pk}/read/", read_body(), format="json")
    assert r.status_code == 201 and (r.json()["threshold"], r.json()["ai_call"]) == (None, "")
    body = api(world.admin).get("/api/review/agreement/").json()
    rows = {row["model_version"]: row for row in body["rows"]}
    calibrated = rows["reading-model"]
    assert {
        k: calibrated[k]
        for k in ("reads", "compared", "both_positive", "ai_only", "reader_only", "both_negative")
    } == {
        "reads": 3,
        "compared": 2,
        "both_positive": 0,
        "ai_only": 1,  # the amended read (normal) of the 0.9 study, not the first (abnormal) one
        "reader_only": 0,
        "both_negative": 1,
    }
    assert (calibrated["uncertain"], calibrated["percent_agreement"], calibrated["kappa"]) == (1, 50.0, 0.0)
    assert (rows["uncalibrated-model"]["uncalibrated"], rows["uncalibrated-model"]["kappa"]) == (1, None)
    (disagreement,) = body["disagreements"]
    assert (disagreement["study_id"], disagreement["verdict"], disagreement["ai_call"]) == (
        top.study_id,
        "normal",
        "positive",
    )
    assert disagreement["viewer_url"] == f"/viewer/studies/{top.study_id}/"
    filtered = api(world.admin).get(f"/api/review/agreement/?model_version={v2.pk}").json()
    assert [row["model_version"] for row in filtered["rows"]] == ["uncalibrated-model"]
