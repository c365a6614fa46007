"""Pulling one study from a node into a cohort (an admin's action, run by a worker).

- A node with a DICOM address gets a C-MOVE (Study Root) naming our AE title as the
  destination: it sends the study to our receiver, which files what arrives under the pull's
  cohort while the pull is under way (``receiving.destination``). The node must know our AE
  title, host and port (docs/interoperability.md); the receiver must be running.
- A node with only a DICOMweb root gets a WADO-RS retrieve of the study, ingested here.

Either way the images go through the same ingest as an upload, and detection is queued once
the study is complete (the receiver's quiet period; at once after WADO-RS).
"""

from __future__ import annotations

import logging

import pydicom
from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pynetdicom import AE
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

from webapp.accounts.services import audit
from webapp.cohorts.models import Cohort
from webapp.cohorts.selectors import visible_cohorts
from webapp.cohorts.services import receive_into_cohort
from webapp.core.errors import require
from webapp.detection.services import detect_after_ingest
from webapp.pacs.models import DicomNode, Retrieval
from webapp.studies.dicom import is_uid

log = logging.getLogger(__name__)

RETRIEVE_TASK = "pacs.retrieve"
_WADO_BATCH = 50  # instances ingested per transaction


def request_retrieval(
    acting_user: AbstractBaseUser, node: DicomNode, study_uid: str, cohort_id: int
) -> Retrieval:
    require(acting_user, "pacs.retrieve_studies", "pull studies from a DICOM node")
    study_uid = (study_uid or "").strip()
    if not is_uid(study_uid):
        raise ValidationError(
            {"study_instance_uid": "a StudyInstanceUID: digits and dots, at most 64 characters"}
        )
    cohort = visible_cohorts(acting_user).filter(pk=cohort_id).first()
    if cohort is None:
        raise ValidationError({"cohort": f"no cohort {cohort_id} among yours"})
    if not node.enabled or not (node.has_dimse or node.dicomweb_url):
        raise ValidationError({"node": f"{node.name} is disabled or has no address to retrieve from"})
    with transaction.atomic():
        retrieval = Retrieval.objects.create(
            node=node, study_instance_uid=study_uid, cohort=cohort, requested_by=acting_user
        )
        audit(
            acting_user,
            "pacs.retrieval_requested",
            cohort,
            details={"node": node.name, "study_instance_uid": study_uid, "retrieval": retrieval.pk},
        )
        transaction.on_commit(
            lambda: current_app.send_task(
                RETRIEVE_TASK, kwargs={"retrieval_id": retrieval.pk}, queue=settings.DETECTION_QUEUE
            )
        )
    return retrieval


def _finish(retrieval: Retrieval, status: str, detail: str, instances: int) -> str:
    Retrieval.objects.filter(pk=retrieval.pk).update(
        status=status, detail=detail, instances=instances, finished_at=timezone.now()
    )
    audit(
        None,
        "pacs.retrieved",
        retrieval.cohort,
        details={"retrieval": retrieval.pk, "status": status, "detail": detail},
    )
    return status


def run_retrieval(retrieval_id: int) -> str:
    retrieval = Retrieval.objects.select_related("node", "cohort").filter(pk=retrieval_id).first()
    if retrieval is None:
        return "gone"
    if retrieval.status not in (Retrieval.Status.PENDING, Retrieval.Status.RUNNING):
        return retrieval.status
    node = retrieval.node
    via = "c-move" if node.has_dimse else "wado-rs"
    Retrieval.objects.filter(pk=retrieval.pk).update(status=Retrieval.Status.RUNNING, via=via)
    try:
        if node.has_dimse:
            return _c_move(retrieval)
        return _wado(retrieval)
    except Exception as e:
        log.exception("retrieval %s failed", retrieval.pk)
        return _finish(retrieval, Retrieval.Status.FAILED, f"{type(e).__name__}: {e}", 0)


def _c_move(retrieval: Retrieval) -> str:
    node = retrieval.node
    ae = AE(ae_title=settings.DICOM_AE_TITLE)
    ae.network_timeout = ae.acse_timeout = settings.DICOM_NETWORK_TIMEOUT
    ae.dimse_timeout = None  # a large study takes as long as it takes; progress comes as pending
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = ae.associate(node.host, int(node.port), ae_title=node.ae_title.strip())
    if not assoc.is_established:
        return _finish(
            retrieval, Retrieval.Status.FAILED, f"{node.name} refused or did not answer the association", 0
        )
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = retrieval.study_instance_uid
    final = None
    try:
        for status, _identifier in assoc.send_c_move(
            query, settings.DICOM_AE_TITLE, StudyRootQueryRetrieveInformationModelMove
        ):
            if status and status.Status not in (0xFF00, 0xFF01):  # pending: more to come
                final = status
    finally:
        assoc.release()
    if final is None:
        return _finish(
            retrieval, Retrieval.Status.FAILED, "the node ended the C-MOVE without a final status", 0
        )
    code = int(final.Status)
    done = int(final.get("NumberOfCompletedSuboperations", 0) or 0)
    failed = int(final.get("NumberOfFailedSuboperations", 0) or 0)
    detail = f"C-MOVE status 0x{code:04X}: {done} sent, {failed} failed"
    if code == 0x0000 and done > 0 and failed == 0:
        return _finish(retrieval, Retrieval.Status.DONE, detail, done)
    if code == 0x0000 and done == 0:
        detail += " (the node sent nothing: does it hold this study?)"
    elif code == 0xA801:
        detail += (
            f" (the node does not know the destination {settings.DICOM_AE_TITLE}: add it to its modalities)"
        )
    return _finish(retrieval, Retrieval.Status.FAILED, detail, done)


def _wado(retrieval: Retrieval) -> str:
    from dicomweb_client.api import DICOMwebClient

    node = retrieval.node
    client = DICOMwebClient(node.dicomweb_url.rstrip("/"), timeout=settings.DICOM_NETWORK_TIMEOUT)
    source = {"source": "wado-rs", "node": node.name, "retrieval": retrieval.pk}
    accepted, study_ids, batch, problems = 0, set(), [], []

    def ingest(batch: list[SimpleUploadedFile]) -> int:
        result = receive_into_cohort(retrieval.cohort, batch, source=source)
        study_ids.update(result.study_ids)
        problems.extend(f"{f.name}: {f.reason}" for f in result.files if f.verdict == "rejected")
        return result.count("accepted") + result.count("duplicate")

    for ds in client.iter_study(retrieval.study_instance_uid):
        buffer = DicomBytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        batch.append(SimpleUploadedFile(f"{ds.SOPInstanceUID}.dcm", buffer.getvalue(), "application/dicom"))
        if len(batch) == _WADO_BATCH:
            accepted += ingest(batch)
            batch = []
    if batch:
        accepted += ingest(batch)
    if study_ids:
        detect_after_ingest(Cohort, cohort=retrieval.cohort, study_ids=sorted(study_ids), acting_user=None)
    detail = f"WADO-RS: {accepted} stored" + (
        f", {len(problems)} refused: {'; '.join(problems[:5])}" if problems else ""
    )
    status = Retrieval.Status.DONE if accepted and not problems else Retrieval.Status.FAILED
    return _finish(retrieval, status, detail, accepted)
