"""Anomaly maps on the CT grid, stored compactly and served as raw typed arrays.

The format (one file per map, ``<kind>.u16.zlib`` in the result's folder):

- the map quantised to unsigned 16-bit integers, ``value = offset + q * scale`` (``offset`` is
  the map's minimum, ``scale`` its range / 65535; the largest error is ``scale / 2``);
- little-endian, C order over ``(z, y, x)``: slice after slice, row after row, the order a
  Cornerstone3D volume's scalar data takes (x fastest);
- compressed with zlib (RFC 1950), which is exactly HTTP's ``deflate`` content coding, so the
  stored bytes can be sent as they are to a client that accepts it.

``offset``, ``scale``, the sha256 of the stored bytes and both sizes are kept in the result row;
the grid (shape, spacing, origin, direction in LPS) is the CT series' own.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

KINDS = ("global", "local", "fused")
DTYPE = "<u2"  # little-endian uint16
_LEVELS = 65535
_CHUNK = 1 << 20


def file_name(kind: str) -> str:
    return f"{kind}.u16.zlib"


def quantise(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """float map -> (uint16 array, offset, scale) with ``values ~= offset + q * scale``."""
    arr = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(arr.min()), float(arr.max())
    scale = (hi - lo) / _LEVELS if hi > lo else 0.0
    q = np.zeros(arr.shape, np.uint16) if scale == 0.0 else np.rint((arr - lo) / scale).astype(np.uint16)
    return q, lo, scale


def write_map(folder: Path, kind: str, values_zyx: np.ndarray) -> dict:
    """Quantise, compress and write one map; return what the result row keeps about it."""
    if values_zyx.ndim != 3:
        raise ValueError(f"{kind} map must be 3-D (z, y, x), got shape {values_zyx.shape}")
    q, offset, scale = quantise(values_zyx)
    raw = np.ascontiguousarray(q, dtype=DTYPE).tobytes()
    stored = zlib.compress(raw, 6)
    path = folder / file_name(kind)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(stored)
    tmp.replace(path)
    return {
        "file": path.name,
        "dtype": "uint16",
        "byte_order": "little",
        "offset": offset,
        "scale": scale,
        "min": offset,
        "max": offset + scale * _LEVELS,
        "raw_bytes": len(raw),
        "stored_bytes": len(stored),
        "sha256": hashlib.sha256(stored).hexdigest(),
    }


def read_map(folder: Path, info: dict, shape_zyx: tuple[int, int, int]) -> np.ndarray:
    """The stored map back as float32 ``(z, y, x)``."""
    raw = zlib.decompress((folder / info["file"]).read_bytes())
    q = np.frombuffer(raw, dtype=DTYPE).reshape(shape_zyx)
    return (info["offset"] + q.astype(np.float64) * info["scale"]).astype(np.float32)


def iter_raw(path: Path) -> Iterator[bytes]:
    """The uncompressed bytes of a stored map, in chunks (for clients that do not take deflate)."""
    inflater = zlib.decompressobj()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            yield inflater.decompress(chunk)
    yield inflater.flush()
