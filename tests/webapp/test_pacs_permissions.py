"""Every endpoint of the pacs app x every role (and anonymous), on our cohort's result (A) and
another cohort's (B): reading a result's DICOM objects follows reading the result (audited);
sending them to a node is for coordinators and admins; the node list shows no addresses."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from pydicom.data import get_testdata_file

from tests.webapp.factories import ModelVersionFactory, detection_result
from webapp.accounts.models import AuditEvent
from webapp.pacs.models import Delivery, DicomNode, ResultObject, Retrieval

pytestmark = pytest.mark.django_db

ROLES = ("radiologist", "coordinator", "admin", "anonymous")
ALL = {"radiologist": 200, "coordinator": 200, "admin": 200, "anonymous": 401}
ALL_A_ONLY = {"radiologist": 404, "coordinator": 404, "admin": 200, "anonymous": 401}
SENDERS = {"radiologist": 403, "coordinator": 202, "admin": 202, "anonymous": 401}
SENDERS_B = {"radiologist": 403, "coordinator": 404, "admin": 202, "anonymous": 401}
NODE_READERS = {"radiologist": 403, "coordinator": 200, "admin": 200, "anonymous": 401}
PULLERS = {"radiologist": 403, "coordinator": 403, "admin": 202, "anonymous": 401}
ADMIN_ONLY = {"radiologist": 403, "coordinator": 403, "admin": 200, "anonymous": 401}


def _object(result, kind: str = "sr") -> ResultObject:
    """A stored object of the result (any DICOM file will do for access checks)."""
    relative = Path("dicom-results") / f"result-{result.pk}" / f"{kind}.dcm"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True)
    path.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return ResultObject.objects.create(
        result=result,
        kind=kind,
        sop_class_uid=ds.SOPClassUID,
        sop_instance_uid=f"2.25.{result.pk}{len(kind)}",
        series_instance_uid="2.25.1",
        file=relative.as_posix(),
        size=path.stat().st_size,
        sha256="0" * 64,
    )


@pytest.fixture
def results(world):
    version = ModelVersionFactory(name="perm-model", is_active=True)
    result_a = detection_result(world.study_a, version, 0.9)
    result_b = detection_result(world.study_b, version, 0.1)
    _object(result_a)
    _object(result_b)
    node = DicomNode.objects.create(name="pacs", ae_title="PACS", host="127.0.0.1", port=11112)
    Retrieval.objects.create(node=node, study_instance_uid="1.2.3", cohort=world.cohort_a)
    return result_a, result_b


CASES = [
    ("dicom-list-A", "get", "/api/studies/{study_A}/dicom/", None, ALL),
    ("dicom-list-B", "get", "/api/studies/{study_B}/dicom/", None, ALL_A_ONLY),
    ("dicom-object-A", "get", "/api/studies/{study_A}/dicom/sr/", None, ALL),
    ("dicom-object-B", "get", "/api/studies/{study_B}/dicom/sr/", None, ALL_A_ONLY),
    ("dicom-send-A", "post", "/api/studies/{study_A}/dicom/send/", {"node": "pacs"}, SENDERS),
    ("dicom-send-B", "post", "/api/studies/{study_B}/dicom/send/", {"node": "pacs"}, SENDERS_B),
    ("dicom-nodes", "get", "/api/dicom-nodes/", None, NODE_READERS),
    (
        "dicom-retrieve",
        "post",
        "/api/dicom-nodes/{node}/retrieve/",
        {"study_instance_uid": "1.2.3", "cohort": "{A}"},
        PULLERS,
    ),
    ("retrieval", "get", "/api/retrievals/{retrieval}/", None, ADMIN_ONLY),
]


def _params():
    for case_id, method, url, body, expected in CASES:
        for role in ROLES:
            yield pytest.param(method, url, body, role, expected[role], id=f"{case_id}-{role}")


@pytest.mark.parametrize(("method", "url", "body", "role", "status"), list(_params()))
def test_pacs_endpoint_role_matrix(world, results, api, method, url, body, role, status, monkeypatch):
    from webapp.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)  # nothing leaves the test
    ids = {
        "study_A": world.study_a.pk,
        "study_B": world.study_b.pk,
        "retrieval": Retrieval.objects.get().pk,
        "node": "pacs",
    }
    url = url.format(**ids)
    if body is not None:
        body = {k: world.cohort_a.pk if v == "{A}" else v for k, v in body.items()}
    client = api(world.user(role))
    response = client.post(url, body, format="json") if method == "post" else client.get(url)
    assert response.status_code == status, getattr(response, "content", b"")[:300]


def test_a_download_is_audited_and_a_send_makes_a_pending_delivery(
    world, results, api, monkeypatch, django_capture_on_commit_callbacks
):
    from webapp.celery import app

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, **k: sent.append((name, k["kwargs"])))
    client = api(world.coordinator)
    r = client.get(f"/api/studies/{world.study_a.pk}/dicom/sr/")
    assert r.status_code == 200 and r["Content-Type"] == "application/dicom"
    assert AuditEvent.objects.filter(action="pacs.object_downloaded", actor=world.coordinator).exists()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(f"/api/studies/{world.study_a.pk}/dicom/send/", {"node": "pacs"}, format="json")
    assert r.status_code == 202 and r.json()["status"] == "pending"
    delivery = Delivery.objects.get(pk=r.json()["id"])
    assert delivery.requested_by == world.coordinator and delivery.result == results[0]
    assert sent == [("pacs.deliver", {"delivery_id": delivery.pk})]


def test_an_unknown_or_disabled_node_is_a_clear_400(world, results, api, monkeypatch):
    from webapp.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)
    client = api(world.admin)
    r = client.post(f"/api/studies/{world.study_a.pk}/dicom/send/", {"node": "nowhere"}, format="json")
    assert r.status_code == 400 and "no DICOM node named" in r.json()["node"]
    DicomNode.objects.filter(name="pacs").update(enabled=False)
    r = client.post(f"/api/studies/{world.study_a.pk}/dicom/send/", {"node": "pacs"}, format="json")
    assert r.status_code == 400 and "disabled" in r.json()["node"]


def test_a_result_without_objects_queues_them_once_asked(
    world, api, monkeypatch, django_capture_on_commit_callbacks
):
    from webapp.celery import app

    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, **k: sent.append((name, k["kwargs"])))
    result = detection_result(world.study_a, ModelVersionFactory(name="m", is_active=True), 0.5)
    with django_capture_on_commit_callbacks(execute=True):
        r = api(world.radiologist).get(f"/api/studies/{world.study_a.pk}/dicom/")
    assert r.status_code == 202 and r.json()["objects"] == []
    assert sent == [("pacs.export_result", {"result_id": result.pk, "send": False})]
    r = api(world.radiologist).get(f"/api/studies/{world.study_a.pk}/dicom/seg/")
    assert r.status_code == 404


def test_a_pull_needs_a_uid_and_a_cohort_of_ones_own(world, results, api, monkeypatch):
    from webapp.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)
    client = api(world.admin)
    url = "/api/dicom-nodes/pacs/retrieve/"
    r = client.post(url, {"study_instance_uid": "1.2.x", "cohort": world.cohort_a.pk}, format="json")
    assert r.status_code == 400 and "StudyInstanceUID" in str(r.json())
    r = client.post(url, {"study_instance_uid": "1.2.3", "cohort": 999999}, format="json")
    assert r.status_code == 400 and "no cohort" in str(r.json())
    assert client.post("/api/dicom-nodes/nowhere/retrieve/", {}, format="json").status_code == 404
