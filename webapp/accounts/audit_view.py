"""The audit trail as people read it: each event's details as labelled values, with links to the
objects they name (studies, cohorts, worklists, calibrations, model versions), instead of the
stored JSON. The rows themselves are never changed (they are hash-chained); this only presents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse

from webapp.accounts.models import AuditEvent

# Where an object of a type is shown, by URL name (the object's id is its one argument).
OBJECT_PAGES = {
    "studies.study": "viewer:study",
    "cohorts.cohort": "cohort_pages:detail",
    "worklists.worklist": "worklist_pages:detail",
    "worklists.worklistitem": "viewer:item",
    "detection.calibration": "detection_pages:calibration",
    "detection.modelversion": "detection_pages:model_version",
}
# Detail keys that hold the id of an object of a type (a list of them for the plural keys).
ID_KEYS = {
    "study": "studies.study",
    "study_id": "studies.study",
    "study_ids": "studies.study",
    "disagreement_study_ids": "studies.study",
    "cohort": "cohorts.cohort",
    "cohort_id": "cohorts.cohort",
    "worklist": "worklists.worklist",
    "worklist_id": "worklists.worklist",
    "item": "worklists.worklistitem",
    "calibration": "detection.calibration",
}
MAX_LISTED = 8  # ids shown of a longer list, the rest counted


@dataclass(frozen=True)
class Part:
    text: str
    url: str | None = None


def object_url(object_type: str, object_id: Any) -> str | None:
    name = OBJECT_PAGES.get(object_type)
    if not name or object_id in (None, ""):
        return None
    try:
        return reverse(name, args=[int(object_id)])
    except (NoReverseMatch, TypeError, ValueError):
        return None


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None or value == "":
        return "–"
    return str(value)


def _value(key: str, value: Any) -> list[Part]:
    kind = ID_KEYS.get(key)
    if isinstance(value, list):
        if not value:
            return [Part("none")]
        shown = value[:MAX_LISTED]
        parts = [Part(_scalar(v), object_url(kind, v) if kind else None) for v in shown]
        if len(value) > MAX_LISTED:
            parts.append(Part(f"… and {len(value) - MAX_LISTED} more"))
        return parts
    if isinstance(value, dict):
        return [
            Part(f"{k.replace('_', ' ')} {_scalar(v)}") for k, v in value.items() if v not in ("", None)
        ] or [Part("–")]
    return [Part(_scalar(value), object_url(kind, value) if kind else None)]


def _label(key: str, value: Any) -> str:
    label = key.removesuffix("_id").removesuffix("_ids").replace("_", " ")
    if isinstance(value, list) and key.endswith("_ids"):
        label = f"{label} ({len(value)})"
    return label


def detail_rows(event: AuditEvent) -> list[tuple[str, list[Part]]]:
    """(label, parts) per detail key, in stored order."""
    details = event.details if isinstance(event.details, dict) else {"details": event.details}
    return [(_label(k, v), _value(k, v)) for k, v in details.items()]


def present(events: list[AuditEvent]) -> list[AuditEvent]:
    """The events with ``object_url`` and ``detail_rows`` for the template."""
    for event in events:
        event.object_url = object_url(event.object_type, event.object_id)
        event.detail_rows = detail_rows(event)
    return events
