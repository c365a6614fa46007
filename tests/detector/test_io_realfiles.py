"""Every real DICOM test file shipped with pydicom and pydicom-data goes through read_series.

Each must give a CTVolume or a *specific* SeriesError subclass, never a crash. The files
are located on disk directly: pydicom.data.get_testdata_file() may try to download.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from detector.geometry import CTVolume
from detector.io import (
    MissingSliceError,
    MultipleSeriesError,
    NoDicomError,
    NonAxialError,
    NotCTError,
    SeriesError,
    TooFewSlicesError,
    UnreadablePixelDataError,
    UnsupportedSeriesError,
    list_series,
    read_series,
)

# Odd real-world files make pydicom warn; the warnings are not what these tests check.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PYDICOM_DIR = Path(pydicom.__file__).parent / "data" / "test_files"


def _data_store_dir() -> Path | None:
    try:
        import data_store  # installed by the pydicom-data package
    except ImportError:
        return None
    return Path(data_store.__file__).parent / "data"


DATA_STORE_DIR = _data_store_dir()
ROOTS = {"pydicom": PYDICOM_DIR, "pydicom-data": DATA_STORE_DIR}


def _all_files() -> list[tuple[str, Path]]:
    out = []
    for tag, root in ROOTS.items():
        if root is None or not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path.suffix in (".pyc", ".py"):
                continue
            out.append((f"{tag}/{path.relative_to(root).as_posix()}", path))
    return out


ALL_FILES = _all_files()
DIRDIR = PYDICOM_DIR / "dicomdirtests"

# Single CT Image Storage slices that are axial and carry pixels: 1 slice each.
AXIAL_CT_SLICES = {
    "pydicom/CT_small.dcm",
    "pydicom/693_J2KI.dcm",
    "pydicom-data/693_J2KR.dcm",
    "pydicom-data/693_UNCI.dcm",
    "pydicom-data/693_UNCR.dcm",
    "pydicom-data/bad_sequence.dcm",
    "pydicom-data/explicit_VR-UN.dcm",
    *(f"pydicom/dicomdirtests/77654033/CT2/{n}" for n in ("17106", "17136", "17166", "17196")),
    *(f"pydicom/dicomdirtests/98892001/CT5N/{n}" for n in ("2062", "2392", "2693", "3023", "3353")),
}
NON_AXIAL_CT = {
    "pydicom/J2K_pixelrep_mismatch.dcm",  # 22 degree oblique
    "pydicom/dicomdirtests/98892001/CT2N/6293",  # sagittal scout
    "pydicom/dicomdirtests/98892001/CT2N/6924",  # coronal scout
}
ENHANCED_CT = {"pydicom-data/eCT_Supplemental.dcm"}
TINY_ALPHA = "pydicom/dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/"  # no pixels
LOSSY_FROM_PADDED = {"pydicom/693_J2KI.dcm", "pydicom-data/693_UNCI.dcm"}


def _modality(path: Path) -> str | None:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True).get("Modality")
    except Exception:  # noqa: BLE001 - not DICOM: no modality
        return None


def _file(name: str) -> Path:
    return dict(ALL_FILES)[name]


def test_the_test_files_are_there() -> None:
    assert DATA_STORE_DIR is not None, "pydicom-data (data_store) is in requirements.txt"
    assert len(ALL_FILES) > 200


def test_which_files_are_ct() -> None:
    ct = {name for name, path in ALL_FILES if _modality(path) == "CT"}
    tiny = {n for n in ct if n.startswith(TINY_ALPHA)}
    assert len(tiny) == 50
    assert ct - tiny == AXIAL_CT_SLICES | NON_AXIAL_CT | ENHANCED_CT


@pytest.mark.parametrize(("name", "path"), ALL_FILES, ids=[n for n, _ in ALL_FILES])
def test_every_file_reads_or_raises_a_specific_error(name: str, path: Path, tmp_path: Path) -> None:
    outcomes = []
    for target in (path, tmp_path):  # the file itself, then a folder holding only it
        if target == tmp_path:
            shutil.copy(path, tmp_path / path.name)
        try:
            outcomes.append(type(read_series(target)))
        except SeriesError as err:
            assert type(err) is not SeriesError, f"unspecific error: {err}"
            assert str(target) in str(err) or path.name in str(err), str(err)
            outcomes.append(type(err))
    assert outcomes[0] is outcomes[1]
    if name in AXIAL_CT_SLICES:
        assert outcomes[0] is TooFewSlicesError
    elif name in NON_AXIAL_CT:
        assert outcomes[0] is NonAxialError
    elif name in ENHANCED_CT:
        assert outcomes[0] is UnsupportedSeriesError
    elif name.startswith(TINY_ALPHA):
        assert outcomes[0] is UnreadablePixelDataError
    elif _modality(path) is None:
        assert outcomes[0] in (NoDicomError, NotCTError)
    else:
        assert outcomes[0] is NotCTError, _modality(path)


@pytest.mark.parametrize("name", sorted(AXIAL_CT_SLICES))
def test_single_ct_slice_reads_with_min_slices_1(name: str) -> None:
    vol = read_series(_file(name), min_slices=1)
    assert isinstance(vol, CTVolume)
    assert vol.hu.dtype == np.float32 and vol.hu.ndim == 3 and vol.hu.shape[0] == 1
    assert np.all(np.isfinite(vol.hu))
    assert vol.meta["lossy_compression"] == (name in LOSSY_FROM_PADDED)
    if name in LOSSY_FROM_PADDED:
        # Lossy J2K smeared the -3024 HU padding corners (~21% of the image), so they no
        # longer equal PixelPaddingValue; the rest of the image is in range.
        lo, hi = np.percentile(vol.hu, [25, 99.9])
    else:
        lo, hi = vol.hu.min(), vol.hu.max()
    assert lo >= -2000 and hi <= 5000, (lo, hi)
    assert vol.meta["modality"] == "CT"
    assert vol.meta["n_slices"] == 1


def test_padding_of_693_becomes_air_not_minus_3024() -> None:
    vol = read_series(_file("pydicom-data/693_UNCR.dcm"), min_slices=1)
    assert vol.meta["n_padding_voxels"] > 50_000  # the corners outside the scan circle
    assert vol.hu.min() == -1024


def test_compressed_variants_decode_to_the_same_hu() -> None:
    ref = read_series(_file("pydicom-data/693_UNCR.dcm"), min_slices=1).hu
    j2k = read_series(_file("pydicom-data/693_J2KR.dcm"), min_slices=1).hu
    np.testing.assert_array_equal(ref, j2k)


def test_ct_small_copied_into_a_volume(tmp_path: Path) -> None:
    src = pydicom.dcmread(_file("pydicom/CT_small.dcm"))
    ref = read_series(_file("pydicom/CT_small.dcm"), min_slices=1)
    normal = np.cross(
        np.array(src.ImageOrientationPatient[:3], float),
        np.array(src.ImageOrientationPatient[3:], float),
    )
    start = np.array(src.ImagePositionPatient, float)
    n = 10
    for k in np.random.default_rng(3).permutation(n):  # files written in random order
        ds = pydicom.dcmread(_file("pydicom/CT_small.dcm"))
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[f"ct_small/{k}"])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [float(v) for v in start + k * 2.0 * normal]
        ds.InstanceNumber = int(n - k)  # deliberately opposite to the true order
        ds.save_as(tmp_path / f"slice_{k * 37 % 11}", enforce_file_format=True)
    vol = read_series(tmp_path)
    assert vol.shape == (n, 128, 128)
    for k in range(n):
        np.testing.assert_array_equal(vol.hu[k], ref.hu[0])
    np.testing.assert_allclose(vol.geometry.spacing_zyx_mm[0], 2.0, atol=1e-6)
    np.testing.assert_allclose(vol.geometry.direction_zyx[0], normal, atol=1e-6)
    np.testing.assert_allclose(
        vol.geometry.index_to_lps([n - 1, 0, 0]),
        start + (n - 1) * 2.0 * normal,
        atol=1e-4,
    )
    assert vol.meta["patient_id"] == str(src.PatientID)


def test_real_five_slice_ct_folder_sorts_by_position() -> None:
    folder = DIRDIR / "98892001" / "CT5N"
    with pytest.raises(TooFewSlicesError, match="only 5 slice"):
        read_series(folder)
    vol = read_series(folder, min_slices=5)
    assert vol.shape == (5, 16, 16)
    np.testing.assert_allclose(vol.geometry.spacing_zyx_mm[0], 2.5, atol=1e-4)
    np.testing.assert_allclose(vol.geometry.origin_lps_mm[2], -1.2375, atol=1e-4)
    zs = [
        float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in vol.meta["files"]
    ]
    assert zs == sorted(zs)


def test_real_ct_folder_with_a_big_gap_is_missing_slices() -> None:
    with pytest.raises(MissingSliceError, match="161 slice"):
        read_series(DIRDIR / "77654033" / "CT2", min_slices=1)


def test_dicomdir_test_tree_holds_many_series() -> None:
    infos = list_series(DIRDIR)
    assert len(infos) == 14
    assert {s.modality for s in infos} == {"CT", "MR", "CR"}
    assert sum(s.n_files for s in infos) == 81
    with pytest.raises(MultipleSeriesError) as err:
        read_series(DIRDIR)
    assert len(err.value.series_uids) == 14
    with pytest.raises(NoDicomError, match="DICOMDIR"):
        read_series(DIRDIR / "DICOMDIR")
