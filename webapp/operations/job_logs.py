"""Request ids carried from the web to the worker, and one log line per job step.

The web request's id (webapp/operations/requests.py) travels in each Celery message's headers;
the worker binds it, with the task and job ids, to every line it logs while the task runs. So
`grep <request id>` over the web's and the workers' logs finds the upload and the detection it
started.
"""

from __future__ import annotations

import logging
from contextvars import Token
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from webapp.logs import bind, log_context, unbind

log = logging.getLogger("webapp.jobs")

HEADER = "fusionscreen_request_id"
_tokens: dict[str, Token] = {}
JOB_KEYS = ("job_id", "training_job_id", "calibration_id")


def _add_request_id(headers: dict[str, Any] | None = None, **_: object) -> None:
    request_id = log_context().get("request_id")
    if headers is not None and request_id:
        headers[HEADER] = request_id


def _bind_task(task_id: str, task, kwargs: dict | None = None, **_: object) -> None:
    fields: dict[str, Any] = {"task": task.name, "task_id": task_id}
    request_id = task.request.get(HEADER) or (task.request.headers or {}).get(HEADER)
    if request_id:
        fields["request_id"] = request_id
    for key in JOB_KEYS:  # tasks take primary keys only, by keyword
        if key in (kwargs or {}):
            fields[key] = kwargs[key]
    _tokens[task_id] = bind(**fields)


def _unbind_task(task_id: str, **_: object) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        unbind(token)


def _log_step(sender, job_id: int, attempt: int, stage: str, progress: float | None, **_: object) -> None:
    log.info(
        "job step",
        extra={
            "job": sender.__name__,
            "job_id": job_id,
            "attempt": attempt,
            "stage": stage,
            "progress": progress,
        },
    )


def connect() -> None:
    from webapp.detection.signals import job_stage

    before_task_publish.connect(_add_request_id, dispatch_uid="operations.request_id.publish")
    task_prerun.connect(_bind_task, dispatch_uid="operations.request_id.prerun")
    task_postrun.connect(_unbind_task, dispatch_uid="operations.request_id.postrun")
    job_stage.connect(_log_step, dispatch_uid="operations.job_step_log")
