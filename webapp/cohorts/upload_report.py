"""An upload's outcome as a coordinator reads it: the studies first (new, duplicate or refused,
each with why), then every file's verdict for whoever needs the detail."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from webapp.studies.ingest import ACCEPTED, DUPLICATE, REJECTED, FileVerdict
from webapp.studies.models import Study


@dataclass
class StudyOutcome:
    study_instance_uid: str  # "" for files that were not recognised as part of any study
    outcome: str  # "new" | "added to" | "duplicate" | "refused" | "unrecognised"
    files: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # the distinct reasons, most frequent first
    study: Study | None = None


def study_outcomes(
    files: list[FileVerdict], known: dict[str, Study], new_uids: set[str]
) -> list[StudyOutcome]:
    """One row per study the upload touched (refused and unrecognised ones first, they need
    action), with its file counts and reasons; ``known`` maps a stored study's UID to it and
    ``new_uids`` are the studies this upload created."""
    groups: dict[str, list[FileVerdict]] = {}
    for f in files:
        groups.setdefault(f.study_instance_uid, []).append(f)
    rows = []
    for uid, group in groups.items():
        counts = Counter(f.verdict for f in group)
        reasons = [r for r, _ in Counter(f.reason for f in group if f.reason).most_common()]
        if not uid:
            outcome = "unrecognised"
        elif counts[ACCEPTED]:
            outcome = "new" if uid in new_uids else "added to"
        elif counts[DUPLICATE]:
            outcome = "duplicate"
        else:
            outcome = "refused"
        rows.append(
            StudyOutcome(
                uid,
                outcome,
                len(group),
                {v: counts[v] for v in (ACCEPTED, DUPLICATE, REJECTED)},
                reasons,
                known.get(uid),
            )
        )
    order = {"refused": 0, "unrecognised": 1, "new": 2, "added to": 3, "duplicate": 4}
    return sorted(rows, key=lambda r: (order[r.outcome], r.study_instance_uid))
