"""HTTP details of DICOMweb: Accept negotiation, multipart/related bodies, DICOM JSON responses."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

DICOM_JSON = "application/dicom+json"
OCTET_STREAM = "application/octet-stream"
DICOM = "application/dicom"


@dataclass(frozen=True)
class MediaRange:
    type: str  # "multipart/related", "*/*", ...
    params: dict[str, str]

    def matches(self, media_type: str) -> bool:
        major, _, minor = media_type.partition("/")
        want_major, _, want_minor = self.type.partition("/")
        return want_major in {"*", major} and want_minor in {"*", minor}


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def accepted(request: HttpRequest) -> list[MediaRange]:
    """The Accept header's media ranges in order (no header: anything); q=0 ranges are dropped."""
    header = request.headers.get("Accept", "").strip() or "*/*"
    ranges = []
    for item in _split_outside_quotes(header, ","):
        media, *raw_params = _split_outside_quotes(item, ";")
        params = {}
        for p in raw_params:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        if params.get("q", "1").strip() in {"0", "0.0", "0.00", "0.000"}:
            continue
        ranges.append(MediaRange(media.strip().lower(), params))
    return ranges


def accepts_json(request: HttpRequest) -> bool:
    return any(r.matches(DICOM_JSON) or r.matches("application/json") for r in accepted(request))


def multipart_part_accepted(request: HttpRequest, part_type: str, transfer_syntax: str | None = None) -> bool:
    """Whether ``multipart/related; type=part_type`` (with this transfer syntax) is acceptable."""
    for r in accepted(request):
        if not r.matches("multipart/related"):
            continue
        wanted_type = r.params.get("type", part_type if r.type == "multipart/related" else "*/*").lower()
        if not MediaRange(wanted_type, {}).matches(part_type):
            continue
        wanted_ts = r.params.get("transfer-syntax", "*")
        if transfer_syntax is None or wanted_ts in {"*", transfer_syntax}:
            return True
    return False


def single_part_accepted(request: HttpRequest, media_type: str) -> bool:
    return any(r.type != "*/*" and r.matches(media_type) for r in accepted(request))


def dicom_json(data: object, warnings: Iterable[str] = ()) -> HttpResponse:
    """A DICOM JSON answer. Patient data: never stored by browsers or shared caches."""
    response = HttpResponse(json.dumps(data, separators=(",", ":")), content_type=DICOM_JSON)
    response["Cache-Control"] = "private, no-store"
    warnings = list(warnings)
    if warnings:
        # PS3.18 8.3.4.x: warnings go in HTTP Warning headers, code 299.
        response["Warning"] = ", ".join(f'299 FusionScreen: "{w}"' for w in warnings)
    return response


def multipart_stream(parts: Iterable[bytes], part_content_type: str, boundary: str) -> Iterator[bytes]:
    """A multipart/related body, part by part, for a streamed response."""
    head = f"--{boundary}\r\nContent-Type: {part_content_type}\r\n\r\n".encode("ascii")
    for part in parts:
        yield head + part + b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")


def multipart_body(parts: Iterable[bytes], part_content_type: str, boundary: str) -> bytes:
    return b"".join(multipart_stream(parts, part_content_type, boundary))


def single_part_envelope(part_content_type: str, boundary: str) -> tuple[bytes, bytes]:
    """What goes before and after the one part of a multipart body streamed from a file."""
    head = f"--{boundary}\r\nContent-Type: {part_content_type}\r\n\r\n".encode("ascii")
    return head, f"\r\n--{boundary}--\r\n".encode("ascii")


def multipart_content_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'
