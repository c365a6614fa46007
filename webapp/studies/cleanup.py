"""Removing what interrupted work leaves behind: staging folders of uploads whose process died,
upload parts Django streamed to disk for a request that never finished, and model folders whose
copy never completed. Nothing younger than ``older_than_s`` is touched (it may be in use)."""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)


@dataclass
class CleanupReport:
    removed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"removed {len(self.removed)} orphan(s)" + (
            f": {', '.join(self.removed)}" if self.removed else ""
        )


def _orphan_candidates() -> list[Path]:
    media = Path(settings.MEDIA_ROOT)
    found: list[Path] = []
    found += (media / ".staging").glob("*")  # an ingest batch's private folder
    found += (media / "models").glob("*.partial")  # a model import that did not finish
    found += Path(settings.FILE_UPLOAD_TEMP_DIR).glob("*.upload")  # a request's streamed parts
    return found


def cleanup_orphans(older_than_s: int | None = None, now: float | None = None) -> CleanupReport:
    """Remove every orphan last modified more than ``older_than_s`` seconds ago (default
    ORPHAN_MAX_AGE_S)."""
    limit = settings.ORPHAN_MAX_AGE_S if older_than_s is None else older_than_s
    cutoff = (time.time() if now is None else now) - limit
    report = CleanupReport()
    for path in _orphan_candidates():
        try:
            if path.lstat().st_mtime >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # removed by its owner meanwhile
        report.removed.append(str(path.relative_to(path.parents[1])))
    if report.removed:
        log.warning("orphan cleanup: %s", report)
    return report
