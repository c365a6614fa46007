"""Celery tasks of the DICOM network: primary keys in; the work is in ``deliveries``."""

from __future__ import annotations

from celery import shared_task

from webapp.pacs import deliveries, retrieving
from webapp.pacs.sending import NodeUnreachable

_RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name=deliveries.EXPORT_TASK, **_RELIABLE)
def export_result(result_id: int, send: bool = True) -> list[int]:
    return deliveries.export_and_send(result_id, send)


@shared_task(name=deliveries.EXPORT_READ_TASK, **_RELIABLE)
def export_read(read_id: int) -> list[int]:
    return deliveries.export_read_and_send(read_id)


@shared_task(
    name=deliveries.DELIVER_TASK,
    autoretry_for=(NodeUnreachable,),
    max_retries=5,
    retry_backoff=30,
    retry_backoff_max=600,
    **_RELIABLE,
)
def deliver(delivery_id: int) -> str:
    return deliveries.deliver(delivery_id)


@shared_task(name=retrieving.RETRIEVE_TASK, **_RELIABLE)
def retrieve(retrieval_id: int) -> str:
    return retrieving.run_retrieval(retrieval_id)
