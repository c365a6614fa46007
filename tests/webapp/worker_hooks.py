"""Loaded into test workers (``celery worker --include tests.webapp.worker_hooks``): lets a test
hold a job in the middle of its work, to kill the worker or cancel the job right there.

A test asks by creating ``$FS_TEST_PAUSE_DIR/pause-at-<stage>``. The first job to reach that
stage consumes the request, creates ``paused-<Model>-<job>-<attempt>`` and waits until the test
deletes that file (or five minutes pass).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django.dispatch import receiver

from webapp.detection.signals import job_stage


@receiver(job_stage, dispatch_uid="tests.webapp.worker_hooks.pause")
def pause_at_requested_stage(sender: Any, job_id: int, attempt: int, stage: str, **kwargs: Any) -> None:
    folder = os.environ.get("FS_TEST_PAUSE_DIR")
    if not folder:
        return
    request = Path(folder) / f"pause-at-{stage}"
    try:
        request.unlink()
    except FileNotFoundError:
        return
    marker = Path(folder) / f"paused-{sender.__name__}-{job_id}-{attempt}"
    marker.touch()
    deadline = time.monotonic() + 300
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
