"""Cohorts on disk: folders of series plus an optional ``labels.csv`` in the cohort format.

Columns: study_instance_uid, patient_id, folder, label, lesion_type, lesion_center_x_mm,
lesion_center_y_mm, lesion_center_z_mm, lesion_diameter_mm (+ optional lesion_site). ``folder``
is relative to the CSV; ``label`` is normal or abnormal; coordinates are LPS millimetres.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from detector.io import list_series

# The cohort format: what readers require, plus the optional lesion_site that writers add.
LABEL_COLUMNS = (
    "study_instance_uid",
    "patient_id",
    "folder",
    "label",
    "lesion_type",
    "lesion_center_x_mm",
    "lesion_center_y_mm",
    "lesion_center_z_mm",
    "lesion_diameter_mm",
    "lesion_site",
)
REQUIRED_COLUMNS = LABEL_COLUMNS[:-1]


class CohortError(ValueError):
    """A labels file or cohort folder that cannot be used as it is."""


@dataclass
class CohortEntry:
    folder: Path
    patient_id: str
    study_instance_uid: str
    label: str  # "normal" | "abnormal" | "" (unlabelled)
    lesion_type: str = ""
    lesion_center_lps_mm: tuple[float, float, float] | None = None
    lesion_diameter_mm: float | None = None
    lesion_site: str = ""

    @property
    def is_abnormal(self) -> bool:
        return self.label == "abnormal"


def read_labels(csv_path: Path | str) -> list[CohortEntry]:
    """Parse a labels CSV; errors name the row and the field."""
    path = Path(csv_path)
    if not path.is_file():
        raise CohortError(f"labels file not found: {path}")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CohortError(f"{path}: missing column(s) {', '.join(missing)}")
        entries = []
        for row_no, row in enumerate(reader, start=2):
            label = row["label"].strip().lower()
            if label not in {"normal", "abnormal"}:
                raise CohortError(f"{path} line {row_no}: label must be normal or abnormal, got {label!r}")
            centre = None
            if label == "abnormal" and row["lesion_center_x_mm"].strip():
                try:
                    centre = tuple(float(row[f"lesion_center_{a}_mm"]) for a in "xyz")
                except ValueError as e:
                    raise CohortError(f"{path} line {row_no}: lesion centre is not numeric ({e})") from e
            diam = row["lesion_diameter_mm"].strip()
            entries.append(
                CohortEntry(
                    folder=(path.parent / row["folder"]).resolve(),
                    patient_id=row["patient_id"],
                    study_instance_uid=row["study_instance_uid"],
                    label=label,
                    lesion_type=row["lesion_type"].strip(),
                    lesion_center_lps_mm=centre,  # type: ignore[arg-type]
                    lesion_diameter_mm=float(diam) if diam else None,
                    lesion_site=(row.get("lesion_site") or "").strip(),
                )
            )
    return entries


def discover(folder: Path | str, labels: Path | str | None = None) -> list[CohortEntry]:
    """Studies of a cohort: from the labels file when given (or ``folder/labels.csv``), else
    one entry per CT series found under ``folder``."""
    root = Path(folder)
    csv_path = Path(labels) if labels else root / "labels.csv"
    if csv_path.is_file():
        return read_labels(csv_path)
    entries = []
    for info in list_series(root):
        if info.modality != "CT":
            continue
        parent = Path(_common_parent(info.files))
        entries.append(CohortEntry(parent, info.patient_id, info.study_instance_uid, ""))
    if not entries:
        raise CohortError(f"no CT series found under {root}")
    return entries


def _common_parent(files: list[Path]) -> str:
    return os.path.commonpath([str(f.parent) for f in files])
