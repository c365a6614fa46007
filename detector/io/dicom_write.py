"""Write a :class:`CTVolume` as a classic single-frame CT DICOM series (one file per slice).

Used for synthetic cohorts and round-trip tests; the files open in any DICOM viewer and
read back through :func:`detector.io.read_series` with identical HU and geometry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_encoder
from pydicom.uid import (
    PYDICOM_ROOT_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import format_number_as_ds

from detector.geometry import CTVolume

CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")
TRANSFER_SYNTAXES: dict[str, UID] = {
    "explicit_le": ExplicitVRLittleEndian,
    "implicit_le": ImplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg2000_lossless": JPEG2000Lossless,
    "jpegls_lossless": JPEGLSLossless,
}
HU_OFFSET = 1024  # stored = HU + 1024, written back by RescaleIntercept = -1024
INT16_MIN, INT16_MAX = -32768, 32767


def _ds_number(value: float) -> str:
    """A float as a valid (<= 16 character) Decimal String, keeping maximum precision."""
    return format_number_as_ds(float(value))


def _encoding_plugin(tsyntax: UID) -> str:
    """Fastest available encoder plugin ('' lets pydicom choose)."""
    plugins = get_encoder(tsyntax).available_plugins
    # pylibjpeg's RLE encoder is compiled; pydicom's own is pure Python and ~50x slower.
    return "pylibjpeg" if "pylibjpeg" in plugins else ""


def _check_transfer_syntax(name: str) -> UID:
    if name not in TRANSFER_SYNTAXES:
        raise ValueError(f"unknown transfer_syntax {name!r}; choose one of {sorted(TRANSFER_SYNTAXES)}")
    uid = TRANSFER_SYNTAXES[name]
    if uid.is_compressed:
        encoder = get_encoder(uid)
        if not encoder.is_available:
            missing = "; ".join(encoder.missing_dependencies)
            raise ValueError(
                f"transfer_syntax {name!r} needs an encoder that is not installed "
                f"({missing}); use 'explicit_le' or 'rle' instead"
            )
    return uid


def _uid_prefix(prefix: str | None) -> str:
    if prefix is None:
        return PYDICOM_ROOT_UID
    return prefix if prefix.endswith(".") else prefix + "."


def _base_dataset(
    volume: CTVolume,
    *,
    patient_id: str,
    patient_name: str,
    study_instance_uid: str,
    series_instance_uid: str,
    series_description: str,
    study_date: str,
    frame_of_reference_uid: str,
    slice_thickness_mm: float,
    kvp: float,
    exposure_mas: float,
) -> dict[str, object]:
    """Attributes shared by every slice, as keyword -> value."""
    g = volume.geometry
    _, ny, nx = volume.hu.shape
    iop = [*g.direction_zyx[2], *g.direction_zyx[1]]  # row direction (x), column (y)
    kernel = str(volume.meta.get("convolution_kernel") or "STANDARD")
    return {
        "SpecificCharacterSet": "ISO_IR 192",
        "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"],
        "SOPClassUID": CT_IMAGE_STORAGE,
        "StudyDate": study_date,
        "SeriesDate": study_date,
        "ContentDate": study_date,
        "StudyTime": "000000",
        "SeriesTime": "000000",
        "ContentTime": "000000",
        "AccessionNumber": "",
        "Modality": "CT",
        "Manufacturer": "FusionScreen",
        "ReferringPhysicianName": "",
        "StudyDescription": "",
        "SeriesDescription": series_description,
        "PatientName": patient_name,
        "PatientID": patient_id,
        "PatientBirthDate": "",
        "PatientSex": "",
        "BodyPartExamined": "CHEST",
        "SliceThickness": _ds_number(slice_thickness_mm),
        "SpacingBetweenSlices": _ds_number(g.spacing_zyx_mm[0]),
        "KVP": _ds_number(kvp),
        "Exposure": round(exposure_mas),
        "ConvolutionKernel": kernel,
        "PatientPosition": "",
        "StudyInstanceUID": study_instance_uid,
        "SeriesInstanceUID": series_instance_uid,
        "StudyID": "",
        "SeriesNumber": 1,
        "AcquisitionNumber": 1,
        "ImageOrientationPatient": [_ds_number(v) for v in iop],
        "FrameOfReferenceUID": frame_of_reference_uid,
        "PositionReferenceIndicator": "",
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": ny,
        "Columns": nx,
        "PixelSpacing": [
            _ds_number(g.spacing_zyx_mm[1]),
            _ds_number(g.spacing_zyx_mm[2]),
        ],
        "BitsAllocated": 16,
        "BitsStored": 16,
        "HighBit": 15,
        "PixelRepresentation": 1,
        "WindowCenter": "-600",
        "WindowWidth": "1500",
        "RescaleIntercept": str(-HU_OFFSET),
        "RescaleSlope": "1",
        "RescaleType": "HU",
    }


def _slice_pixels(hu_slice: np.ndarray) -> np.ndarray:
    stored = np.rint(hu_slice.astype(np.float64) + HU_OFFSET)
    return np.clip(stored, INT16_MIN, INT16_MAX).astype("<i2")


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    stale = sorted(out_dir.glob("IM*.dcm"))
    if stale and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds {len(stale)} IM*.dcm file(s); write each series "
            "into its own empty folder (or pass overwrite=True to replace them)"
        )
    for path in stale:
        path.unlink()  # a shorter new series must not inherit slices of an old one


def write_series(
    volume: CTVolume,
    out_dir: Path | str,
    *,
    patient_id: str,
    patient_name: str = "",
    study_instance_uid: str,
    series_instance_uid: str,
    series_description: str = "",
    study_date: str = "20260101",
    sop_uid_prefix: str | None = None,
    slice_thickness_mm: float | None = None,
    kvp: float = 120.0,
    exposure_mas: float = 30.0,
    transfer_syntax: str = "explicit_le",
    overwrite: bool = False,
) -> list[Path]:
    """Write ``volume`` as ``out_dir/IM0000.dcm ...``, one CT Image Storage file per slice."""
    tsyntax = _check_transfer_syntax(transfer_syntax)
    hu = np.asarray(volume.hu)
    if hu.ndim != 3 or 0 in hu.shape:
        raise ValueError(f"volume.hu must be a non-empty 3-D [z, y, x] array, got {hu.shape}")
    if not np.all(np.isfinite(hu)):
        raise ValueError("volume.hu contains NaN or infinite values; fill them before writing")
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)

    g = volume.geometry
    prefix = _uid_prefix(sop_uid_prefix)
    # '/' cannot occur in a UID, so these entropy strings never collide across series.
    frame_uid = generate_uid(prefix=prefix, entropy_srcs=[f"{study_instance_uid}/frame"])
    shared = _base_dataset(
        volume,
        patient_id=patient_id,
        patient_name=patient_name,
        study_instance_uid=study_instance_uid,
        series_instance_uid=series_instance_uid,
        series_description=series_description,
        study_date=study_date,
        frame_of_reference_uid=frame_uid,
        slice_thickness_mm=(g.spacing_zyx_mm[0] if slice_thickness_mm is None else slice_thickness_mm),
        kvp=kvp,
        exposure_mas=exposure_mas,
    )
    normal = np.cross(g.direction_zyx[2], g.direction_zyx[1])
    positions = g.index_to_lps(
        np.stack(
            [np.arange(hu.shape[0]), np.zeros(hu.shape[0]), np.zeros(hu.shape[0])],
            axis=1,
        )
    )
    plugin = _encoding_plugin(tsyntax) if tsyntax.is_compressed else ""

    paths = []
    for i, pos in enumerate(positions):
        sop_uid = generate_uid(prefix=prefix, entropy_srcs=[f"{series_instance_uid}/{i}"])
        ds = Dataset()
        for keyword, value in shared.items():
            setattr(ds, keyword, value)
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [_ds_number(v) for v in pos]
        ds.SliceLocation = _ds_number(pos @ normal)
        ds.file_meta = _file_meta(sop_uid, ExplicitVRLittleEndian)
        pixels = _slice_pixels(hu[i])
        if tsyntax.is_compressed:
            ds.compress(tsyntax, pixels, encoding_plugin=plugin, generate_instance_uid=False)
        else:
            ds.PixelData = pixels.tobytes()
            ds.file_meta.TransferSyntaxUID = tsyntax
        path = out / f"IM{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _file_meta(sop_uid: str, tsyntax: UID) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = tsyntax
    return meta
