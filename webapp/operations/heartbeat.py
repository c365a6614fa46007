"""Worker heartbeats: each Celery worker process keeps a row in WorkerHeartbeat fresh from a
daemon thread, so /readyz can tell whether any worker serves the detection queue.

A thread rather than Celery's own event heartbeats: those need events enabled and a listener,
and the file-system broker of the embedded default carries no events. The thread has its own
database connection (Django's are per thread) and closes it after each beat.
"""

from __future__ import annotations

import logging
import os
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

log = logging.getLogger(__name__)

_stop = threading.Event()


def beat(name: str, queues: list[str]) -> None:
    """Write this worker's row now."""
    from webapp.operations.models import WorkerHeartbeat

    now = timezone.now()
    fields = {"queues": ",".join(sorted(queues))[:200], "pid": os.getpid(), "seen_at": now, "stopped": False}
    # One UPDATE statement (no transaction, no row lock held between statements): a beat never
    # waits on, or holds up, the rest of the database for longer than that statement.
    if not WorkerHeartbeat.objects.filter(name=name[:200]).update(**fields):
        WorkerHeartbeat.objects.get_or_create(name=name[:200], defaults={**fields, "started_at": now})


def _loop(name: str, queues: list[str]) -> None:
    while not _stop.is_set():
        try:
            close_old_connections()
            beat(name, queues)
        except Exception:  # a database blip must not end the heartbeat; /readyz shows it stale
            log.warning("worker heartbeat failed", exc_info=True)
        finally:
            connection.close()
        _stop.wait(settings.WORKER_HEARTBEAT_EVERY)


def _on_ready(sender, **_: object) -> None:
    name = sender.hostname
    queues = sorted(sender.app.amqp.queues.consume_from)
    _stop.clear()
    threading.Thread(target=_loop, args=(name, queues), name="fusionscreen-heartbeat", daemon=True).start()
    log.info("worker heartbeat started", extra={"worker": name, "queues": ",".join(queues)})


def _on_shutdown(sender=None, **_: object) -> None:
    """Say so on a clean stop, so /readyz does not count a worker that left."""
    _stop.set()
    from webapp.operations.models import WorkerHeartbeat

    name = getattr(sender, "hostname", None)
    if not name:
        return
    try:
        WorkerHeartbeat.objects.filter(name=name).update(stopped=True, seen_at=timezone.now())
    except Exception:
        log.warning("could not record the worker's stop", exc_info=True)
    finally:
        connection.close()


def connect() -> None:
    worker_ready.connect(_on_ready, dispatch_uid="operations.heartbeat.ready")
    worker_shutdown.connect(_on_shutdown, dispatch_uid="operations.heartbeat.shutdown")
