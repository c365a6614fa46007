"""The CT images a result was computed on, in the result grid's slice order: what every DICOM
object we derive from a result references, and whose frame of reference it shares."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from detector.geometry import Geometry
from webapp.studies.models import Instance


class SourceMismatch(Exception):
    """The stored CT images no longer match the result's grid (images removed or replaced)."""


@dataclass
class SourceImages:
    datasets: list[Dataset]  # one per slice of the grid, z = 0 first (headers, no pixel data)
    geometry: Geometry
    shape_zyx: tuple[int, int, int]

    @property
    def frame_of_reference_uid(self) -> str:
        return str(self.datasets[0].FrameOfReferenceUID)


def source_images(series_instance_uid: str, grid: dict) -> SourceImages:
    """The series' instances matched to the grid's slices by position (within half a slice)."""
    geometry = Geometry.from_dict(grid)
    shape = tuple(int(n) for n in grid["shape_zyx"])
    instances = Instance.objects.filter(series__series_instance_uid=series_instance_uid)
    headers = [pydicom.dcmread(i.absolute_path, stop_before_pixels=True) for i in instances]
    if len(headers) < shape[0]:
        raise SourceMismatch(f"the series has {len(headers)} images; the result's grid has {shape[0]} slices")
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in headers])
    wanted = geometry.index_to_lps(np.stack([np.arange(shape[0]), np.zeros(shape[0]), np.zeros(shape[0])], 1))
    chosen = []
    tolerance = 0.5 * float(geometry.spacing_zyx_mm[0])
    for z, target in enumerate(wanted):
        distances = np.linalg.norm(positions - target, axis=1)
        best = int(np.argmin(distances))
        if distances[best] > tolerance:
            raise SourceMismatch(f"no image of the series lies at slice {z} of the result's grid")
        chosen.append(headers[best])
    return SourceImages(chosen, geometry, shape)  # type: ignore[arg-type]
