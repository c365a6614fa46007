"""Reading one DICOM file's header for ingest, and deciding whether it can be stored.

``parse_instance`` returns the fields the index needs, or raises ``Rejected`` with a reason a
coordinator can act on. Pixel data is not decoded; for uncompressed transfer syntaxes its
declared length is checked against rows x columns x samples x bits x frames and against the
file's size, so a file cut short in transit is refused here rather than failing a job later.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

# CT images the detector can read; other SOP classes with Modality CT (secondary captures,
# dose reports, raw data) are not image volumes.
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.2"
CT_SOP_CLASSES = {
    CT_IMAGE_STORAGE: "CT Image Storage",
    ENHANCED_CT_IMAGE_STORAGE: "Enhanced CT Image Storage",
    LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE: "Legacy Converted Enhanced CT Image Storage",
}
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
UNDEFINED_LENGTH = 0xFFFFFFFF

# Lenient on purpose: real archives hold UIDs with leading zeros in a component. Digits and dots
# only is what matters here, because UIDs become folder and file names in storage.
_UID_SAFE_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class Rejected(Exception):
    """The file cannot be stored; ``str(exc)`` says why, in words a coordinator can act on."""


@dataclass(frozen=True)
class ParsedInstance:
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    patient_birth_date: dt.date | None
    patient_sex: str
    modality: str
    study_date: dt.date | None
    study_description: str
    accession_number: str
    series_number: int | None
    series_description: str
    body_part_examined: str
    instance_number: int | None
    rows: int
    columns: int
    number_of_frames: int
    transfer_syntax_uid: str


def _text(ds: Dataset, keyword: str, max_length: int = 255) -> str:
    try:
        value = ds.get(keyword, "")
    except Exception:  # a malformed value must not sink the whole file: treat it as absent
        return ""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or value.__class__.__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    # PostgreSQL text cannot hold NUL; DICOM pads with NUL or spaces.
    return str(value).replace("\x00", "").strip()[:max_length]


_INT32_MAX = 2**31 - 1


def _int(ds: Dataset, keyword: str) -> int | None:
    """An integer value, or None when absent, malformed or outside a database integer."""
    try:
        value = ds.get(keyword)
        number = int(value) if value not in (None, "") else None
    except Exception:
        return None
    return number if number is not None and abs(number) <= _INT32_MAX else None


def _date(ds: Dataset, keyword: str) -> dt.date | None:
    text = _text(ds, keyword, 32)
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


def is_uid(value: str) -> bool:
    """A DICOM UID: at most 64 characters of digits and dots."""
    return len(value) <= 64 and bool(_UID_SAFE_RE.match(value))


def _uid(ds: Dataset, keyword: str, label: str) -> str:
    value = _text(ds, keyword, 200)
    if not value:
        raise Rejected(f"missing {label} ({keyword}); every stored image needs its {label}")
    if not is_uid(value):
        raise Rejected(f"malformed {label} {value[:70]!r}: a UID is at most 64 digits and dots")
    return value


def expected_pixel_bytes(rows: int, columns: int, samples: int, bits_allocated: int, frames: int) -> int:
    """Bytes of native (uncompressed) pixel data, before the even-length pad byte."""
    bits = rows * columns * samples * frames * bits_allocated
    return (bits + 7) // 8


@dataclass(frozen=True)
class InflationLimit:
    """How far a deflated file may inflate: never past ``max_bytes``, and above ``ratio_min_bytes``
    never past ``max_ratio`` times its size (deflated CT data reaches 2-5x)."""

    max_bytes: int = 1024**3
    max_ratio: float = 100.0
    ratio_min_bytes: int = 1024**2

    def allowed(self, file_size: int) -> int:
        return min(self.max_bytes, max(self.ratio_min_bytes, int(self.max_ratio * max(file_size, 1))))


_INFLATE_CHUNK = 256 * 1024


def _check_inflation(path: Path, file_size: int, limit: InflationLimit) -> None:
    """Count, without keeping it, what a deflated file's data set inflates to, and refuse it past
    the limit before pydicom inflates it whole in memory."""
    meta = pydicom.filereader.read_file_meta_info(path)
    if _text(meta, "TransferSyntaxUID", 64) != DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        return
    group_length = meta.get("FileMetaInformationGroupLength")
    if group_length is None:
        raise Rejected("deflated file without a file meta group length: where the data set starts is unknown")
    allowed = limit.allowed(file_size)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # DICOM deflate is raw (RFC 1951)
    inflated = 0
    with path.open("rb") as f:
        f.seek(132 + 12 + int(group_length))  # preamble, DICM, the group length element itself
        while not inflater.eof and (chunk := f.read(_INFLATE_CHUNK)):
            data = chunk
            while data and not inflater.eof:
                try:
                    out = inflater.decompress(data, _INFLATE_CHUNK)
                except zlib.error as e:
                    raise Rejected(f"corrupt deflated data set ({e})") from None
                inflated += len(out)
                if inflated > allowed:
                    raise Rejected(
                        f"deflated data set inflates past {allowed} bytes ({inflated / max(file_size, 1):.0f}x "
                        "the file's size; a decompression bomb?): refused"
                    )
                if not out and inflater.unconsumed_tail == data:
                    break  # no progress: the rest is judged by the reader
                data = inflater.unconsumed_tail


def _read(path: Path) -> tuple[Dataset, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Large values (pixel data) are deferred: their length and offset are known without
        # loading them, which is all the truncation check needs.
        ds = pydicom.dcmread(path, defer_size=4096)
    return ds, [str(w.message) for w in caught]


def _check_pixel_data(ds: Dataset, path: Path, file_size: int, tsyntax: str, warn: list[str]) -> None:
    if any("End of file reached before delimiter" in w for w in warn):
        raise Rejected("truncated file: the compressed pixel data ends before its closing delimiter")
    elem = ds.get_item("PixelData", keep_deferred=True)
    if elem is None:
        raise Rejected("no pixel data: the file is truncated or is not an image")
    rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
    bits, samples = _int(ds, "BitsAllocated"), _int(ds, "SamplesPerPixel") or 1
    frames = _int(ds, "NumberOfFrames") or 1
    for name, value in (("Rows", rows), ("Columns", columns), ("BitsAllocated", bits)):
        if not value or value <= 0:
            raise Rejected(f"missing or invalid {name}: the image size cannot be known")
    length = getattr(elem, "length", None)
    encapsulated = UID(tsyntax).is_encapsulated if tsyntax else False
    if encapsulated:
        if length not in (None, UNDEFINED_LENGTH):
            raise Rejected(f"pixel data is not encapsulated although transfer syntax {tsyntax} is compressed")
        return
    if length == UNDEFINED_LENGTH:
        raise Rejected(
            f"pixel data is encapsulated but transfer syntax {tsyntax or '(none)'} is uncompressed"
        )
    if _text(ds, "PhotometricInterpretation", 32) == "YBR_FULL_422":
        samples = 2  # chroma shared by two pixels: Y Y Cb Cr per pair, i.e. two samples per pixel
    expected = expected_pixel_bytes(rows, columns, samples, bits, frames)  # type: ignore[arg-type]
    value_tell = getattr(elem, "value_tell", None)
    if (
        isinstance(elem, RawDataElement)
        and value_tell is not None
        and tsyntax != DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    ):
        # Declared length, capped by what the file really holds after the value's offset.
        actual = min(length or 0, max(0, file_size - value_tell))
    else:
        # Deflated files: offsets refer to the inflated stream, so count the bytes read instead.
        actual = len(ds.PixelData or b"")
    if actual < expected:
        raise Rejected(
            f"truncated or inconsistent pixel data: {actual} bytes present, {expected} expected for "
            f"{rows}x{columns} pixels x {samples} sample(s) x {bits} bits x {frames} frame(s)"
        )


def parse_instance(path: Path, inflation: InflationLimit | None = None) -> ParsedInstance:
    """Read one file's header and check it can be stored as a CT image; raise ``Rejected`` if not."""
    file_size = path.stat().st_size
    try:
        _check_inflation(path, file_size, inflation or InflationLimit())
        ds, warn = _read(path)
    except Rejected:
        raise
    except InvalidDicomError:
        raise Rejected("not a DICOM file: no 'DICM' marker after the 128-byte preamble") from None
    except (EOFError, OSError) as e:
        raise Rejected(f"unreadable DICOM: the file ends early or cannot be read ({e})") from None
    except Exception as e:  # pydicom raises many types on corrupt headers; all mean "unreadable"
        raise Rejected(f"unreadable DICOM header ({type(e).__name__}: {str(e)[:200]})") from None

    try:
        return _parse(ds, path, file_size, warn)
    except Rejected:
        raise
    except Exception as e:  # a value that cannot be decoded is a property of the file, not a crash
        raise Rejected(f"unreadable DICOM element ({type(e).__name__}: {str(e)[:200]})") from None


