"""Reading stored instances for WADO-RS: header metadata as DICOM JSON, and pixel data frames.

Frames are always served uncompressed, little endian (Explicit VR Little Endian), whatever the
stored transfer syntax: compressed files are decoded here, so a browser viewer never needs a
codec for our data. The metadata says so in TransferSyntaxUID (0002,0010).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian

from webapp.dicomweb import dicomjson

SERVED_TRANSFER_SYNTAX = ExplicitVRLittleEndian
# Binary values longer than this are left out of the metadata (pixel data is never in it).
INLINE_BINARY_MAX_BYTES = 1024
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}


class UnreadableInstance(Exception):
    """The stored file cannot be read or decoded; ``str(exc)`` says why."""


def _omit_bulk(_elem) -> str:
    return ""  # the element is dropped afterwards (see _strip_bulk)


def _strip_bulk(item: dicomjson.Json) -> None:
    for tag in list(item):
        value = item[tag]
        if "BulkDataURI" in value:
            del item[tag]
        elif value.get("vr") == "SQ":
            for child in value.get("Value", []):
                _strip_bulk(child)


# pydicom's ``suppress_invalid_tags`` switches its process-wide validation mode to strict and back
# around the conversion; two threads overlapping there could leave the whole process strict (every
# later read raising on a slightly invalid value). One conversion at a time keeps it balanced.
_STRICT_MODE_LOCK = threading.Lock()


def _json_dropping_invalid(ds: Dataset) -> dicomjson.Json:
    """DICOM JSON of the data set, leaving out elements whose value is invalid for their VR."""
    with _STRICT_MODE_LOCK:
        return ds.to_json_dict(
            bulk_data_threshold=INLINE_BINARY_MAX_BYTES,
            bulk_data_element_handler=_omit_bulk,
            suppress_invalid_tags=True,
        )


def instance_metadata(path: Path) -> dicomjson.Json:
    """The instance's attributes as DICOM JSON, without pixel data or other bulk data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            out = _json_dropping_invalid(ds)
    except (OSError, EOFError) as e:
        raise UnreadableInstance(f"{path.name}: {e}") from None
    except Exception as e:  # pydicom raises many types on a damaged header
        raise UnreadableInstance(f"{path.name}: {type(e).__name__}: {e}") from None
    _strip_bulk(out)
    dicomjson.attr(out, dicomjson.TRANSFER_SYNTAX_UID, SERVED_TRANSFER_SYNTAX)
    return out


def frame_length(rows: int, columns: int, samples: int, bits_allocated: int) -> int:
    if bits_allocated % 8:
        raise UnreadableInstance(f"BitsAllocated {bits_allocated} is not a whole number of bytes")
    return rows * columns * samples * bits_allocated // 8


def iter_frames(path: Path, numbers: list[int]) -> Iterator[bytes]:
    """Frames ``numbers`` (1-based) as uncompressed little-endian pixel bytes, read one at a time
    as the response is sent (the header is read and the frames' extent checked before the first)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Pixel data is deferred: only its offset is read, then the frames are read directly.
            ds = pydicom.dcmread(path, defer_size=1024)
        tsyntax = UID(ds.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian))
        if tsyntax.is_encapsulated:
            for n in numbers:
                yield _decoded_frame(path, ds, n)
            return
        rows, columns = int(ds.Rows), int(ds.Columns)
        samples, bits = int(ds.get("SamplesPerPixel", 1)), int(ds.BitsAllocated)
        size = frame_length(rows, columns, samples, bits)
        swap = np.dtype(f">u{bits // 8}") if tsyntax == ExplicitVRBigEndian and bits > 8 else None
        elem = ds.get_item("PixelData", keep_deferred=True)
        offset = getattr(elem, "value_tell", None)
        if (
            isinstance(elem, RawDataElement)
            and offset is not None
            and tsyntax != DeflatedExplicitVRLittleEndian
        ):
            if offset + max(numbers) * size > path.stat().st_size:
                raise UnreadableInstance(f"{path.name}: pixel data is shorter than its frames")
            with path.open("rb") as f:
                for n in numbers:
                    f.seek(offset + (n - 1) * size)
                    yield _little_endian(f.read(size), swap)
            return
        data = ds.PixelData  # deflated files: inflated whole (their size was bounded at ingest)
        if len(data) < max(numbers) * size:
            raise UnreadableInstance(f"{path.name}: pixel data is shorter than its frames")
        for n in numbers:
            yield _little_endian(data[(n - 1) * size : n * size], swap)
    except UnreadableInstance:
        raise
    except (OSError, EOFError) as e:
        raise UnreadableInstance(f"{path.name}: {e}") from None
    except Exception as e:  # decoders raise many types on damaged data
        raise UnreadableInstance(f"{path.name}: {type(e).__name__}: {e}") from None


def _little_endian(frame: bytes, big_endian: np.dtype | None) -> bytes:
    if big_endian is None:
        return frame
    return np.frombuffer(frame, big_endian).astype(big_endian.newbyteorder("<")).tobytes()


def _decoded_frame(path: Path, ds: Dataset, number: int) -> bytes:
    multiframe = int(ds.get("NumberOfFrames", 1) or 1) > 1
    arr = pixel_array(path, index=number - 1 if multiframe else None)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
