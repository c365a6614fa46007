"""The C-STORE receiver (issue 16): a real ``manage.py dicom_receiver`` process on PostgreSQL,
pushed to by a real PACS (Debian's Orthanc) and by pynetdicom; detection by a real worker."""

from __future__ import annotations

from collections.abc import Iterator

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pynetdicom import AE
from pynetdicom.sop_class import (
    Comprehensive3DSRStorage,
    CTImageStorage,
    MRImageStorage,
    ParametricMapStorage,
    SegmentationStorage,
)

from tests.webapp.dicom_receiver import Receiver
from tests.webapp.orthanc import Orthanc
from tests.webapp.workers import Worker, wait_for, worker_env
from webapp.accounts.models import AuditEvent
from webapp.cohorts.models import CohortStudy
from webapp.detection.models import DetectionJob, DetectionResult
from webapp.pacs.models import Delivery, DicomNode, ReceivedStudy, ResultObject, Retrieval
from webapp.studies.models import Instance, Study

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

QUIET_SECONDS = 2


@pytest.fixture(scope="module")
def receiver(shared) -> Iterator[Receiver]:
    env = worker_env(shared["root"] / "var", **shared["env"], DICOM_QUIET_SECONDS=str(QUIET_SECONDS))
    receiver = Receiver(env, shared["root"] / "receiver.log").wait_ready()
    yield receiver
    log = receiver.stop()
    assert "Traceback" not in log, log[-5000:]


@pytest.fixture(scope="module")
def worker(shared) -> Iterator[Worker]:
    worker = Worker(
        "pacs", worker_env(shared["root"] / "var", **shared["env"]), shared["root"] / "worker.log"
    )
    yield worker.wait_ready()
    log = worker.stop()
    assert "Traceback" not in log, log[-5000:]


@pytest.fixture(scope="module")
def orthanc(receiver, tmp_path_factory) -> Iterator[Orthanc]:
    pacs = Orthanc(
        tmp_path_factory.mktemp("orthanc"),
        modalities={"fusionscreen": (receiver.ae_title, "127.0.0.1", receiver.port)},
    )
    yield pacs
    pacs.stop()


@pytest.fixture
def pushing_node(world, orthanc) -> DicomNode:
    """Orthanc may push into cohort A."""
    orthanc.clear()
    return DicomNode.objects.create(name="orthanc", ae_title=orthanc.aet, cohort=world.cohort_a)


def received_sops(world) -> set[str]:
    """SOPInstanceUIDs stored (the ``world`` fixture's own rows aside)."""
    theirs = [world.study_a.pk, world.study_b.pk]
    return set(Instance.objects.exclude(series__study__in=theirs).values_list("sop_instance_uid", flat=True))


def scu_send(
    receiver: Receiver, calling: str, datasets: list[pydicom.Dataset], abort_after: int | None = None
):
    """Send datasets over one association; the statuses (or the rejected association)."""
    ae = AE(ae_title=calling)
    for sop in {str(ds.SOPClassUID) for ds in datasets}:
        ae.add_requested_context(sop)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title=receiver.ae_title)
    if not assoc.is_established:
        return assoc
    statuses = []
    for n, ds in enumerate(datasets):
        if abort_after is not None and n == abort_after:
            assoc.abort()
            return statuses
        statuses.append(assoc.send_c_store(ds))
    assoc.release()
    return statuses


def test_orthanc_pushes_a_study_which_appears_once_with_its_detection(
    pushing_node, orthanc, receiver, worker, active_model, phantoms
):
    study_id = orthanc.upload(phantoms.files(0))
    # Twice: a PACS that sends again must not make a second study, nor a second job.
    for _ in range(2):
        r = orthanc.post("/modalities/fusionscreen/store", {"Resources": [study_id], "Synchronous": True})
        assert r.ok, r.text
    uid = pydicom.dcmread(phantoms.files(0)[0]).StudyInstanceUID
    study = Study.objects.get(study_instance_uid=uid)
    assert Instance.objects.filter(series__study=study).count() == len(phantoms.files(0))
    assert list(CohortStudy.objects.filter(study=study).values_list("cohort_id", flat=True)) == [
        pushing_node.cohort_id
    ]
    job = wait_for(lambda: DetectionJob.objects.filter(study=study).first(), timeout=60, what="the job")
    result = wait_for(
        lambda: DetectionResult.objects.filter(study=study).first(), timeout=240, what="its result"
    )
    assert result.job_id == job.pk
    assert DetectionJob.objects.filter(study=study).count() == 1
    received = ReceivedStudy.objects.get(study=study)
    assert received.calling_ae == "ORTHANC" and received.instances == len(phantoms.files(0))
    assert received.queued_at >= received.last_received_at
    events = AuditEvent.objects.filter(action="cohort.received")
    assert events.exists() and events.first().details["calling_ae"] == "ORTHANC"


