"""Frames in the transfer syntax they are stored in (PS3.18 8.7.3.5): a client that names a
compressed syntax and its image media type gets the stored bitstream of each frame as it is,
with no decoding on the server. Anything else gets frames decoded (files.iter_frames)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom.encaps import generate_frames

from webapp.dicomweb.files import UnreadableInstance

# Stored transfer syntax -> the media type its frames travel as (PS3.18 Table 8.7.3-2).
MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/x-dicom-rle",
}


def iter_stored_frames(path: Path, numbers: list[int]) -> Iterator[bytes]:
    """The stored (compressed) bitstream of frames ``numbers`` (1-based)."""
    try:
        ds = pydicom.dcmread(path)
        count = int(ds.get("NumberOfFrames", 1) or 1)
        frames = list(generate_frames(ds.PixelData, number_of_frames=count))
    except Exception as e:  # damaged encapsulation
        raise UnreadableInstance(f"{path.name}: {type(e).__name__}: {e}") from None
    if max(numbers) > len(frames):
        raise UnreadableInstance(f"{path.name}: {len(frames)} frames stored, {count} announced")
    for n in numbers:
        yield frames[n - 1]
