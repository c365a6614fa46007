"""The studies app's periodic task: removing what interrupted uploads left on disk."""

from __future__ import annotations

from celery import shared_task

from webapp.studies.cleanup import cleanup_orphans


@shared_task(name="studies.cleanup_orphans", acks_late=False)
def cleanup_orphans_task() -> str:
    return str(cleanup_orphans())