def test_an_unknown_calling_ae_title_is_refused_at_association(pushing_node, receiver, phantoms, world):
    assoc = scu_send(receiver, "STRANGER", [pydicom.dcmread(phantoms.files(1)[0])])
    assert assoc.is_rejected
    rejection = assoc.acceptor.primitive
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (0x01, 0x01, 0x03)
    assert received_sops(world) == set()


def test_a_disabled_node_is_refused_like_a_stranger(pushing_node, receiver, phantoms):
    DicomNode.objects.filter(pk=pushing_node.pk).update(enabled=False)
    assoc = scu_send(receiver, pushing_node.ae_title, [pydicom.dcmread(phantoms.files(1)[0])])
    assert assoc.is_rejected


def test_a_wrong_sop_class_gets_0122_and_the_ct_beside_it_is_stored(pushing_node, receiver, phantoms, world):
    mr = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ct = pydicom.dcmread(phantoms.files(1)[0])
    assert str(mr.SOPClassUID) == MRImageStorage and str(ct.SOPClassUID) == CTImageStorage
    statuses = scu_send(receiver, pushing_node.ae_title, [mr, ct])
    assert [s.Status for s in statuses] == [0x0122, 0x0000]
    assert "only CT images" in statuses[0].ErrorComment
    assert received_sops(world) == {ct.SOPInstanceUID}


def test_a_ct_file_the_ingest_refuses_gets_its_reason(pushing_node, receiver, phantoms, world):
    ds = pydicom.dcmread(phantoms.files(1)[0])
    del ds.PatientID  # every stored study must belong to a patient
    [status] = scu_send(receiver, pushing_node.ae_title, [ds])
    assert status.Status != 0 and "PatientID" in status.ErrorComment
    assert received_sops(world) == set()


def test_a_dropped_association_keeps_what_was_acknowledged(pushing_node, receiver, phantoms, world):
    files = phantoms.files(2)
    datasets = [pydicom.dcmread(f) for f in files[:3]]
    statuses = scu_send(receiver, pushing_node.ae_title, datasets, abort_after=2)
    assert [s.Status for s in statuses] == [0x0000, 0x0000]
    assert received_sops(world) == {ds.SOPInstanceUID for ds in datasets[:2]}
    # The two that arrived are complete after the quiet period: queued (no model is active here,
    # so no job is made, but the study is marked as handed on).
    row = wait_for(lambda: ReceivedStudy.objects.filter(queued_at__isnull=False).first(), timeout=30)
    assert row.instances == 2


def test_unmapped_calling_titles_cannot_push_whatever_they_send(receiver, phantoms, world):
    DicomNode.objects.create(name="viewer", ae_title="VIEWER", host="127.0.0.1", port=104)  # no cohort
    assoc = scu_send(receiver, "VIEWER", [pydicom.dcmread(phantoms.files(1)[0])])
    assert assoc.is_rejected
    assert received_sops(world) == set()


def test_the_round_trip_orthanc_in_detection_seg_pm_sr_back_in_orthanc(
    world, orthanc, receiver, worker, active_model, phantoms
):
    """The issue's one test: Orthanc pushes a study in, detection runs, and the result's SEG,
    Parametric Maps and SR arrive back in Orthanc under the same StudyInstanceUID."""
    orthanc.clear()
    DicomNode.objects.create(
        name="orthanc",
        ae_title=orthanc.aet,
        host="127.0.0.1",
        port=orthanc.dicom_port,
        cohort=world.cohort_a,
        send_results=True,
    )
    study_id = orthanc.upload(phantoms.files(0))
    r = orthanc.post("/modalities/fusionscreen/store", {"Resources": [study_id], "Synchronous": True})
    assert r.ok, r.text
    uid = pydicom.dcmread(phantoms.files(0)[0]).StudyInstanceUID
    delivery = wait_for(
        lambda: (
            Delivery.objects.filter(result__study__study_instance_uid=uid).exclude(status="pending").first()
        ),
        timeout=240,
        what="the result's delivery to Orthanc",
    )
    assert delivery.status == "sent" and delivery.via == "c-store", delivery.detail
    objects = {o.sop_instance_uid: o.kind for o in ResultObject.objects.filter(result=delivery.result)}
    assert {"sr", "seg", "pm-fused", "pm-global", "pm-local"} <= set(objects.values())
    held = {i["SOPInstanceUID"]: i for i in orthanc.instances_of(uid)}
    assert set(objects) <= set(held), "every object is in Orthanc, in the pushed study"
    classes = {objects[sop]: held[sop]["SOPClassUID"] for sop in objects}
    assert classes == {
        "sr": Comprehensive3DSRStorage,
        "seg": SegmentationStorage,
        "pm-fused": ParametricMapStorage,
        "pm-global": ParametricMapStorage,
        "pm-local": ParametricMapStorage,
    }
    assert len(held) == len(phantoms.files(0)) + len(objects)


