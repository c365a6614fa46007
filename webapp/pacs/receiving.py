"""What the C-STORE receiver does with what arrives, torch-free and network-free (the
receiver module speaks DIMSE; this one decides).

Each instance is ingested on its own, in its own transaction, before the C-STORE response goes
back: a Success status means the instance is stored, so a dropped association loses nothing
that was acknowledged. A study counts as complete once no instance of it has arrived for
``DICOM_QUIET_SECONDS``; then it is queued for detection like an upload.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import timedelta

import pydicom
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from webapp.cohorts.models import Cohort
from webapp.cohorts.services import receive_into_cohort
from webapp.core.errors import StorageFull
from webapp.detection.services import detect_after_ingest
from webapp.pacs.models import DicomNode, ReceivedStudy, Retrieval
from webapp.studies.failures import OUT_OF_RESOURCES, failure_reason
from webapp.studies.ingest import ACCEPTED, DUPLICATE, IngestResult

log = logging.getLogger(__name__)

SUCCESS = 0x0000
NOT_AUTHORIZED = 0x0124  # PS3.7 C.5.x "Refused: Not Authorized"


@dataclass(frozen=True)
class StoreOutcome:
    status: int  # the C-STORE response's Status
    comment: str = ""  # its Error Comment (0000,0902) when refused


def pushing_node(calling_ae: str) -> DicomNode | None:
    """The enabled node that may push under this calling AE title, if any."""
    return (
        DicomNode.objects.filter(ae_title=calling_ae.strip(), enabled=True, cohort__isnull=False)
        .select_related("cohort")
        .first()
    )


def _retrievals_under_way() -> QuerySet[Retrieval]:
    return Retrieval.objects.filter(
        status__in=[Retrieval.Status.PENDING, Retrieval.Status.RUNNING], node__enabled=True
    )


def known_calling_titles() -> list[str]:
    """Calling AE titles whose associations are accepted: enabled nodes mapped to a cohort, and
    nodes sending a study an admin is pulling (C-MOVE's sub-operations come from the node)."""
    titles = set(
        DicomNode.objects.filter(enabled=True, cohort__isnull=False).values_list("ae_title", flat=True)
    )
    titles |= set(_retrievals_under_way().values_list("node__ae_title", flat=True))
    return sorted(t.strip() for t in titles)


def _study_uid(encoded: bytes) -> str:
    try:
        ds = pydicom.dcmread(io.BytesIO(encoded), stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
        return str(ds.get("StudyInstanceUID", ""))
    except Exception:  # the ingest says what is wrong with it
        return ""


def destination(calling_ae: str, study_uid: str) -> tuple[Cohort | None, dict]:
    """Where an instance from this caller goes: the cohort of a pull of its study from that
    node, else the node's own cohort; and the audit's account of it."""
    if study_uid:
        pull = (
            _retrievals_under_way()
            .filter(node__ae_title=calling_ae, study_instance_uid=study_uid)
            .select_related("cohort", "node")
            .first()
        )
        if pull is not None:
            return pull.cohort, {
                "source": "c-move",
                "calling_ae": calling_ae,
                "node": pull.node.name,
                "retrieval": pull.pk,
            }
    node = pushing_node(calling_ae)
    if node is None:
        return None, {}
    return node.cohort, {"source": "dicom", "calling_ae": calling_ae, "node": node.name}


def receive_instance(calling_ae: str, encoded: bytes, sop_instance_uid: str) -> StoreOutcome:
    """Ingest one received instance (the encoded file, preamble and meta included) into the
    cohort its caller sends to; the C-STORE status that says what became of it."""
    calling_ae = calling_ae.strip()
    cohort, source = destination(calling_ae, _study_uid(encoded))
    if cohort is None:  # unmapped since the association began
        return StoreOutcome(NOT_AUTHORIZED, f"calling AE {calling_ae!r} is not mapped to a cohort")
    upload = SimpleUploadedFile(f"{sop_instance_uid or 'instance'}.dcm", encoded, "application/dicom")

    def arrived(result: IngestResult) -> None:
        # In the ingest's transaction: a stored study is always one the quiet period will queue.
        if result.count(ACCEPTED):
            note_arrival(cohort, result.study_ids, calling_ae)

    try:
        result = receive_into_cohort(cohort, [upload], source=source, inside=arrived)
    except StorageFull as e:
        return StoreOutcome(OUT_OF_RESOURCES, str(e))
    verdict = result.files[0]
    if verdict.verdict not in (ACCEPTED, DUPLICATE):
        return StoreOutcome(failure_reason(verdict.reason, bool(verdict.sop_instance_uid)), verdict.reason)
    return StoreOutcome(SUCCESS)


def note_arrival(cohort: Cohort, study_ids: list[int], calling_ae: str) -> None:
    now = timezone.now()
    for study_id in study_ids:
        with transaction.atomic():
            row, created = ReceivedStudy.objects.select_for_update().get_or_create(
                study_id=study_id,
                cohort=cohort,
                defaults={
                    "calling_ae": calling_ae,
                    "instances": 1,
                    "first_received_at": now,
                    "last_received_at": now,
                },
            )
            if not created:
                # New images after detection was queued make the study pending again.
                ReceivedStudy.objects.filter(pk=row.pk).update(
                    instances=F("instances") + 1, last_received_at=now, queued_at=None
                )


def queue_quiet_studies(quiet_seconds: float | None = None) -> list[int]:
    """Queue detection for received studies silent for the quiet period; their study ids."""
    quiet = settings.DICOM_QUIET_SECONDS if quiet_seconds is None else quiet_seconds
    cutoff = timezone.now() - timedelta(seconds=quiet)
    queued: list[int] = []
    for row in ReceivedStudy.objects.filter(queued_at__isnull=True, last_received_at__lte=cutoff):
        with transaction.atomic():
            # Claimed under a condition, so two receivers never queue one study twice.
            claimed = ReceivedStudy.objects.filter(
                pk=row.pk, queued_at__isnull=True, last_received_at=row.last_received_at
            ).update(queued_at=timezone.now())
            if not claimed:
                continue
            cohort = Cohort.objects.get(pk=row.cohort_id)
            detect_after_ingest(Cohort, cohort=cohort, study_ids=[row.study_id], acting_user=None)
        log.info(
            "received study %s complete (%s instances from %s): queued",
            row.study_id,
            row.instances,
            row.calling_ae,
        )
        queued.append(row.study_id)
    return queued
