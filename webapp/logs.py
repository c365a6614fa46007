"""Logging for every process of the site (settings.LOGGING), collected from the console by the
process manager (systemd's journal, a container runtime).

``LOG_FORMAT=json`` (production's default) writes one JSON object per line: time, level, logger,
message, the context of the request or job being served (``request_id``, ``job_id``, ...) and the
fields a call passed in ``extra``. ``plain`` (development's default) writes readable lines with
the same context appended. The context lives in a contextvar: the web's request-id middleware
sets it, Celery carries the request id to the worker in a message header
(webapp/operations/request_ids.py), and the worker sets it around each task.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "fusionscreen_log_context", default=None
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def log_context() -> dict[str, Any]:
    """The context of the request or job this code runs for (a copy)."""
    return dict(_context.get() or {})


def bind(**fields: Any) -> contextvars.Token:
    """Add ``fields`` to every later log line of this context until ``unbind(token)``."""
    return _context.set({**log_context(), **{k: v for k, v in fields.items() if v is not None}})


def unbind(token: contextvars.Token) -> None:
    _context.reset(token)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line written inside the block (nested blocks add up)."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values that JSON cannot hold are written as strings."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        entry |= log_context()
        entry |= _extra(record)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...`` with the context and extras at the end."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {**log_context(), **_extra(record)}
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def logging_config(level: str, fmt: str = "plain") -> dict:
    if fmt not in {"plain", "json"}:
        raise ValueError(f"LOG_FORMAT={fmt!r}: expected plain or json")
    formatter = "webapp.logs.JsonFormatter" if fmt == "json" else "webapp.logs.PlainFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # One line per request comes from webapp.operations.requests; Django's own line for
            # 4xx/5xx would say it twice (errors keep their traceback through django.request).
            "django.server": {"level": "ERROR"},
        },
    }