def _pull(world, orthanc, node: DicomNode, phantoms, index: int) -> tuple[Retrieval, Study]:
    from webapp.pacs.retrieving import run_retrieval

    orthanc.clear()
    orthanc.upload(phantoms.files(index))
    uid = pydicom.dcmread(phantoms.files(index)[0]).StudyInstanceUID
    retrieval = Retrieval.objects.create(node=node, study_instance_uid=uid, cohort=world.cohort_b)
    run_retrieval(retrieval.pk)  # what the worker's task runs
    retrieval.refresh_from_db()
    return retrieval, Study.objects.filter(study_instance_uid=uid).first()


def test_an_admin_pulls_a_study_from_orthanc_by_c_move_into_a_cohort(world, orthanc, receiver, phantoms):
    # Orthanc is known for DIMSE but may not push on its own: the pull alone lets it in.
    node = DicomNode.objects.create(
        name="orthanc", ae_title=orthanc.aet, host="127.0.0.1", port=orthanc.dicom_port
    )
    retrieval, study = _pull(world, orthanc, node, phantoms, 1)
    assert (retrieval.status, retrieval.via, retrieval.instances) == (
        "done",
        "c-move",
        len(phantoms.files(1)),
    )
    assert study is not None and CohortStudy.objects.filter(study=study, cohort=world.cohort_b).exists()
    assert Instance.objects.filter(series__study=study).count() == len(phantoms.files(1))
    assert ReceivedStudy.objects.get(study=study).cohort == world.cohort_b
    # Once the pull is over, Orthanc may not push again.
    assoc = scu_send(receiver, orthanc.aet, [pydicom.dcmread(phantoms.files(2)[0])])
    assert assoc.is_rejected


def test_a_pull_of_a_study_the_pacs_does_not_have_fails_with_a_reason(world, orthanc, receiver):
    from webapp.pacs.retrieving import run_retrieval

    orthanc.clear()
    node = DicomNode.objects.create(
        name="orthanc", ae_title=orthanc.aet, host="127.0.0.1", port=orthanc.dicom_port
    )
    retrieval = Retrieval.objects.create(node=node, study_instance_uid="1.2.3.4.5", cohort=world.cohort_a)
    assert run_retrieval(retrieval.pk) == "failed"
    retrieval.refresh_from_db()
    assert retrieval.status == "failed" and "0 sent" in retrieval.detail  # Orthanc answers 0xC000


def test_an_admin_pulls_a_study_from_a_dicomweb_pacs_by_wado_rs(
    world, orthanc, active_model, phantoms, monkeypatch
):
    from webapp.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)  # the detection job is only queued
    world.cohort_b.purpose = "screening"
    world.cohort_b.save()
    node = DicomNode.objects.create(
        name="orthanc-web", ae_title=orthanc.aet, dicomweb_url=f"{orthanc.url}/dicom-web"
    )
    retrieval, study = _pull(world, orthanc, node, phantoms, 2)
    assert (retrieval.status, retrieval.via, retrieval.instances) == (
        "done",
        "wado-rs",
        len(phantoms.files(2)),
    )
    assert CohortStudy.objects.filter(study=study, cohort=world.cohort_b).exists()
    assert DetectionJob.objects.filter(study=study).exists(), (
        "a whole study arrived: detection is queued at once"
    )


def test_results_go_by_stow_rs_to_a_node_with_only_a_dicomweb_root(
    world, api, orthanc, active_model, phantoms, monkeypatch
):
    from tests.webapp.test_pacs_exports import detect
    from webapp.pacs.deliveries import deliver

    orthanc.clear()
    [result] = detect(world, api, phantoms, world.cohort_a, [0], monkeypatch)
    node = DicomNode.objects.create(
        name="orthanc-web", ae_title=orthanc.aet, dicomweb_url=f"{orthanc.url}/dicom-web"
    )
    delivery = Delivery.objects.create(result=result, node=node)
    assert deliver(delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert (
        delivery.via == "stow-rs"
        and delivery.detail.count("stored") == ResultObject.objects.filter(result=result).count()
    )
    held = {i["SOPInstanceUID"] for i in orthanc.instances_of(result.study.study_instance_uid)}
    assert set(ResultObject.objects.filter(result=result).values_list("sop_instance_uid", flat=True)) == held


def test_an_unreachable_node_fails_the_delivery_with_the_reason(
    world, api, active_model, phantoms, monkeypatch
):
    from tests.webapp.orthanc import free_port
    from tests.webapp.test_pacs_exports import detect
    from webapp.pacs.deliveries import deliver
    from webapp.pacs.sending import NodeUnreachable

    [result] = detect(world, api, phantoms, world.cohort_a, [1], monkeypatch)
    node = DicomNode.objects.create(name="gone", ae_title="GONE", host="127.0.0.1", port=free_port())
    delivery = Delivery.objects.create(result=result, node=node)
    with pytest.raises(NodeUnreachable):  # the task retries it with backoff
        deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "did not answer" in delivery.detail
