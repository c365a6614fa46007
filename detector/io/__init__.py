"""Reading and writing CT volumes: DICOM series (read/write) and NIfTI (read/write)."""

from __future__ import annotations

from pathlib import Path

from detector.geometry import CTVolume
from detector.io.dicom_scan import SeriesInfo, list_series
from detector.io.dicom_series import read_series
from detector.io.dicom_write import write_series
from detector.io.errors import (
    DuplicateSliceError,
    InconsistentGridError,
    MissingSliceError,
    MissingTagError,
    MixedOrientationError,
    MultipleSeriesError,
    NoDicomError,
    NonAxialError,
    NotCTError,
    SeriesError,
    TooFewSlicesError,
    UnevenSpacingError,
    UnreadablePixelDataError,
    UnsupportedSeriesError,
)
from detector.io.nifti import read_nifti, write_nifti


def read_volume(path: Path | str, series_uid: str | None = None) -> CTVolume:
    """A CT volume from a .nii/.nii.gz file, a DICOM file or a folder of DICOM files."""
    p = Path(path)
    name = p.name.lower()
    if p.is_file() and name.endswith((".nii", ".nii.gz")):
        return read_nifti(p)
    return read_series(p, series_uid)


__all__ = [
    "DuplicateSliceError",
    "InconsistentGridError",
    "MissingSliceError",
    "MissingTagError",
    "MixedOrientationError",
    "MultipleSeriesError",
    "NoDicomError",
    "NonAxialError",
    "NotCTError",
    "SeriesError",
    "SeriesInfo",
    "TooFewSlicesError",
    "UnevenSpacingError",
    "UnreadablePixelDataError",
    "UnsupportedSeriesError",
    "list_series",
    "read_nifti",
    "read_series",
    "read_volume",
    "write_nifti",
    "write_series",
]
