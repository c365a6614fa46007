"""Cohorts (create, members, labels) and the study endpoints (list by cohort, detail, audit)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.webapp.conftest import zip_folder
from tests.webapp.factories import UserFactory, study_in_cohort
from webapp.accounts import roles
from webapp.accounts.models import AuditEvent
from webapp.cohorts.models import Cohort, CohortLabel, CohortMember

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


def test_create_cohort_makes_the_creator_a_member_and_audits(world, api):
    r = api(world.coordinator).post(
        "/api/cohorts/", {"name": " Pilot 2025 ", "purpose": "normal_reference"}, format="json"
    )
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "Pilot 2025" and body["purpose"] == "normal_reference"
    assert body["created_by"] == "coord" and body["member_count"] == 1 and body["study_count"] == 0
    cohort = Cohort.objects.get(pk=body["id"])
    assert CohortMember.objects.filter(cohort=cohort, user=world.coordinator).exists()
    event = AuditEvent.objects.get(action="cohort.created")
    assert event.object_id == str(cohort.pk) and event.actor == world.coordinator
    assert api(world.coordinator).get(f"/api/cohorts/{cohort.pk}/").status_code == 200
    assert api(world.other_coordinator).get(f"/api/cohorts/{cohort.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "purpose": "research"}, "purpose"),
        ({"name": "", "purpose": "screening"}, "name"),
        ({"purpose": "screening"}, "name"),
    ],
)
def test_create_cohort_validation(world, api, payload, field):
    r = api(world.coordinator).post("/api/cohorts/", payload, format="json")
    assert r.status_code == 400 and field in r.json()


def test_cohort_list_filters_and_searches(world, api):
    client = api(world.admin)
    assert [c["name"] for c in client.get("/api/cohorts/?purpose=calibration").json()["results"]] == ["B"]
    assert [c["name"] for c in client.get("/api/cohorts/?search=A").json()["results"]] == ["A"]
    page = client.get("/api/cohorts/?page_size=1").json()
    assert page["count"] == 2 and len(page["results"]) == 1 and page["next"]


def test_added_member_sees_the_cohort(world, api):
    newcomer = UserFactory(username="rad2", role=roles.RADIOLOGIST)
    assert api(newcomer).get(f"/api/cohorts/{world.cohort_a.pk}/").status_code == 404
    r = api(world.coordinator).post(
        f"/api/cohorts/{world.cohort_a.pk}/members/", {"username": "rad2"}, format="json"
    )
    assert r.status_code == 201 and r.json()["username"] == "rad2"
    assert api(newcomer).get(f"/api/cohorts/{world.cohort_a.pk}/").status_code == 200
    assert api(newcomer).get(f"/api/studies/?cohort={world.cohort_a.pk}").json()["count"] == 1
    r = api(world.coordinator).post(
        f"/api/cohorts/{world.cohort_a.pk}/members/", {"username": "ghost"}, format="json"
    )
    assert r.status_code == 400 and "ghost" in str(r.json())


# --- labels ----------------------------------------------------------------------------------------
@pytest.fixture
def calibration(world, api):
    r = api(world.coordinator).post("/api/cohorts/", {"name": "cal", "purpose": "calibration"}, format="json")
    return Cohort.objects.get(pk=r.json()["id"])


def post_labels(client, cohort, data: bytes, name: str = "labels.csv"):
    return client.post(
        f"/api/cohorts/{cohort.pk}/labels/", {"file": SimpleUploadedFile(name, data)}, format="multipart"
    )


def test_phantom_labels_attach_to_a_calibration_cohort(world, api, phantoms, calibration):
    client = api(world.coordinator)
    # images first for two of the three patients, then the labels for all three
    upload = zip_folder(phantoms.series_dirs[:2], phantoms.root)
    client.post(
        f"/api/cohorts/{calibration.pk}/upload/",
        {"file": [SimpleUploadedFile("c.zip", upload)]},
        format="multipart",
    )
    r = post_labels(client, calibration, b"\xef\xbb\xbf" + phantoms.labels_csv.read_bytes())  # with a BOM
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["rows"], body["normals"], body["abnormals"]) == (3, 2, 1)
    assert body["studies_present"] == 2 and len(body["not_uploaded_yet"]) == 1
    abnormal = CohortLabel.objects.get(cohort=calibration, label="abnormal")
    assert (
        abnormal.lesion_type and abnormal.lesion_diameter_mm > 0 and abnormal.lesion_center_z_mm is not None
    )
    # a second CSV replaces the first
    lines = phantoms.labels_csv.read_text().splitlines()
    r = post_labels(client, calibration, ("\n".join(lines[:2]) + "\n").encode())
    assert r.json()["rows"] == 1 and CohortLabel.objects.filter(cohort=calibration).count() == 1
    assert AuditEvent.objects.filter(action="cohort.labels_attached").count() == 2


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (b"study_instance_uid,label\n1.2,normal\n", "missing column(s)"),
        (
            b"study_instance_uid,patient_id,folder,label,lesion_type,lesion_center_x_mm,lesion_center_y_mm,"
            b"lesion_center_z_mm,lesion_diameter_mm\n1.2,P,f,maybe,,,,,\n",
            "labels.csv line 2: label must be normal or abnormal",
        ),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (
            b"study_instance_uid,patient_id,folder,label,lesion_type,lesion_center_x_mm,lesion_center_y_mm,"
            b"lesion_center_z_mm,lesion_diameter_mm\n1.2,P,f,normal,,,,,\n1.2,P,f,abnormal,nodule,1,2,3,4\n",
            "both normal and abnormal",
        ),
    ],
)
def test_bad_labels_csv_is_400_and_names_the_problem(world, api, calibration, csv, message):
    r = post_labels(api(world.coordinator), calibration, csv)
    assert r.status_code == 400 and message in str(r.json()), r.json()
    assert "/tmp" not in str(r.json())  # the message names the uploaded file, not our temp path
    assert not CohortLabel.objects.exists()


def test_labels_only_for_calibration_cohorts(world, api, phantoms):
    r = post_labels(api(world.coordinator), world.cohort_a, phantoms.labels_csv.read_bytes())
    assert r.status_code == 400 and "only to calibration cohorts" in str(r.json())


# --- studies -----------------------------------------------------------------------------------------
def test_study_list_by_cohort_is_paginated_and_audited(world, api):
    for _ in range(3):
        study_in_cohort(world.cohort_a)
    r = api(world.radiologist).get(f"/api/studies/?cohort={world.cohort_a.pk}&page_size=2")
    body = r.json()
    assert body["count"] == 4 and len(body["results"]) == 2
    row = body["results"][0]
    assert {"study_instance_uid", "patient_id", "series_count", "instance_count"} <= set(row)
    event = AuditEvent.objects.get(action="study.listed")
    assert event.actor == world.radiologist and event.details["study_ids"] == [
        r["id"] for r in body["results"]
    ]
    assert event.details["filters"]["cohort"] == str(world.cohort_a.pk)


@pytest.mark.parametrize("bad", ["abc", "99999999999999999999", "-1"])
def test_study_list_with_a_bad_cohort_is_404(world, api, bad):
    assert api(world.admin).get(f"/api/studies/?cohort={bad}").status_code == 404


def test_study_detail_shows_series_and_only_visible_cohorts_and_is_audited(world, api, phantoms):
    client = api(world.coordinator)
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in phantoms.files(0)]
    body = client.post(
        f"/api/cohorts/{world.cohort_a.pk}/upload/", {"file": files}, format="multipart"
    ).json()
    (study_id,) = body["study_ids"]
    r = api(world.radiologist).get(f"/api/studies/{study_id}/")
    detail = r.json()
    assert r.status_code == 200
    assert detail["patient_id"].startswith("FS-2024-")  # the phantom generator's patient ids
    assert detail["series_count"] == 1 and detail["series"][0]["instance_count"] == len(files)
    assert detail["series"][0]["modality"] == "CT" and detail["cohort_ids"] == [world.cohort_a.pk]
    event = AuditEvent.objects.get(action="study.viewed")
    assert (event.actor, event.object_type, event.object_id) == (
        world.radiologist,
        "studies.study",
        str(study_id),
    )
    # refused views leave no "viewed" row
    api(world.other_coordinator).get(f"/api/studies/{study_id}/")
    assert AuditEvent.objects.filter(action="study.viewed").count() == 1


def test_study_filters(world, api):
    client = api(world.admin)
    uid = world.study_a.study_instance_uid
    assert [s["id"] for s in client.get(f"/api/studies/?study_instance_uid={uid}").json()["results"]] == [
        world.study_a.pk
    ]
    pid = world.study_b.patient.patient_id
    assert [s["id"] for s in client.get(f"/api/studies/?patient_id={pid}").json()["results"]] == [
        world.study_b.pk
    ]


def test_list_endpoints_do_not_query_per_row(world, api, django_assert_max_num_queries):
    for _ in range(20):
        study_in_cohort(world.cohort_a)
    client = api(world.coordinator)
    # auth (the token, the user's other tokens, two permission lookups) + cohort + count + ids +
    # page + the audit row (savepoints, the chain's head read and moved on, the insert): the same
    # for 2 rows or 200
    with django_assert_max_num_queries(15):
        assert len(client.get(f"/api/studies/?cohort={world.cohort_a.pk}").json()["results"]) == 21
    with django_assert_max_num_queries(7):  # knox reads the user's other tokens too (expiry cleanup)
        assert client.get("/api/cohorts/").json()["results"][0]["study_count"] == 21
