"""NIfTI read/write on the project's [z, y, x] + LPS :class:`Geometry` convention.

NIfTI stores voxel (i, j, k) -> RAS mm. We store the array transposed to (x, y, z) and
flip L/P to R/A so that ITK-SNAP, 3D Slicer and nibabel show the DICOM grid unchanged.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from detector.geometry import CTVolume, Geometry
from detector.io.errors import UnsupportedSeriesError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])  # its own inverse


def _affine_xyz_ras(geometry: Geometry) -> np.ndarray:
    """4x4 affine taking (x, y, z, 1) voxel indices to RAS mm."""
    a = np.eye(4)
    # Column a of affine_zyx belongs to index axis a (z, y, x); NIfTI wants (x, y, z).
    a[:3, :3] = geometry.affine_zyx[:3, [2, 1, 0]]
    a[:3, 3] = geometry.origin_lps_mm
    return LPS_TO_RAS @ a


def _is_orthogonal(rotation: np.ndarray) -> bool:
    unit = rotation / np.linalg.norm(rotation, axis=0)
    return bool(np.allclose(unit.T @ unit, np.eye(3), atol=1e-6))


def write_nifti(
    array: np.ndarray,
    geometry: Geometry,
    path: Path | str,
    *,
    dtype=None,
    quantize: bool = False,
) -> Path:
    """Write a [z, y, x] array on ``geometry`` as .nii/.nii.gz; returns the path.

    ``quantize`` stores floats as uint16 with the header's slope/intercept (maps: 4x smaller,
    error below 1/65535 of the range).
    """
    arr = np.asarray(array)
    if arr.ndim != 3:
        raise ValueError(f"write_nifti expects a 3-D [z, y, x] array, got shape {arr.shape}")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)  # NIfTI has no boolean type
    affine = _affine_xyz_ras(geometry)
    img = nib.Nifti1Image(arr.transpose(2, 1, 0), affine)
    img.header.set_xyzt_units("mm")
    if quantize:
        img.set_data_dtype(np.uint16)  # nibabel picks slope/intercept to span the range
    img.set_sform(affine, code="scanner")
    # The qform can only hold a rotation; leave it unset for sheared grids.
    img.set_qform(affine if _is_orthogonal(affine[:3, :3]) else None, code="scanner")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, out)
    return out


def read_nifti(path: Path | str) -> CTVolume:
    """Read a 3-D NIfTI image as a float32 [z, y, x] volume with LPS geometry."""
    src = Path(path)
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist; check the path and try again")
    img = nib.load(src)
    data = img.get_fdata(dtype=np.float32)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]  # some tools write a trailing singleton time axis
    if data.ndim != 3:
        raise UnsupportedSeriesError(
            f"{src} holds a {data.ndim}-D image of shape {data.shape}; only 3-D volumes "
            "can be read — save a single 3-D volume"
        )
    lps = LPS_TO_RAS @ img.affine
    cols = lps[:3, :3]  # columns: steps along voxel x, y, z in LPS mm
    spacing_xyz = np.linalg.norm(cols, axis=0)
    direction_xyz = (cols / spacing_xyz).T
    geometry = Geometry(
        origin_lps_mm=lps[:3, 3],
        spacing_zyx_mm=spacing_xyz[::-1],
        direction_zyx=direction_xyz[::-1],
    )
    hu = np.ascontiguousarray(data.transpose(2, 1, 0))
    meta = {
        "source": str(src),
        "format": "nifti",
        "n_slices": int(hu.shape[0]),
        "description": str(img.header["descrip"].astype(str)),
    }
    return CTVolume(hu=hu, geometry=geometry, meta=meta)