def _parse(ds: Dataset, path: Path, file_size: int, warn: list[str]) -> ParsedInstance:
    meta = getattr(ds, "file_meta", None) or Dataset()
    media_class = _text(meta, "MediaStorageSOPClassUID", 64)
    if media_class == MEDIA_STORAGE_DIRECTORY:
        raise Rejected("DICOMDIR index file, not an image: upload the image files it lists instead")
    modality = _text(ds, "Modality", 16).upper()
    if "PixelData" not in ds and modality and modality != "CT":
        raise Rejected(f"modality {modality}, not CT: only CT images are accepted")
    tsyntax = _text(meta, "TransferSyntaxUID", 64)
    _check_pixel_data(ds, path, file_size, tsyntax, warn)
    if not modality:
        raise Rejected("missing Modality: cannot tell whether this is a CT image")
    if modality != "CT":
        raise Rejected(f"modality {modality}, not CT: only CT images are accepted")
    sop_class = _text(ds, "SOPClassUID", 64) or media_class
    if sop_class not in CT_SOP_CLASSES:
        name = UID(sop_class).name if sop_class else "(missing)"
        raise Rejected(f"SOP class {name} is not a CT image; accepted: {', '.join(CT_SOP_CLASSES.values())}")
    patient_id = _text(ds, "PatientID", 64)
    if not patient_id:
        raise Rejected("missing PatientID: every stored study must belong to a patient")
    return ParsedInstance(
        sop_instance_uid=_uid(ds, "SOPInstanceUID", "SOP Instance UID"),
        sop_class_uid=sop_class,
        study_instance_uid=_uid(ds, "StudyInstanceUID", "Study Instance UID"),
        series_instance_uid=_uid(ds, "SeriesInstanceUID", "Series Instance UID"),
        patient_id=patient_id,
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID", 64),
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=_date(ds, "PatientBirthDate"),
        patient_sex=_text(ds, "PatientSex", 16),
        modality=modality,
        study_date=_date(ds, "StudyDate"),
        study_description=_text(ds, "StudyDescription"),
        accession_number=_text(ds, "AccessionNumber", 64),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        body_part_examined=_text(ds, "BodyPartExamined", 64),
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows") or 0,
        columns=_int(ds, "Columns") or 0,
        number_of_frames=_int(ds, "NumberOfFrames") or 1,
        transfer_syntax_uid=tsyntax,
    )
