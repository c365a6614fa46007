"""NIfTI round trips and the LPS <-> RAS / [z, y, x] <-> (x, y, z) conventions."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from detector.geometry import Geometry
from detector.io import (
    UnsupportedSeriesError,
    read_nifti,
    read_series,
    read_volume,
    write_nifti,
)
from tests.detector.io_helpers import AXIAL, make_volume, rotation_z, write

ROTATED = (rotation_z(30.0) @ AXIAL.T).T  # non-identity in-plane direction
REVERSED = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize("direction", [AXIAL, ROTATED, REVERSED], ids=["axial", "rot30", "flip"])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_round_trip(tmp_path: Path, direction: np.ndarray, suffix: str) -> None:
    vol = make_volume((7, 9, 11), direction=direction)
    path = write_nifti(vol.hu, vol.geometry, tmp_path / f"v{suffix}")
    assert path.exists()
    got = read_nifti(path)
    assert got.hu.shape == (7, 9, 11) and got.hu.dtype == np.float32
    np.testing.assert_array_equal(got.hu, vol.hu)
    np.testing.assert_allclose(got.geometry.origin_lps_mm, vol.geometry.origin_lps_mm, atol=1e-4)
    np.testing.assert_allclose(got.geometry.spacing_zyx_mm, vol.geometry.spacing_zyx_mm, atol=1e-5)
    np.testing.assert_allclose(got.geometry.direction_zyx, vol.geometry.direction_zyx, atol=1e-6)


def test_affine_is_ras_of_xyz_indices(tmp_path: Path) -> None:
    vol = make_volume((7, 9, 11), direction=ROTATED)
    g = vol.geometry
    img = nib.load(write_nifti(vol.hu, g, tmp_path / "v.nii.gz"))
    assert img.shape == (11, 9, 7)  # stored as (x, y, z)
    for x, y, z in [(0, 0, 0), (10, 0, 0), (0, 8, 0), (0, 0, 6), (3, 4, 5)]:
        lps = g.index_to_lps([z, y, x])
        ras = img.affine @ [x, y, z, 1]
        np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=1e-5)
    data = np.asanyarray(img.dataobj)
    assert data[3, 4, 5] == vol.hu[5, 4, 3]
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
    np.testing.assert_allclose(img.get_qform(), img.get_sform(), atol=1e-5)
    np.testing.assert_allclose(img.header.get_zooms(), [0.8, 0.75, 2.5], atol=1e-6)


def test_same_lps_point_gets_same_value(tmp_path: Path) -> None:
    vol = make_volume((7, 9, 11), direction=REVERSED)
    img = nib.load(write_nifti(vol.hu, vol.geometry, tmp_path / "v.nii"))
    inv = np.linalg.inv(img.affine)
    data = np.asanyarray(img.dataobj)
    rng = np.random.default_rng(0)
    for z, y, x in zip(rng.integers(0, 7, 20), rng.integers(0, 9, 20), rng.integers(0, 11, 20)):
        lps = vol.geometry.index_to_lps([z, y, x])
        i, j, k = np.rint(inv @ [-lps[0], -lps[1], lps[2], 1])[:3].astype(int)
        assert data[i, j, k] == vol.hu[z, y, x]
        back = read_nifti(tmp_path / "v.nii")
        zyx = np.rint(back.geometry.lps_to_index(lps)).astype(int)
        assert back.hu[tuple(zyx)] == vol.hu[z, y, x]


def test_dicom_and_nifti_agree(tmp_path: Path) -> None:
    vol = make_volume(direction=ROTATED)
    write(vol, tmp_path / "dcm")
    dicom = read_series(tmp_path / "dcm")
    write_nifti(dicom.hu, dicom.geometry, tmp_path / "v.nii.gz")
    nifti = read_volume(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(nifti.hu, dicom.hu)
    np.testing.assert_allclose(nifti.geometry.affine_zyx, dicom.geometry.affine_zyx, atol=1e-4)


def test_dtype_option_and_masks(tmp_path: Path) -> None:
    g = Geometry([0, 0, 0], [1, 1, 1])
    mask = np.zeros((3, 4, 5), bool)
    mask[1, 2, 3] = True
    img = nib.load(write_nifti(mask, g, tmp_path / "m.nii.gz"))
    assert img.get_data_dtype() == np.uint8
    img = nib.load(write_nifti(mask, g, tmp_path / "m16.nii.gz", dtype=np.int16))
    assert img.get_data_dtype() == np.int16
    assert read_nifti(tmp_path / "m16.nii.gz").hu[1, 2, 3] == 1


def test_4d_and_missing_files_are_rejected(tmp_path: Path) -> None:
    nib.save(
        nib.Nifti1Image(np.zeros((2, 3, 4, 2), np.float32), np.eye(4)),
        tmp_path / "t.nii",
    )
    with pytest.raises(UnsupportedSeriesError, match="4-D"):
        read_nifti(tmp_path / "t.nii")
    nib.save(
        nib.Nifti1Image(np.ones((2, 3, 4, 1), np.float32), np.eye(4)),
        tmp_path / "s.nii",
    )
    assert read_nifti(tmp_path / "s.nii").shape == (4, 3, 2)
    with pytest.raises(FileNotFoundError):
        read_nifti(tmp_path / "absent.nii.gz")
    with pytest.raises(ValueError, match="3-D"):
        write_nifti(np.zeros((2, 2)), Geometry([0, 0, 0], [1, 1, 1]), tmp_path / "x.nii")
