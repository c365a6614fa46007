"""DICOM series reading/writing on synthetic volumes: round trips and every rejection."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless, generate_uid

from detector.geometry import CTVolume, Geometry
from detector.io import (
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
    list_series,
    read_series,
    read_volume,
    write_series,
)
from tests.detector.io_helpers import (
    AXIAL,
    SERIES_UID,
    STUDY_UID,
    edit,
    make_volume,
    rotation_z,
    write,
)


@pytest.fixture
def vol() -> CTVolume:
    return make_volume()


@pytest.fixture
def series_dir(tmp_path: Path, vol: CTVolume) -> Path:
    out = tmp_path / "series"
    write(vol, out)
    return out


def assert_same_volume(a: CTVolume, b: CTVolume) -> None:
    np.testing.assert_array_equal(a.hu, b.hu)
    np.testing.assert_allclose(a.geometry.origin_lps_mm, b.geometry.origin_lps_mm, atol=1e-4)
    np.testing.assert_allclose(a.geometry.spacing_zyx_mm, b.geometry.spacing_zyx_mm, atol=1e-4)
    np.testing.assert_allclose(a.geometry.direction_zyx, b.geometry.direction_zyx, atol=1e-6)


# ----------------------------------------------------------------------------- round trips


def test_round_trip_values_geometry_and_meta(series_dir: Path, vol: CTVolume) -> None:
    got = read_series(series_dir)
    assert got.hu.dtype == np.float32
    assert_same_volume(got, vol)
    idx = np.array([3, 5, 7])
    np.testing.assert_allclose(got.geometry.index_to_lps(idx), vol.geometry.index_to_lps(idx), atol=1e-4)
    # Voxel [3, 5, 7] = origin + 3*2.5 S + 5*0.75 P + 7*0.8 L
    np.testing.assert_allclose(
        got.geometry.index_to_lps(idx), [-100.5 + 5.6, -120.25 + 3.75, 57.5], atol=1e-4
    )
    assert got.meta["patient_id"] == "FS-0001"
    assert got.meta["patient_name"] == "Test^Patient"
    assert got.meta["study_instance_uid"] == STUDY_UID
    assert got.meta["series_instance_uid"] == SERIES_UID
    assert got.meta["modality"] == "CT"
    assert got.meta["n_slices"] == 20
    assert got.meta["kvp"] == 120.0
    assert got.meta["study_date"] == "20260101"
    assert got.meta["slice_thickness_mm"] == pytest.approx(2.5)
    assert got.meta["source"] == str(series_dir)
    assert len(set(got.meta["sop_instance_uids"])) == 20


def test_written_header_follows_dicom_conventions(series_dir: Path, vol: CTVolume) -> None:
    ds = pydicom.dcmread(series_dir / "IM0003.dcm")
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    # PixelSpacing is (row spacing = y, column spacing = x): 0.75 then 0.8.
    assert [float(v) for v in ds.PixelSpacing] == [0.75, 0.8]
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    np.testing.assert_allclose(
        [float(v) for v in ds.ImagePositionPatient],
        vol.geometry.index_to_lps([3, 0, 0]),
    )
    assert ds.InstanceNumber == 4
    assert (ds.Rows, ds.Columns) == (32, 32)
    assert float(ds.RescaleIntercept) == -1024 and float(ds.RescaleSlope) == 1
    assert float(ds.WindowCenter) == -600 and float(ds.WindowWidth) == 1500
    assert ds.BodyPartExamined == "CHEST"
    np.testing.assert_array_equal(ds.pixel_array, vol.hu[3] + 1024)


def test_sop_uids_are_deterministic_per_series_and_slice(tmp_path: Path, vol) -> None:
    a = [pydicom.dcmread(p).SOPInstanceUID for p in write(vol, tmp_path / "a")]
    b = [pydicom.dcmread(p).SOPInstanceUID for p in write(vol, tmp_path / "b")]
    c = [pydicom.dcmread(p).SOPInstanceUID for p in write(vol, tmp_path / "c", "1.2.9")]
    assert a == b
    assert len(set(a)) == len(a)
    assert not set(a) & set(c)


def test_shuffled_and_renamed_files_give_same_volume(series_dir, tmp_path, vol) -> None:
    files = sorted(series_dir.iterdir())
    names = [f"x{random.Random(1).random()}_{i}" for i in range(len(files))]
    random.Random(7).shuffle(names)  # names carry no order; some without extension
    out = tmp_path / "shuffled"
    out.mkdir()
    for src, name in zip(files, names, strict=True):
        shutil.copy(src, out / name)
    assert_same_volume(read_series(out), vol)


def test_reversed_slice_direction_is_sorted_consistently(tmp_path: Path) -> None:
    direction = AXIAL.copy()
    direction[0] = [0.0, 0.0, -1.0]  # slice index grows towards the feet
    vol = make_volume(direction=direction)
    write(vol, tmp_path / "rev")
    got = read_series(tmp_path / "rev")
    np.testing.assert_allclose(got.geometry.direction_zyx[0], [0, 0, 1], atol=1e-9)
    np.testing.assert_array_equal(got.hu, vol.hu[::-1])
    idx = np.indices(vol.shape).reshape(3, -1).T
    flipped = idx.copy()
    flipped[:, 0] = vol.shape[0] - 1 - idx[:, 0]
    np.testing.assert_allclose(got.geometry.index_to_lps(idx), vol.geometry.index_to_lps(flipped), atol=1e-4)


def test_rotated_in_plane_orientation_round_trips(tmp_path: Path) -> None:
    direction = (rotation_z(20.0) @ AXIAL.T).T  # rows/columns not along L/P
    vol = make_volume(direction=direction)
    write(vol, tmp_path / "rot")
    assert_same_volume(read_series(tmp_path / "rot"), vol)


@pytest.mark.parametrize("syntax", ["explicit_le", "implicit_le", "rle", "jpeg2000_lossless"])
def test_transfer_syntax_round_trip(tmp_path: Path, vol: CTVolume, syntax: str) -> None:
    try:
        paths = write(vol, tmp_path / syntax, transfer_syntax=syntax)
    except ValueError as err:
        pytest.skip(f"no encoder here: {err}")
    if syntax == "rle":
        assert pydicom.dcmread(paths[0]).file_meta.TransferSyntaxUID == RLELossless
    assert_same_volume(read_series(tmp_path / syntax), vol)


def test_unknown_or_unavailable_transfer_syntax_is_a_value_error(tmp_path, vol) -> None:
    with pytest.raises(ValueError, match="unknown transfer_syntax"):
        write(vol, tmp_path / "x", transfer_syntax="jpeg_xl")
    from pydicom.pixels import get_encoder
    from pydicom.uid import JPEGLSLossless

    if not get_encoder(JPEGLSLossless).is_available:
        with pytest.raises(ValueError, match="encoder"):
            write(vol, tmp_path / "y", transfer_syntax="jpegls_lossless")
    assert not (tmp_path / "y").exists() or not list((tmp_path / "y").iterdir())


def test_hu_outside_int16_is_clipped_and_nan_rejected(tmp_path: Path) -> None:
    vol = make_volume((8, 4, 4))
    vol.hu[0, 0, 0] = 40000
    vol.hu[0, 0, 1] = -40000
    write(vol, tmp_path / "clip")
    got = read_series(tmp_path / "clip")
    assert got.hu[0, 0, 0] == 32767 - 1024 and got.hu[0, 0, 1] == -32768 - 1024
    vol.hu[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write(vol, tmp_path / "nan")


def test_refuses_to_mix_with_an_old_series_unless_overwrite(tmp_path, vol) -> None:
    write(vol, tmp_path / "s")
    small = make_volume((10, 32, 32))
    with pytest.raises(FileExistsError):
        write(small, tmp_path / "s")
    write(small, tmp_path / "s", overwrite=True)
    assert len(list((tmp_path / "s").iterdir())) == 10
    assert read_series(tmp_path / "s").shape == (10, 32, 32)


def test_nested_subfolders_and_junk_files(series_dir: Path, tmp_path, vol) -> None:
    out = tmp_path / "export"
    for i, src in enumerate(sorted(series_dir.iterdir())):
        sub = out / f"PAT{i % 2}" / f"ST{i % 3}" / "SE"
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, sub / f"{i:08X}")
    (out / "README.txt").write_text("export notes")
    (out / "PAT0" / ".DS_Store").write_bytes(bytes(range(256)) * 4)
    (out / "PAT1" / "empty").write_bytes(b"")
    (out / "DICOMDIR").write_bytes(b"\0" * 200)
    got = read_series(out)
    assert_same_volume(got, vol)
    assert got.meta["n_files_skipped"] == 4


def test_exact_duplicate_file_is_dropped(series_dir: Path, vol: CTVolume) -> None:
    shutil.copy(series_dir / "IM0005.dcm", series_dir / "copy_of_5")
    got = read_series(series_dir)
    assert_same_volume(got, vol)
    assert got.meta["n_duplicate_files_dropped"] == 1


def test_per_slice_rescale_is_honoured(series_dir: Path, vol: CTVolume) -> None:
    def rescale(ds):
        ds.RescaleSlope = "2"
        ds.RescaleIntercept = "-500"

    edit(series_dir / "IM0004.dcm", rescale)
    got = read_series(series_dir)
    np.testing.assert_array_equal(got.hu[4], (vol.hu[4] + 1024) * 2 - 500)
    np.testing.assert_array_equal(got.hu[5], vol.hu[5])


def test_monochrome1_keeps_hu(series_dir: Path, vol: CTVolume) -> None:
    for p in series_dir.iterdir():
        edit(p, lambda ds: setattr(ds, "PhotometricInterpretation", "MONOCHROME1"))
    np.testing.assert_array_equal(read_series(series_dir).hu, vol.hu)


def test_pixel_padding_becomes_air(series_dir: Path, vol: CTVolume) -> None:
    stored = int(vol.hu[2, 3, 4] + 1024)
    edit(
        series_dir / "IM0002.dcm",
        lambda ds: ds.add_new("PixelPaddingValue", "SS", stored),
    )
    got = read_series(series_dir)
    assert got.hu[2, 3, 4] == -1024
    assert got.meta["n_padding_voxels"] == 1
    assert got.hu[2, 3, 5] == vol.hu[2, 3, 5]


# ----------------------------------------------------------------------------- several series


def test_two_series_in_one_folder(tmp_path: Path) -> None:
    a, b = make_volume(), make_volume((12, 16, 16))
    b.hu += 5
    write(a, tmp_path / "a", "1.2.3.100", series_description="lung 1mm")
    write(b, tmp_path / "b", "1.2.3.200", series_description="soft 5mm")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for p in (tmp_path / "a").iterdir():
        shutil.copy(p, mixed / f"a_{p.name}")
    for p in (tmp_path / "b").iterdir():
        shutil.copy(p, mixed / f"b_{p.name}")

    with pytest.raises(MultipleSeriesError) as err:
        read_series(mixed)
    msg = str(err.value)
    assert "1.2.3.100" in msg and "1.2.3.200" in msg
    assert "lung 1mm" in msg and "20 file(s)" in msg and "12 file(s)" in msg
    assert set(err.value.series_uids) == {"1.2.3.100", "1.2.3.200"}

    got = read_series(mixed, series_uid="1.2.3.200")
    assert_same_volume(got, b)
    assert got.meta["n_other_series"] == 1

    infos = {s.series_instance_uid: s for s in list_series(mixed)}
    assert set(infos) == {"1.2.3.100", "1.2.3.200"}
    assert infos["1.2.3.100"].n_files == 20 and len(infos["1.2.3.100"].files) == 20
    assert infos["1.2.3.200"].description == "soft 5mm"
    assert infos["1.2.3.200"].modality == "CT"
    assert infos["1.2.3.200"].study_instance_uid == STUDY_UID
    assert infos["1.2.3.200"].patient_id == "FS-0001"

    with pytest.raises(NoDicomError, match="1.2.3.999"):
        read_series(mixed, series_uid="1.2.3.999")


def test_read_volume_dispatches_folder_and_file(series_dir: Path, vol) -> None:
    assert_same_volume(read_volume(series_dir), vol)
    with pytest.raises(TooFewSlicesError, match="single file"):
        read_volume(series_dir / "IM0000.dcm")


# ----------------------------------------------------------------------------- rejections


def test_missing_slice(series_dir: Path) -> None:
    (series_dir / "IM0007.dcm").unlink()
    with pytest.raises(MissingSliceError) as err:
        read_series(series_dir)
    msg = str(err.value)
    assert SERIES_UID in msg and str(series_dir) in msg
    assert "IM0006.dcm" in msg and "IM0008.dcm" in msg
    assert "67.50" in msg  # z of the missing slice: 50 + 7 * 2.5
    assert "re-export" in msg


def test_duplicate_position_with_different_sop_uid(series_dir: Path) -> None:
    dup = series_dir / "extra.dcm"
    shutil.copy(series_dir / "IM0005.dcm", dup)
    edit(dup, lambda ds: setattr(ds, "SOPInstanceUID", generate_uid()))
    with pytest.raises(DuplicateSliceError, match="IM0005.dcm|extra.dcm"):
        read_series(series_dir)


def test_uneven_spacing(series_dir: Path) -> None:
    for i in range(10, 20):

        def shift(ds):
            ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 0.6

        edit(series_dir / f"IM{i:04d}.dcm", shift)
    with pytest.raises(UnevenSpacingError, match=r"3\.100 mm between IM0009.dcm"):
        read_series(series_dir)


def test_small_jitter_is_tolerated(series_dir: Path) -> None:
    edit(
        series_dir / "IM0004.dcm",
        lambda ds: ds.ImagePositionPatient.__setitem__(2, float(ds.ImagePositionPatient[2]) + 0.01),
    )
    assert read_series(series_dir).shape == (20, 32, 32)


def test_coronal_stack_is_rejected(tmp_path: Path) -> None:
    coronal = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    write(make_volume(direction=coronal), tmp_path / "cor")
    with pytest.raises(NonAxialError, match="coronal"):
        read_series(tmp_path / "cor")


def test_oblique_stack_is_rejected(tmp_path: Path) -> None:
    c, s = np.cos(np.radians(15)), np.sin(np.radians(15))
    oblique = np.array([[0.0, -s, c], [0.0, c, s], [1.0, 0.0, 0.0]])
    write(make_volume(direction=oblique), tmp_path / "obl")
    with pytest.raises(NonAxialError, match="oblique"):
        read_series(tmp_path / "obl")


def test_tilted_sheared_stack_is_rejected(tmp_path: Path) -> None:
    tilted = AXIAL.copy()
    tilted[0] = [0.0, np.sin(np.radians(10)), np.cos(np.radians(10))]  # gantry tilt
    write(make_volume(direction=tilted), tmp_path / "tilt")
    with pytest.raises(NonAxialError, match="tilt"):
        read_series(tmp_path / "tilt")


def test_mixed_orientation(series_dir: Path) -> None:
    c, s = np.cos(np.radians(3)), np.sin(np.radians(3))
    edit(
        series_dir / "IM0012.dcm",
        lambda ds: setattr(ds, "ImageOrientationPatient", [c, s, 0, -s, c, 0]),
    )
    with pytest.raises(MixedOrientationError, match="IM0012.dcm"):
        read_series(series_dir)


def test_mr_modality_is_not_ct(series_dir: Path) -> None:
    for p in series_dir.iterdir():
        edit(p, lambda ds: setattr(ds, "Modality", "MR"))
    with pytest.raises(NotCTError, match="MR"):
        read_series(series_dir)


def test_secondary_capture_sop_class_is_not_ct(series_dir: Path) -> None:
    sc = "1.2.840.10008.5.1.4.1.1.7"
    for p in series_dir.iterdir():
        edit(p, lambda ds: setattr(ds, "SOPClassUID", sc))
    with pytest.raises(NotCTError, match="Secondary Capture"):
        read_series(series_dir)


def test_truncated_pixel_data(series_dir: Path) -> None:
    path = series_dir / "IM0009.dcm"
    data = path.read_bytes()
    path.write_bytes(data[:-700])
    with pytest.raises(UnreadablePixelDataError, match="IM0009.dcm"):
        read_series(series_dir)


def test_colour_image_is_rejected(series_dir: Path) -> None:
    edit(
        series_dir / "IM0001.dcm",
        lambda ds: setattr(ds, "PhotometricInterpretation", "RGB"),
    )
    with pytest.raises(UnreadablePixelDataError, match="RGB"):
        read_series(series_dir)


def test_too_few_slices(tmp_path: Path) -> None:
    write(make_volume((5, 8, 8)), tmp_path / "few")
    with pytest.raises(TooFewSlicesError, match="only 5 slice"):
        read_series(tmp_path / "few")
    assert read_series(tmp_path / "few", min_slices=5).shape == (5, 8, 8)


def test_single_file_path(series_dir: Path, vol: CTVolume) -> None:
    got = read_series(series_dir / "IM0003.dcm", min_slices=1)
    np.testing.assert_array_equal(got.hu[0], vol.hu[3])
    np.testing.assert_allclose(got.geometry.spacing_zyx_mm, [2.5, 0.75, 0.8])


def test_inconsistent_pixel_spacing(series_dir: Path) -> None:
    edit(series_dir / "IM0002.dcm", lambda ds: setattr(ds, "PixelSpacing", [0.7, 0.7]))
    with pytest.raises(InconsistentGridError, match="PixelSpacing"):
        read_series(series_dir)


def test_missing_position_tag(series_dir: Path) -> None:
    edit(series_dir / "IM0002.dcm", lambda ds: delattr(ds, "ImagePositionPatient"))
    with pytest.raises(MissingTagError, match="IM0002.dcm has missing ImagePositionPatient"):
        read_series(series_dir)


def test_empty_and_absent_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images")
    with pytest.raises(NoDicomError, match="1 not DICOM"):
        read_series(tmp_path / "empty")
    with pytest.raises(NoDicomError, match="does not exist"):
        read_series(tmp_path / "nope")
    assert list_series(tmp_path / "empty") == []


def test_all_errors_are_value_errors() -> None:
    for cls in (MissingSliceError, NoDicomError, NotCTError, UnevenSpacingError):
        assert issubclass(cls, SeriesError) and issubclass(cls, ValueError)


def test_write_accepts_a_read_volume_unchanged(series_dir: Path, tmp_path, vol) -> None:
    got = read_series(series_dir)
    write_series(
        got,
        tmp_path / "again",
        patient_id="X",
        study_instance_uid="1.2.3",
        series_instance_uid="1.2.3.4",
        transfer_syntax="rle",
    )
    assert_same_volume(read_series(tmp_path / "again"), vol)


def test_geometry_helper_matches_written_positions(series_dir: Path) -> None:
    got = read_series(series_dir)
    for i in (0, 9, 19):
        ds = pydicom.dcmread(series_dir / f"IM{i:04d}.dcm", stop_before_pixels=True)
        np.testing.assert_allclose(
            got.geometry.index_to_lps([i, 0, 0]),
            [float(v) for v in ds.ImagePositionPatient],
            atol=1e-4,
        )
    assert isinstance(got.geometry, Geometry)
