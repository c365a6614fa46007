"""The checks a series passes before its pixels are read: CT, one pixel format, one grid and
orientation, axial, slices ordered along the normal without duplicates, tilt or gaps. Each
failure is an error of detector.io.errors that names the files at fault."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np

from detector.io.dicom_scan import (
    AXIAL_MAX_DEG,
    CT_IMAGE_STORAGE,
    DUPLICATE_TOL_MM,
    ENHANCED_CT_SOP_CLASSES,
    MAX_LISTED,
    ORIENTATION_TOL,
    PIXEL_SPACING_TOL,
    TILT_REL_TOL,
    _Entry,
    _float_or_none,
    _sop_class,
    _sop_class_name,
    _text,
)
from detector.io.errors import (
    DuplicateSliceError,
    InconsistentGridError,
    MissingSliceError,
    MissingTagError,
    MixedOrientationError,
    NonAxialError,
    NotCTError,
    UnevenSpacingError,
    UnreadablePixelDataError,
    UnsupportedSeriesError,
)


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
