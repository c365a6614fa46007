"""Voxel grids in patient space (DICOM LPS millimetres).

Every volume in the project is a numpy array indexed ``[z, y, x]`` (slice, row, column)
together with a :class:`Geometry` that maps those indices to LPS millimetres. Keeping the
mapping in one small object makes the classic orientation bugs hard to write.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Geometry:
    """Affine map from array indices ``(z, y, x)`` to patient LPS millimetres.

    ``direction_zyx[a]`` is the LPS unit vector along index axis ``a`` (0=z slices,
    1=y rows, 2=x columns). For a DICOM series: x follows the first ImageOrientationPatient
    triplet (along a row), y the second (down a column), z the stacking direction.
    """

    origin_lps_mm: np.ndarray  # (3,) LPS of the centre of voxel [0, 0, 0]
    spacing_zyx_mm: np.ndarray  # (3,) distance between voxel centres along z, y, x
    direction_zyx: np.ndarray = field(default_factory=lambda: np.eye(3)[::-1].copy())

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin_lps_mm", np.asarray(self.origin_lps_mm, float).reshape(3))
        object.__setattr__(self, "spacing_zyx_mm", np.asarray(self.spacing_zyx_mm, float).reshape(3))
        object.__setattr__(self, "direction_zyx", np.asarray(self.direction_zyx, float).reshape(3, 3))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Geometry):
            return NotImplemented
        return bool(np.allclose(self.affine_zyx, other.affine_zyx, atol=1e-6))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside: not hashable

    @property
    def affine_zyx(self) -> np.ndarray:
        """4x4 matrix taking homogeneous ``(z, y, x, 1)`` indices to ``(L, P, S, 1)`` mm."""
        a = np.eye(4)
        a[:3, :3] = (self.direction_zyx * self.spacing_zyx_mm[:, None]).T
        a[:3, 3] = self.origin_lps_mm
        return a

    def index_to_lps(self, index_zyx: np.ndarray) -> np.ndarray:
        """(..., 3) voxel indices (may be fractional) -> (..., 3) LPS mm."""
        idx = np.asarray(index_zyx, float)
        return self.origin_lps_mm + (idx * self.spacing_zyx_mm) @ self.direction_zyx

    def lps_to_index(self, lps_mm: np.ndarray) -> np.ndarray:
        """(..., 3) LPS mm -> (..., 3) fractional voxel indices ``(z, y, x)``."""
        rel = np.asarray(lps_mm, float) - self.origin_lps_mm
        return (rel @ np.linalg.inv(self.direction_zyx)) / self.spacing_zyx_mm

    def to_dict(self) -> dict:
        return {
            "origin_lps_mm": self.origin_lps_mm.tolist(),
            "spacing_zyx_mm": self.spacing_zyx_mm.tolist(),
            "direction_zyx": self.direction_zyx.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Geometry:
        return cls(d["origin_lps_mm"], d["spacing_zyx_mm"], d["direction_zyx"])


@dataclass
class CTVolume:
    """One CT series as a float32 HU array on its own grid, with identity metadata."""

    hu: np.ndarray  # (z, y, x) float32 Hounsfield units
    geometry: Geometry
    meta: dict = field(default_factory=dict)  # patient_id, study/series UIDs, source path...

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.hu.shape)  # type: ignore[return-value]
