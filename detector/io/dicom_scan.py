"""DICOM series, found: scanning a folder (any nesting), grouping files by SeriesInstanceUID,
and choosing the one CT series to read. Headers only; pixels are read_series' business."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import UID

from detector.io.errors import (
    MultipleSeriesError,
    NoDicomError,
)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


ENHANCED_CT_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image Storage",
}


MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


LOSSY_TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",  # JPEG baseline
    "1.2.840.10008.1.2.4.51",  # JPEG extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000 (lossy allowed)
    "1.2.840.10008.1.2.4.93",  # JPEG 2000 multi-component
    "1.2.840.10008.1.2.4.203",  # HTJ2K
}


ORIENTATION_TOL = 1e-4  # IOP components may differ by this much and count as equal


AXIAL_MAX_DEG = 1.0  # slice normal must be this close to the head-foot axis


DUPLICATE_TOL_MM = 1e-3


TILT_REL_TOL = 0.01  # in-plane drift per slice step, relative to the slice gap


PIXEL_SPACING_TOL = 1e-4


MAX_LISTED = 5  # how many files/positions an error message lists before "..."


PADDING_HU = -1024.0  # value given to PixelPaddingValue pixels: air


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found under a folder."""

    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    modality: str
    n_files: int
    files: list[Path]
    description: str
    sop_class_uid: str = ""


@dataclass
class _Entry:
    path: Path
    ds: Dataset  # header only (read with stop_before_pixels)
    forced: bool  # file lacks the DICM preamble and needed force=True


@dataclass
class _Scan:
    groups: dict[str, list[_Entry]] = field(default_factory=dict)
    n_files: int = 0
    n_not_dicom: int = 0
    n_dicomdir: int = 0
    n_no_series_uid: int = 0

    def summary(self) -> str:
        return (
            f"{self.n_files} file(s) looked at: {self.n_not_dicom} not DICOM, "
            f"{self.n_dicomdir} DICOMDIR index file(s), "
            f"{self.n_no_series_uid} DICOM file(s) without a SeriesInstanceUID"
        )


def _iter_files(root: Path) -> list[Path]:
    """All regular files under root (any nesting), in a stable order."""
    if root.is_file():
        return [root]
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        out.extend(Path(dirpath) / name for name in sorted(filenames))
    return out


