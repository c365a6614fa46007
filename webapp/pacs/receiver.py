"""The C-STORE receiver (a Storage SCP, with Verification): pynetdicom's application entity,
answering for ``DICOM_AE_TITLE`` on ``DICOM_BIND:DICOM_PORT``.

Associations are accepted only when they call our AE title from the AE title of an enabled
node mapped to a cohort (read from the database at each association, so an admin's change
applies to the next one); others get A-ASSOCIATE-RJ, "calling AE title not recognised".
Every storage SOP class and transfer syntax is accepted at negotiation, so each instance gets
its own answer: CT images are ingested (``receiving.receive_instance``), anything else gets
0x0122 "SOP class not supported" with the reason in the Error Comment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections
from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification

from webapp.pacs.receiving import known_calling_titles, queue_quiet_studies, receive_instance
from webapp.studies.dicom import CT_SOP_CLASSES
from webapp.studies.failures import SOP_CLASS_NOT_SUPPORTED

log = logging.getLogger(__name__)

# No AE title can contain a backslash: the list that accepts nobody (an empty one accepts all).
_NOBODY = ["\\"]


class ReceiverAE(AE):
    """An AE whose accepted calling AE titles are the database's, read per association."""

    @property  # type: ignore[override]
    def require_calling_aet(self) -> list[str]:
        try:
            return known_calling_titles() or _NOBODY
        finally:
            connections.close_all()  # this association's thread's connection

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        pass  # the database decides; pynetdicom's constructor sets [] here


def _status(code: int, comment: str = "") -> Dataset:
    ds = Dataset()
    ds.Status = code
    if comment:
        ds.ErrorComment = comment[:64]  # LO: 64 characters
    return ds


def handle_store(event: Event) -> Dataset:
    calling = event.assoc.requestor.ae_title.strip()
    sop_class = str(event.request.AffectedSOPClassUID)
    sop_instance = str(event.request.AffectedSOPInstanceUID)
    if sop_class not in CT_SOP_CLASSES:
        log.info("refused %s from %s: SOP class %s is not a CT image", sop_instance, calling, sop_class)
        return _status(SOP_CLASS_NOT_SUPPORTED, "not a CT image: only CT images are accepted")
    try:
        outcome = receive_instance(calling, event.encoded_dataset(include_meta=True), sop_instance)
    finally:
        # Associations run in threads of their own: no connection may outlive its thread.
        connections.close_all()
    if outcome.status:
        log.info("refused %s from %s: %s", sop_instance, calling, outcome.comment)
    return _status(outcome.status, outcome.comment)


def build_ae(ae_title: str | None = None) -> ReceiverAE:
    ae = ReceiverAE(ae_title=ae_title or settings.DICOM_AE_TITLE)
    ae.require_called_aet = True
    ae.maximum_associations = settings.DICOM_MAX_ASSOCIATIONS
    ae.network_timeout = settings.DICOM_NETWORK_TIMEOUT
    ae.add_supported_context(Verification)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    return ae


HANDLERS: list[tuple[object, Callable]] = [(evt.EVT_C_STORE, handle_store)]


def queue_while_running(stop: threading.Event, every: float = 1.0) -> None:
    """Queue received studies as they fall quiet, until ``stop`` is set."""
    while not stop.wait(every):
        try:
            queue_quiet_studies()
        except Exception:
            log.exception("queueing quiet studies failed; trying again")
        finally:
            close_old_connections()
