"""Shared builders for the detector.io tests: small synthetic CT volumes and file edits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from detector.geometry import CTVolume, Geometry
from detector.io import write_series

STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.1.1"
AXIAL = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # z=S, y=P, x=L


def make_volume(
    shape: tuple[int, int, int] = (20, 32, 32),
    *,
    direction: np.ndarray = AXIAL,
    origin: tuple[float, float, float] = (-100.5, -120.25, 50.0),
    spacing: tuple[float, float, float] = (2.5, 0.75, 0.8),
) -> CTVolume:
    """Integer-HU volume in which every voxel value is unique (so flips/swaps show)."""
    z, y, x = np.indices(shape)
    assert shape[1] <= 33 and shape[2] <= 33  # keeps y * 33 + x unique below 1100
    hu = (z * 1100 + y * 33 + x - 1024).astype(np.float32)
    return CTVolume(hu=hu, geometry=Geometry(origin, spacing, direction), meta={})


def write(vol: CTVolume, out_dir: Path, series_uid: str = SERIES_UID, **kw) -> list[Path]:
    """write_series with fixed test identities."""
    kw.setdefault("patient_id", "FS-0001")
    kw.setdefault("patient_name", "Test^Patient")
    kw.setdefault("study_instance_uid", STUDY_UID)
    return write_series(vol, out_dir, series_instance_uid=series_uid, **kw)


def edit(path: Path, change: Callable[[Dataset], None]) -> None:
    """Apply ``change`` to a DICOM file in place."""
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path, enforce_file_format=True)


def rotation_z(deg: float) -> np.ndarray:
    """3x3 rotation about the S axis (LPS)."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