def _looks_like_raw_dicom(path: Path) -> bool:
    """True if a file without the DICM preamble starts like a group 0002/0008 element."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return len(head) == 4 and head[:2] in (
        b"\x08\x00",
        b"\x00\x08",
        b"\x02\x00",
        b"\x00\x02",
    )


def _read_header(path: Path) -> tuple[Dataset, bool] | None:
    """Header of a DICOM file, or None if the file is not (readable) DICOM."""
    try:
        return dcmread(path, stop_before_pixels=True), False
    except InvalidDicomError:
        pass
    except Exception:  # noqa: BLE001 - any parse failure: not a usable DICOM file
        return None
    # Old ACR-NEMA style files lack the preamble; accept them only if they look like it.
    if not _looks_like_raw_dicom(path):
        return None
    try:
        ds = dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - unreadable even when forced
        return None
    if "SOPClassUID" not in ds and "SeriesInstanceUID" not in ds:
        return None
    return ds, True


def _is_dicomdir(path: Path, ds: Dataset | None) -> bool:
    if path.name.upper() == "DICOMDIR":
        return True
    if ds is None:
        return False
    meta = getattr(ds, "file_meta", None)
    sop = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    return sop == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds


def _scan(root: Path) -> _Scan:
    scan = _Scan()
    for path in _iter_files(root):
        scan.n_files += 1
        if path.name.upper() == "DICOMDIR":
            scan.n_dicomdir += 1
            continue
        got = _read_header(path)
        if got is None:
            scan.n_not_dicom += 1
            continue
        ds, forced = got
        if _is_dicomdir(path, ds):
            scan.n_dicomdir += 1
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
        if not uid:
            scan.n_no_series_uid += 1
            continue
        scan.groups.setdefault(uid, []).append(_Entry(path, ds, forced))
    return scan


def _text(ds: Dataset, keyword: str, default: str = "") -> str:
    value = ds.get(keyword, None)
    if value is None:
        return default
    if isinstance(value, MultiValue):
        return "\\".join(str(v).strip() for v in value)  # DICOM's own separator
    return str(value).strip()


def _float_or_none(ds: Dataset, keyword: str) -> float | None:
    value = ds.get(keyword, None)
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (list, tuple, MultiValue)):
            value = value[0]  # e.g. a multi-valued KVP; the first value is the one used
        out = float(value)
    except (TypeError, ValueError, IndexError):
        return None
    return out if math.isfinite(out) else None


def _sop_class(ds: Dataset) -> str:
    sop = ds.get("SOPClassUID", None)
    if not sop:
        meta = getattr(ds, "file_meta", None)
        sop = meta.get("MediaStorageSOPClassUID", "") if meta is not None else ""
    return str(sop or "")


def _sop_class_name(uid: str) -> str:
    name = UID(uid).name if uid else ""
    return f"{name} ({uid})" if name and name != uid else (uid or "missing")


def _info(uid: str, entries: list[_Entry]) -> SeriesInfo:
    ds = entries[0].ds
    return SeriesInfo(
        series_instance_uid=uid,
        study_instance_uid=_text(ds, "StudyInstanceUID"),
        patient_id=_text(ds, "PatientID"),
        modality=_text(ds, "Modality"),
        n_files=len(entries),
        files=[e.path for e in entries],
        description=_text(ds, "SeriesDescription"),
        sop_class_uid=_sop_class(ds),
    )


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise NoDicomError(f"{path} does not exist; check the path (drive mounted? typo?) and try again")


def list_series(folder: Path | str) -> list[SeriesInfo]:
    """Every DICOM series under ``folder`` (any nesting), largest first."""
    root = Path(folder)
    _check_exists(root)
    scan = _scan(root)
    infos = [_info(uid, entries) for uid, entries in scan.groups.items()]
    return sorted(infos, key=lambda s: (-s.n_files, s.series_instance_uid))


def _describe_series(infos: list[SeriesInfo]) -> str:
    lines = [
        f"  - {s.series_instance_uid}: modality {s.modality or '?'}, "
        f"'{s.description or 'no description'}', {s.n_files} file(s)"
        for s in infos
    ]
    return "\n".join(lines)


def _choose_series(root: Path, scan: _Scan, series_uid: str | None) -> tuple[str, list[_Entry]]:
    where = f"{'file' if root.is_file() else 'folder'} {root}"
    if not scan.groups:
        if root.is_file() and scan.n_dicomdir:
            raise NoDicomError(
                f"{root} is a DICOMDIR index, not an image; pass the folder that holds "
                "the DICOM image files instead"
            )
        raise NoDicomError(
            f"no DICOM image series found in {where} ({scan.summary()}); check that "
            "this is the exported study folder and that the export finished"
        )
    if series_uid is not None:
        if series_uid not in scan.groups:
            infos = [_info(u, e) for u, e in scan.groups.items()]
            raise NoDicomError(
                f"series {series_uid} is not in {where}; series found there:\n{_describe_series(infos)}"
            )
        return series_uid, scan.groups[series_uid]
    if len(scan.groups) > 1:
        infos = sorted((_info(u, e) for u, e in scan.groups.items()), key=lambda s: -s.n_files)
        raise MultipleSeriesError(
            f"{where} holds {len(infos)} DICOM series; pick one by passing its "
            f"SeriesInstanceUID (series_uid=...):\n{_describe_series(infos)}",
            [s.series_instance_uid for s in infos],
        )
    uid, entries = next(iter(scan.groups.items()))
    return uid, entries
