"""Read one axial CT series from a folder of DICOM files into a :class:`CTVolume`.

Headers are read once (without pixels) to group files by SeriesInstanceUID and to check
the geometry; only the chosen series' pixels are decoded. Slice order comes solely from
ImagePositionPatient projected on the slice normal.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import UID

from detector.geometry import CTVolume, Geometry
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
    TooFewSlicesError,
    UnevenSpacingError,
    UnreadablePixelDataError,
    UnsupportedSeriesError,
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


# ----------------------------------------------------------------------------- scanning


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


# ----------------------------------------------------------------------------- choosing


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


# ----------------------------------------------------------------------------- checks


def _names(paths: list[Path], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(p.name for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _check_ct(entries: list[_Entry], label: str) -> None:
    """Every file must be a single-frame CT Image Storage object."""
    for e in entries:
        sop = _sop_class(e.ds)
        if sop in ENHANCED_CT_SOP_CLASSES:
            raise UnsupportedSeriesError(
                f"{label}: {e.path.name} is {ENHANCED_CT_SOP_CLASSES[sop]} (multi-frame); "
                "enhanced multi-frame CT is not supported yet — export the series as "
                "classic single-frame CT images (one file per slice)"
            )
    modalities = Counter(_text(e.ds, "Modality") or "missing" for e in entries)
    if set(modalities) != {"CT"}:
        bad = [e.path for e in entries if _text(e.ds, "Modality") != "CT"]
        found = ", ".join(f"{m} ({n} file(s))" for m, n in modalities.items())
        raise NotCTError(
            f"{label}: modality is {found}, not CT (e.g. {_names(bad)}); only CT series "
            "can be screened — pick the CT series of the study"
        )
    for e in entries:
        sop = _sop_class(e.ds)
        if sop != CT_IMAGE_STORAGE:
            raise NotCTError(
                f"{label}: {e.path.name} has SOP class {_sop_class_name(sop)}, not CT "
                "Image Storage; it is not a reconstructed CT slice (screenshot, report, "
                "dose sheet?) — pick the CT image series"
            )
        frames = _float_or_none(e.ds, "NumberOfFrames")
        if frames is not None and frames > 1:
            raise UnsupportedSeriesError(
                f"{label}: {e.path.name} holds {int(frames)} frames in one CT image "
                "file; multi-frame CT is not supported yet — export one file per slice"
            )


def _check_pixel_format(entries: list[_Entry], label: str) -> None:
    for e in entries:
        photometric = _text(e.ds, "PhotometricInterpretation")
        samples = _float_or_none(e.ds, "SamplesPerPixel")
        if samples is not None and samples != 1:
            raise UnreadablePixelDataError(
                f"{label}: {e.path.name} has {int(samples)} samples per pixel (colour); "
                "a CT slice must be greyscale — re-export the original CT images"
            )
        if not photometric and "Rows" not in e.ds:
            raise UnreadablePixelDataError(
                f"{label}: {e.path.name} has no image (no Rows, Columns or "
                "PhotometricInterpretation: the pixel module is missing); the file is "
                "a header-only placeholder — re-export the series with its images"
            )
        # MONOCHROME1 only changes how grey levels are displayed; the rescale still gives
        # HU, so both are accepted without inverting anything.
        if photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise UnreadablePixelDataError(
                f"{label}: {e.path.name} has PhotometricInterpretation "
                f"'{photometric or 'missing'}' (MONOCHROME2 expected); re-export the "
                "original greyscale CT images"
            )


def _floats(e: _Entry, keyword: str, n: int, label: str) -> np.ndarray:
    value = e.ds.get(keyword, None)
    try:
        out = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        out = np.zeros(0)
    if out.shape != (n,) or not np.all(np.isfinite(out)):
        state = "missing" if value is None else f"malformed ({value!r})"
        raise MissingTagError(
            f"{label}: {e.path.name} has {state} {keyword} (need {n} numbers); the "
            "slice cannot be placed in space — re-export the series from the scanner "
            "or PACS without anonymisation that strips geometry tags"
        )
    return out


def _check_grid(entries: list[_Entry], label: str) -> tuple[int, int, np.ndarray]:
    """Rows, Columns and PixelSpacing must agree on all slices."""
    shapes = []
    for e in entries:
        rows, cols = e.ds.get("Rows", None), e.ds.get("Columns", None)
        if not rows or not cols:
            raise MissingTagError(
                f"{label}: {e.path.name} has no Rows/Columns; the file is damaged — re-export the series"
            )
        shapes.append((int(rows), int(cols)))
    counts = Counter(shapes)
    if len(counts) > 1:
        found = ", ".join(f"{r}x{c} ({n} files)" for (r, c), n in counts.most_common())
        raise InconsistentGridError(
            f"{label}: slices have different image sizes (rows x columns: {found}); "
            "the series mixes images (localizer?) — export only the axial CT series"
        )
    spacing = np.stack([_floats(e, "PixelSpacing", 2, label) for e in entries])
    bad = np.any(np.abs(spacing - spacing[0]) > PIXEL_SPACING_TOL, axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise InconsistentGridError(
            f"{label}: PixelSpacing differs between slices ({entries[0].path.name}: "
            f"{spacing[0].tolist()} mm, {entries[i].path.name}: {spacing[i].tolist()} "
            "mm); the series mixes reconstructions — export a single reconstruction"
        )
    return shapes[0][0], shapes[0][1], spacing[0]


def _check_orientation(entries: list[_Entry], label: str) -> np.ndarray:
    """The shared ImageOrientationPatient as (row_dir, col_dir, normal), unit vectors."""
    iops = np.stack([_floats(e, "ImageOrientationPatient", 6, label) for e in entries])
    differs = np.any(np.abs(iops - iops[0]) > ORIENTATION_TOL, axis=1)
    if differs.any():
        odd = [e.path for e, d in zip(entries, differs, strict=True) if d]
        raise MixedOrientationError(
            f"{label}: ImageOrientationPatient is not the same on all slices "
            f"({entries[0].path.name}: {iops[0].round(4).tolist()}, "
            f"{odd[0].name}: {iops[int(np.argmax(differs))].round(4).tolist()}; "
            f"{len(odd)} of {len(entries)} files differ: {_names(odd)}); the series "
            "mixes image planes (localizer or reformats?) — export only the axial series"
        )
    row, col = iops[0, :3], iops[0, 3:]
    normal = np.cross(row, col)
    if (
        abs(np.linalg.norm(row) - 1) > 1e-2
        or abs(np.linalg.norm(col) - 1) > 1e-2
        or np.linalg.norm(normal) < 0.99
    ):
        raise MissingTagError(
            f"{label}: ImageOrientationPatient {iops[0].tolist()} is not two "
            "perpendicular unit vectors; the header is damaged — re-export the series"
        )
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    normal = normal / np.linalg.norm(normal)
    _check_axial(normal, label)
    return np.stack([row, col, normal])


def _check_axial(normal: np.ndarray, label: str) -> None:
    angle = math.degrees(math.acos(min(1.0, abs(float(normal[2])))))
    if angle <= AXIAL_MAX_DEG:
        return
    axis = int(np.argmax(np.abs(normal)))
    off_axis = math.degrees(math.acos(min(1.0, abs(float(normal[axis])))))
    if axis == 0 and off_axis <= AXIAL_MAX_DEG:
        plane = "sagittal"
    elif axis == 1 and off_axis <= AXIAL_MAX_DEG:
        plane = "coronal"
    else:
        plane = "oblique"
    raise NonAxialError(
        f"{label}: slices are {plane} (slice normal {normal.round(4).tolist()} is "
        f"{angle:.1f} degrees from the head-foot axis; at most {AXIAL_MAX_DEG:g} allowed); "
        "only axial CT can be screened — export the original axial reconstruction"
    )


def _sort_and_dedupe(
    entries: list[_Entry], positions: np.ndarray, normal: np.ndarray, label: str
) -> tuple[list[_Entry], np.ndarray, int]:
    """Sort slices ascending along the normal; drop exact duplicate files."""
    dist = positions @ normal
    order = np.argsort(dist, kind="stable")
    entries = [entries[i] for i in order]
    positions, dist = positions[order], dist[order]
    keep = np.ones(len(entries), dtype=bool)
    close = np.flatnonzero(np.diff(dist) < DUPLICATE_TOL_MM)
    for i in close:
        # Compare with the last kept slice so runs of 3+ copies collapse correctly.
        j = i
        while not keep[j]:
            j -= 1
        a, b = entries[j], entries[i + 1]
        if _text(a.ds, "SOPInstanceUID") and _text(a.ds, "SOPInstanceUID") == _text(b.ds, "SOPInstanceUID"):
            keep[i + 1] = False  # the same image stored twice: harmless
            continue
        raise DuplicateSliceError(
            f"{label}: {a.path.name} and {b.path.name} are two different images "
            f"(different SOPInstanceUID) at the same position z = {positions[i + 1, 2]:.2f} "
            "mm; the series contains two acquisitions or reconstructions — export them "
            "as separate series or remove the extra images"
        )
    dropped = int((~keep).sum())
    return (
        [e for e, k in zip(entries, keep, strict=True) if k],
        positions[keep],
        dropped,
    )


def _check_tilt(entries: list[_Entry], positions: np.ndarray, normal: np.ndarray, label: str) -> None:
    steps = np.diff(positions, axis=0)
    along = steps @ normal
    drift = np.linalg.norm(steps - along[:, None] * normal, axis=1)
    limit = TILT_REL_TOL * float(np.median(along))
    if np.all(drift <= limit):
        return
    i = int(np.argmax(drift))
    angle = math.degrees(math.atan2(float(drift[i]), float(along[i])))
    tilt = _float_or_none(entries[0].ds, "GantryDetectorTilt")
    tilt_txt = f" (GantryDetectorTilt {tilt:g} degrees)" if tilt else ""
    raise NonAxialError(
        f"{label}: the slice stack is sheared — consecutive ImagePositionPatient values "
        f"shift sideways by {drift[i]:.3f} mm per {along[i]:.3f} mm step "
        f"({entries[i].path.name} -> {entries[i + 1].path.name}), i.e. a gantry tilt of "
        f"about {angle:.1f} degrees{tilt_txt}; tilted acquisitions are not supported — "
        "export a reconstruction without gantry tilt (or resampled to axial)"
    )


def _check_gaps(entries: list[_Entry], positions: np.ndarray, normal: np.ndarray, label: str) -> float:
    """The (even) slice gap in mm; raise on missing slices or uneven spacing."""
    gaps = np.diff(positions @ normal)
    gap = float(np.median(gaps))
    tol = max(0.01 * gap, 0.05)
    ratio = gaps / gap
    k = np.rint(ratio)
    missing = np.flatnonzero((k >= 2) & (np.abs(ratio - k) <= 0.1))
    if missing.size:
        holes = []
        for i in missing:
            s = [positions[i, 2] + j * gap * normal[2] for j in range(1, int(k[i]))]
            where = (
                ", ".join(f"{v:.2f}" for v in s)
                if len(s) <= 3
                else f"{len(s)} positions from {s[0]:.2f} to {s[-1]:.2f}"
            )
            holes.append(
                f"{where} mm between {positions[i, 2]:.2f} ({entries[i].path.name}) "
                f"and {positions[i + 1, 2]:.2f} mm ({entries[i + 1].path.name})"
            )
        n_missing = int(sum(k[i] - 1 for i in missing))
        listed = "; ".join(holes[:MAX_LISTED]) + ("; ..." if len(holes) > MAX_LISTED else "")
        raise MissingSliceError(
            f"{label}: {n_missing} slice(s) missing at z = {listed} (expected even "
            f"{gap:.3f} mm gaps); the series looks incomplete — re-export it"
        )
    off = np.flatnonzero(np.abs(gaps - gap) > tol)
    if off.size:
        i = int(off[np.argmax(np.abs(gaps[off] - gap))])
        raise UnevenSpacingError(
            f"{label}: slice gaps are uneven ({off.size} gap(s) differ from the usual "
            f"{gap:.3f} mm by more than {tol:.3f} mm; largest: {gaps[i]:.3f} mm between "
            f"{entries[i].path.name} at z = {positions[i, 2]:.2f} mm and "
            f"{entries[i + 1].path.name} at z = {positions[i + 1, 2]:.2f} mm); export a "
            "reconstruction with constant slice spacing"
        )
    return float((positions[-1] - positions[0]) @ normal / (len(entries) - 1))


# ----------------------------------------------------------------------------- pixels


def _read_pixels(entries: list[_Entry], rows: int, cols: int, label: str) -> tuple[np.ndarray, int]:
    """Decode every slice to HU (per-slice rescale) into one preallocated array.

    Padding pixels (outside the scanned circle, e.g. -3024 HU) are set to air so that
    they do not look like data; returns the HU array and the number of such pixels.
    """
    hu = np.empty((len(entries), rows, cols), dtype=np.float32)
    n_padding = 0
    for i, e in enumerate(entries):
        try:
            ds = dcmread(e.path, force=e.forced)
            if "PixelData" not in ds:
                raise ValueError("the file has no PixelData element")
            arr = ds.pixel_array
        except Exception as err:  # decoders fail with many exception types
            raise UnreadablePixelDataError(
                f"{label}: cannot decode the pixel data of {e.path} "
                f"(transfer syntax {_transfer_syntax(e.ds)}): {err}; the file is "
                "damaged or truncated — re-export or re-copy the series"
            ) from err
        if arr.shape != (rows, cols):
            raise UnreadablePixelDataError(
                f"{label}: {e.path} decodes to an image of shape {arr.shape}, but its "
                f"header says {rows}x{cols}; the file is damaged — re-export the series"
            )
        slope = _float_or_none(e.ds, "RescaleSlope")
        intercept = _float_or_none(e.ds, "RescaleIntercept")
        # Rescale is per slice on purpose: some scanners vary it along the stack.
        hu[i] = arr * (1.0 if slope is None else slope) + (intercept or 0.0)
        padding = _padding_mask(e.ds, arr)
        if padding is not None:
            hu[i][padding] = PADDING_HU
            n_padding += int(padding.sum())
    return hu, n_padding


def _padding_mask(ds: Dataset, arr: np.ndarray) -> np.ndarray | None:
    """Pixels outside the reconstructed field of view (PixelPaddingValue), if any."""
    value = _float_or_none(ds, "PixelPaddingValue")
    if value is None:
        return None
    limit = _float_or_none(ds, "PixelPaddingRangeLimit")
    if limit is None:
        return arr == value
    lo, hi = min(value, limit), max(value, limit)
    return (arr >= lo) & (arr <= hi)


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID", None) if meta is not None else None
    return f"{uid.name}" if uid else "unknown"


def _is_lossy(ds: Dataset) -> bool:
    """True if the pixels went through lossy compression (now or at some earlier step)."""
    meta = getattr(ds, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    return _text(ds, "LossyImageCompression") == "01" or uid in LOSSY_TRANSFER_SYNTAXES


# ----------------------------------------------------------------------------- entry point


def read_series(path: Path | str, series_uid: str | None = None, *, min_slices: int = 8) -> CTVolume:
    """Read one axial CT series (folder, any nesting, or a single file) as float32 HU."""
    root = Path(path)
    _check_exists(root)
    scan = _scan(root)
    uid, entries = _choose_series(root, scan, series_uid)
    label = f"series {uid} ({'file' if root.is_file() else 'folder'} {root})"

    _check_ct(entries, label)
    _check_pixel_format(entries, label)
    rows, cols, pixel_spacing = _check_grid(entries, label)
    frame = _check_orientation(entries, label)
    normal = frame[2]
    positions = np.stack([_floats(e, "ImagePositionPatient", 3, label) for e in entries])
    entries, positions, n_dropped = _sort_and_dedupe(entries, positions, normal, label)

    if len(entries) < max(min_slices, 1):
        hint = (
            " — a single file was given; pass the folder that holds the whole series"
            if root.is_file()
            else "; the export looks incomplete or this is not a volume (scout?) — "
            "re-export the full axial series"
        )
        raise TooFewSlicesError(f"{label}: only {len(entries)} slice(s), at least {min_slices} needed{hint}")
    if len(entries) >= 2:
        _check_tilt(entries, positions, normal, label)
        gap = _check_gaps(entries, positions, normal, label)
    else:
        gap = (
            _float_or_none(entries[0].ds, "SpacingBetweenSlices")
            or _float_or_none(entries[0].ds, "SliceThickness")
            or 1.0
        )

    hu, n_padding = _read_pixels(entries, rows, cols, label)
    geometry = Geometry(
        origin_lps_mm=positions[0],
        spacing_zyx_mm=[gap, pixel_spacing[0], pixel_spacing[1]],
        direction_zyx=np.stack([normal, frame[1], frame[0]]),
    )
    meta = _meta(root, uid, entries, scan, n_dropped)
    meta["n_padding_voxels"] = n_padding
    return CTVolume(hu=hu, geometry=geometry, meta=meta)


def _meta(root: Path, uid: str, entries: list[_Entry], scan: _Scan, n_dropped: int) -> dict:
    ds = entries[0].ds
    return {
        "patient_id": _text(ds, "PatientID"),
        "patient_name": _text(ds, "PatientName"),
        "study_instance_uid": _text(ds, "StudyInstanceUID"),
        "series_instance_uid": uid,
        "study_date": _text(ds, "StudyDate"),
        "modality": _text(ds, "Modality"),
        "manufacturer": _text(ds, "Manufacturer"),
        "kvp": _float_or_none(ds, "KVP"),
        "n_slices": len(entries),
        "source": str(root),
        "sop_instance_uids": [_text(e.ds, "SOPInstanceUID") for e in entries],
        "files": [str(e.path) for e in entries],
        "slice_thickness_mm": _float_or_none(ds, "SliceThickness"),
        "series_description": _text(ds, "SeriesDescription"),
        "convolution_kernel": _text(ds, "ConvolutionKernel"),
        "frame_of_reference_uid": _text(ds, "FrameOfReferenceUID"),
        "transfer_syntax": _transfer_syntax(ds),
        "lossy_compression": any(_is_lossy(e.ds) for e in entries),
        "n_duplicate_files_dropped": n_dropped,
        "n_files_skipped": scan.n_not_dicom + scan.n_dicomdir + scan.n_no_series_uid,
        "n_other_series": len(scan.groups) - 1,
    }
