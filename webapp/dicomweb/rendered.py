"""WADO-RS rendered resources (PS3.18 10.4.1.1.3, 9.5): a frame as a consumer image, JPEG by
default or PNG when asked, after the modality rescale and a window (the request's ``window``,
else the file's own VOI, else the frame's range); ``viewport=rows,columns`` scales it to fit.
Thumbnails are the same rendering of a representative frame (the middle instance of a series;
of a study, its largest series), small."""

from __future__ import annotations

import io
import math

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset

from webapp.dicomweb.query import QueryError

THUMBNAIL_SIZE = 128
MAX_VIEWPORT = 2048
FUNCTIONS = {"linear", "linear_exact", "sigmoid"}


def parse_window(raw: str | None) -> tuple[float, float, str] | None:
    """``window=center,width,function`` (function: linear, linear_exact or sigmoid)."""
    if not raw:
        return None
    parts = raw.split(",")
    try:
        center, width = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise QueryError(f"window={raw!r}: expected center,width,function") from None
    function = (parts[2] if len(parts) > 2 else "linear").strip().lower().replace("-", "_")
    if function not in FUNCTIONS or not math.isfinite(center) or not math.isfinite(width) or width <= 0:
        raise QueryError(f"window={raw!r}: a positive width and a function in {sorted(FUNCTIONS)}")
    return center, width, function


def parse_viewport(raw: str | None, default: int | None) -> tuple[int, int] | None:
    """``viewport=rows,columns`` (both at most MAX_VIEWPORT)."""
    if not raw:
        return (default, default) if default else None
    try:
        rows, cols = (int(v) for v in raw.split(",")[:2])
    except ValueError:
        raise QueryError(f"viewport={raw!r}: expected rows,columns") from None
    if not (0 < rows <= MAX_VIEWPORT and 0 < cols <= MAX_VIEWPORT):
        raise QueryError(f"viewport={raw!r}: rows and columns from 1 to {MAX_VIEWPORT}")
    return rows, cols


def _first(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _voi(
    ds: Dataset, values: np.ndarray, window: tuple[float, float, str] | None
) -> tuple[float, float, str]:
    if window is not None:
        return window
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width and width > 0:
        function = str(ds.get("VOILUTFunction", "LINEAR")).lower().replace("-", "_")
        return center, width, function if function in FUNCTIONS else "linear"
    low, high = float(values.min()), float(values.max())
    return (low + high) / 2, max(high - low, 1.0), "linear_exact"


def _windowed(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """PS3.3 C.11.2.1.2: stored (rescaled) values to 0..255."""
    if function == "sigmoid":
        out = 255.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    elif function == "linear_exact":
        out = (values - (center - width / 2)) / width * 255.0
    else:
        out = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.clip(out, 0, 255).astype(np.uint8)


def render_frame(
    path: str,
    frame: int,
    *,
    window: tuple[float, float, str] | None,
    viewport: tuple[int, int] | None,
    media_type: str,
    quality: int = 90,
) -> bytes:
    """One frame (1-based) of the stored file as JPEG or PNG bytes."""
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not 1 <= frame <= frames:
        raise IndexError(f"this instance has {frames} frame(s), numbered from 1")
    image = pixels[frame - 1] if frames > 1 else pixels
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).startswith("MONOCHROME"):
        values = image.astype(np.float64) * float(ds.get("RescaleSlope", 1) or 1) + float(
            ds.get("RescaleIntercept", 0) or 0
        )
        out = _windowed(values, *_voi(ds, values, window))
        if ds.get("PhotometricInterpretation") == "MONOCHROME1":
            out = 255 - out
        picture = Image.fromarray(out, mode="L")
    else:
        picture = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    if viewport is not None:
        picture.thumbnail((viewport[1], viewport[0]), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if media_type == "image/png":
        picture.save(buffer, format="PNG")
    else:
        picture.save(buffer, format="JPEG", quality=max(1, min(quality, 100)))
    return buffer.getvalue()
