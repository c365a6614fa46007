"""Sending a result's DICOM objects to the nodes that should have them.

A delivery row is made when the sending is decided (automatically after detection for nodes
with ``send_results``, or by a user), and the worker's task moves it to sent or failed with the
node's answer per object. Sending again is always safe: the objects keep their SOP instance
UIDs, and a PACS keeps one copy of an instance it receives twice.
"""

from __future__ import annotations

import logging
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from webapp.accounts.services import audit
from webapp.core.errors import require
from webapp.detection.models import DetectionResult
from webapp.pacs.exports import export_read, export_result
from webapp.pacs.models import Delivery, DicomNode
from webapp.pacs.sending import NodeUnreachable, send
from webapp.worklists.models import Read

log = logging.getLogger(__name__)

EXPORT_TASK = "pacs.export_result"
EXPORT_READ_TASK = "pacs.export_read"
DELIVER_TASK = "pacs.deliver"


def queue_export(result_id: int, *, send: bool = True) -> None:
    """Make the result's objects in a worker (and, with ``send``, send them to every node with
    ``send_results``)."""
    current_app.send_task(
        EXPORT_TASK, kwargs={"result_id": result_id, "send": send}, queue=settings.DETECTION_QUEUE
    )


def export_after_result(sender: object, *, result_id: int, **kwargs: object) -> None:
    """``result_stored`` receiver: once the result commits, queue its export."""
    if settings.DICOM_EXPORT_RESULTS or DicomNode.objects.filter(send_results=True, enabled=True).exists():
        transaction.on_commit(lambda: queue_export(result_id))


def export_after_read(sender: object, *, read_id: int, **kwargs: object) -> None:
    """``read_recorded`` receiver: once the read commits, queue its report."""
    if settings.DICOM_EXPORT_RESULTS or DicomNode.objects.filter(send_results=True, enabled=True).exists():
        transaction.on_commit(
            lambda: current_app.send_task(
                EXPORT_READ_TASK, kwargs={"read_id": read_id}, queue=settings.DETECTION_QUEUE
            )
        )


def export_read_and_send(read_id: int) -> list[int]:
    """The worker's part for a read: its report, then to every node that takes every result."""
    read = Read.objects.select_related("result", "reader").filter(pk=read_id).first()
    if read is None:
        return []
    export_read(read)
    return _to_every_node(read.result, read)


def export_and_send(result_id: int, send: bool = True) -> list[int]:
    """The worker's part: make the objects, then one delivery per node that takes every result."""
    result = DetectionResult.objects.select_related("model_version").filter(pk=result_id).first()
    if result is None:
        return []
    export_result(result)
    if not send:
        return []
    return _to_every_node(result, None)


def _to_every_node(result: DetectionResult, read: Read | None) -> list[int]:
    """A delivery per node that takes every result, each sent by a task of its own (so one
    node that cannot be reached is retried without holding up the others)."""
    deliveries = [
        Delivery.objects.create(result=result, read=read, node=node)
        for node in DicomNode.objects.filter(send_results=True, enabled=True)
    ]
    for delivery in deliveries:
        current_app.send_task(
            DELIVER_TASK, kwargs={"delivery_id": delivery.pk}, queue=settings.DETECTION_QUEUE
        )
    return [d.pk for d in deliveries]


def request_delivery(acting_user: AbstractBaseUser, result: DetectionResult, node: DicomNode) -> Delivery:
    """A user sends a result they may see to a node (queued for a worker)."""
    require(acting_user, "pacs.send_results", "send results to a DICOM node")
    if not node.enabled or not (node.has_dimse or node.dicomweb_url):
        raise DicomNode.DoesNotExist
    with transaction.atomic():
        delivery = Delivery.objects.create(result=result, node=node, requested_by=acting_user)
        audit(
            acting_user,
            "pacs.delivery_requested",
            result,
            details={"node": node.name, "delivery": delivery.pk, "study_id": result.study_id},
        )
        transaction.on_commit(
            lambda: current_app.send_task(
                DELIVER_TASK, kwargs={"delivery_id": delivery.pk}, queue=settings.DETECTION_QUEUE
            )
        )
    return delivery


def deliver(delivery_id: int) -> str:
    """Send one delivery's objects; its status afterwards. NodeUnreachable propagates after
    the row says so (the task retries)."""
    delivery = Delivery.objects.select_related("node", "result", "read").filter(pk=delivery_id).first()
    if delivery is None:
        return "gone"  # the result (and its deliveries) was deleted before the worker got here
    if delivery.read is not None:
        report = export_read(delivery.read)
        objects: list = [report]
        kinds = {report.sop_instance_uid: "read-sr"}
    else:
        objects = export_result(delivery.result)
        kinds = {o.sop_instance_uid: o.kind for o in objects}
    files = [Path(settings.MEDIA_ROOT) / o.file for o in objects]
    node = delivery.node
    try:
        sent = send(node, files)
    except NodeUnreachable as e:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED, detail=str(e), finished_at=timezone.now()
        )
        raise
    detail = "\n".join(f"{kinds.get(s.sop_instance_uid, s.sop_instance_uid)}: {s.answer}" for s in sent)
    status = Delivery.Status.SENT if all(s.ok for s in sent) else Delivery.Status.FAILED
    Delivery.objects.filter(pk=delivery.pk).update(
        status=status,
        via="c-store" if node.has_dimse else "stow-rs",
        detail=detail,
        finished_at=timezone.now(),
    )
    audit(
        None,
        "pacs.delivered",
        delivery.result,
        details={"node": node.name, "status": status, "detail": detail},
    )
    log.info("result %s to %s: %s", delivery.result_id, node.name, status)
    return status
