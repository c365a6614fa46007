"""The checks behind /readyz, each cheap (milliseconds) and free of patient data.

A check returns (ok, detail). Nothing here loads torch: "the active model is loadable" means
its files are where the database says, model.json reads with the format the model was imported
with, and model.pt has the checksum recorded at import (hashed once per file size and mtime and
remembered by the process, so a poll costs a stat).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone
from kombu import Connection

from webapp.detection.models import ModelVersion
from webapp.detection.versions import file_sha256
from webapp.operations.models import WorkerHeartbeat

Check = Callable[[], tuple[bool, str]]
_checksums: dict[tuple[str, int, int], str] = {}


def database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, connection.vendor


def broker() -> tuple[bool, str]:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        return _writable(folder), "filesystem"
    with Connection(
        url, connect_timeout=2, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return True, conn.transport.driver_name


def _writable(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".readyz-", delete=True) as probe:
        probe.write(b"ok")
        probe.flush()
        os.fsync(probe.fileno())
    return True


def media() -> tuple[bool, str]:
    return _writable(Path(settings.MEDIA_ROOT)), "writable"


def worker() -> tuple[bool, str]:
    """A worker on the detection queue has beaten within READY_WORKER_MAX_AGE seconds."""
    queue = settings.DETECTION_QUEUE
    since = timezone.now() - timedelta(seconds=settings.READY_WORKER_MAX_AGE)
    live = [
        w
        for w in WorkerHeartbeat.objects.filter(seen_at__gte=since, stopped=False)
        if queue in w.queues.split(",")
    ]
    if not live:
        return False, f"no worker on queue {queue} seen in the last {settings.READY_WORKER_MAX_AGE} s"
    return True, f"{len(live)} on queue {queue}"


def model() -> tuple[bool, str]:
    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        return False, "no active model version"
    directory = version.path
    try:
        meta = json.loads((directory / "model.json").read_text())
    except (OSError, ValueError) as e:
        return False, f"model version {version.pk}: model.json unreadable ({type(e).__name__})"
    if meta.get("format_version") != version.meta.get("format_version"):
        return False, f"model version {version.pk}: model.json format changed since import"
    weights = directory / "model.pt"
    try:
        stat = weights.stat()
    except OSError:
        return False, f"model version {version.pk}: model.pt missing"
    key = (str(weights), stat.st_size, stat.st_mtime_ns)
    if key not in _checksums:
        _checksums[key] = file_sha256(weights)
    if version.model_sha256 and _checksums[key] != version.model_sha256:
        return False, f"model version {version.pk}: model.pt checksum differs from the imported one"
    return True, f"model version {version.pk}"


CHECKS: dict[str, Check] = {
    "database": database,
    "broker": broker,
    "media": media,
    "worker": worker,
    "model": model,
}


def readiness() -> tuple[bool, dict[str, dict]]:
    """Run every check; one failing (or raising) makes the site not ready."""
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            ok, detail = check()
        except Exception as e:  # the probe reports; it never raises
            ok, detail = False, f"{type(e).__name__}: {str(e)[:200]}"
        results[name] = {"ok": ok, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return all(r["ok"] for r in results.values()), results
