"""Read one axial CT series from a folder of DICOM files into a :class:`CTVolume`.

Headers are read once (without pixels) to group files by SeriesInstanceUID (dicom_scan.py) and
to check the geometry (series_checks.py); only the chosen series' pixels are decoded, here. Slice order comes solely from
ImagePositionPatient projected on the slice normal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset

from detector.geometry import CTVolume, Geometry
from detector.io.dicom_scan import (
    LOSSY_TRANSFER_SYNTAXES,
    PADDING_HU,
    _check_exists,
    _choose_series,
    _Entry,
    _float_or_none,
    _Scan,
    _scan,
    _text,
)
from detector.io.errors import (
    TooFewSlicesError,
    UnreadablePixelDataError,
)
from detector.io.series_checks import (
    _check_ct,
    _check_gaps,
    _check_grid,
    _check_orientation,
    _check_pixel_format,
    _check_tilt,
    _floats,
    _sort_and_dedupe,
)


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
