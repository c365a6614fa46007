"""DICOMweb STOW-RS (PS3.18 10.5): ``POST /dicomweb/studies[/{study}]?cohort=<id>``.

The body is ``multipart/related; type="application/dicom"``, one DICOM instance per part. It is
streamed to temporary files part by part (with the upload size limits) and handed to the same
ingest as a browser upload into that cohort, so the rules are the same: CT only, de-duplication
by SOPInstanceUID, all or nothing. The answer is the Store Instances Response as DICOM JSON:
ReferencedSOPSequence (stored and duplicates) and FailedSOPSequence with a FailureReason code and
the ingest's reason in words (Error Comment, 0000,0902).

Statuses: 200 every instance stored; 202 some failed; 409 none stored; 400 a body that is not
a readable multipart/related message (nothing stored), 415 parts other than application/dicom
announced in the Content-Type, 413 over the request size limit; 401/403/404 as the rest of the API.

Signed in with a session (a page's script) rather than a token, the CSRF token comes in the
``X-CSRFToken`` header: the body is DICOM and cannot carry one, and is never parsed for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pydicom
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from knox.auth import TokenAuthentication
from rest_framework import exceptions
from rest_framework.authentication import CSRFCheck, SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from webapp.cohorts import services as cohort_services
from webapp.cohorts.models import Cohort
from webapp.cohorts.selectors import visible_cohorts
from webapp.core.errors import STORAGE_FULL_MESSAGE, StorageFull, UploadTooLarge, is_storage_full
from webapp.studies.failures import (
    DOES_NOT_MATCH,
    failure_reason,
)
from webapp.studies.ingest import ACCEPTED, DUPLICATE, FileVerdict
from webapp.studies.uploads import DiskUploadedFile, format_bytes

DICOM_JSON = "application/dicom+json"
_CHUNK = 1 << 20
_MAX_HEADER_BYTES = 16 * 1024

_TAG = {
    "error_comment": ("00000902", "LO"),
    "referenced_sop_class": ("00081150", "UI"),
    "referenced_sop_instance": ("00081155", "UI"),
    "retrieve_url": ("00081190", "UR"),
    "failure_reason": ("00081197", "US"),
    "failed_sops": ("00081198", "SQ"),
    "referenced_sops": ("00081199", "SQ"),
}


class MalformedBody(Exception):
    """The request body is not a readable multipart/related message."""


class UnsupportedParts(Exception):
    """The Content-Type announces parts this server does not take."""


# --- the multipart/related body ------------------------------------------------------------------
def _params(content_type: str) -> tuple[str, dict[str, str]]:
    media, *rest = [p.strip() for p in content_type.split(";")]
    params = {}
    for p in rest:
        key, _, value = p.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return media.lower(), params


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/related; type="application/dicom"`` body."""
    media, params = _params(content_type)
    if media != "multipart/related":
        raise MalformedBody(
            f'Content-Type is {media or "missing"}; STOW-RS takes multipart/related; type="application/dicom"'
        )
    part_type = params.get("type", "application/dicom").lower()
    if part_type != "application/dicom":
        raise UnsupportedParts(
            f"parts of type {part_type} are not accepted here: send whole DICOM instances as application/dicom"
        )
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise MalformedBody("the multipart/related Content-Type has no boundary parameter")
    return boundary.encode("latin-1")


@dataclass
class Part:
    number: int
    content_type: str
    file: DiskUploadedFile


class _Reader:
    """A byte source with a look-ahead buffer, counting what it read against the request limit."""

    def __init__(self, read: Callable[[int], bytes], limit: int) -> None:
        self._read = read
        self.buffer = b""
        self.total = 0
        self.limit = limit
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self._read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.total += len(chunk)
        if self.total > self.limit:
            raise UploadTooLarge(
                f"upload larger than the {format_bytes(self.limit)} limit per request: "
                "send the instances in several smaller requests"
            )
        self.buffer += chunk
        return True


def iter_parts(read: Callable[[int], bytes], boundary: bytes) -> Iterator[Part]:
    """Stream the parts of a multipart/related body (RFC 2046) to temporary files, one at a time."""
    reader = _Reader(read, settings.INGEST_MAX_REQUEST_BYTES)
    delimiter = b"\r\n--" + boundary
    reader.buffer = b"\r\n"  # so the opening delimiter looks like every other one
    # Skip the preamble up to the first delimiter.
    while (start := reader.buffer.find(delimiter)) < 0:
        if not reader.fill():
            raise MalformedBody("the body holds no part: the boundary from the Content-Type never appears")
        reader.buffer = reader.buffer[-len(delimiter) - _CHUNK :]
    reader.buffer = reader.buffer[start + len(delimiter) :]
    number = 0
    while True:
        while len(reader.buffer) < 2 and reader.fill():
            pass
        if reader.buffer.startswith(b"--"):
            if number == 0:
                raise MalformedBody("the body holds no part, only the closing boundary")
            return  # the close delimiter; an epilogue is ignored
        # Transport padding, then CRLF, then the part's headers up to an empty line.
        while (end := reader.buffer.find(b"\r\n\r\n")) < 0:
            if len(reader.buffer) > _MAX_HEADER_BYTES or not reader.fill():
                raise MalformedBody(f"part {number + 1}: its headers do not end (truncated or not multipart)")
        number += 1
        headers = _headers(reader.buffer[:end], number)
        reader.buffer = reader.buffer[end + 4 :]
        content_type = headers.get("content-type", "application/dicom")
        upload = DiskUploadedFile(f"part-{number}", content_type, None)
        size = 0
        oversize = False
        try:
            while True:
                found = reader.buffer.find(delimiter)
                if found >= 0:
                    data, reader.buffer = reader.buffer[:found], reader.buffer[found + len(delimiter) :]
                else:
                    # Hold back a tail that may be the start of the delimiter.
                    cut = max(len(reader.buffer) - (len(delimiter) - 1), 0)
                    data, reader.buffer = reader.buffer[:cut], reader.buffer[cut:]
                size += len(data)
                if size > settings.INGEST_MAX_FILE_BYTES:
                    oversize = True
                elif data:
                    upload.write_chunk(data)
                if found >= 0:
                    break
                if not reader.fill():
                    raise MalformedBody(
                        f"part {number}: the body ends before the closing boundary (truncated upload)"
                    )
            upload.finish(size)
            if oversize:
                upload.rejected_reason = (
                    f"instance of {format_bytes(size)} is over the "
                    f"{format_bytes(settings.INGEST_MAX_FILE_BYTES)} limit per file"
                )
        except BaseException:
            upload.close()
            raise
        yield Part(number, content_type.split(";")[0].strip().lower(), upload)


def _headers(block: bytes, number: int) -> dict[str, str]:
    lines = block.split(b"\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue  # the CRLF after the delimiter (and any padding)
        name, sep, value = line.partition(b":")
        if not sep:
            raise MalformedBody(f"part {number}: a header line without a colon ({line[:40]!r})")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return headers


# --- the response ------------------------------------------------------------------------------------
def _attr(tag: str, value: Any) -> dict[str, Any]:
    code, vr = _TAG[tag]
    if value in (None, ""):
        return {code: {"vr": vr}}
    if vr == "SQ":
        return {code: {"vr": vr, "Value": value}}
    return {code: {"vr": vr, "Value": [value]}}


@dataclass
class _Sop:
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""


@dataclass
class StowOutcome:
    referenced: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> int:
        if not self.failed:
            return 200
        return 202 if self.referenced else 409

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.failed:
            body |= _attr("failed_sops", self.failed)
        if self.referenced:
            body |= _attr("referenced_sops", self.referenced)
        return body


def _failed(sop: _Sop, code: int, reason: str) -> dict[str, Any]:
    return (
        _attr("referenced_sop_class", sop.sop_class_uid)
        | _attr("referenced_sop_instance", sop.sop_instance_uid)
        | _attr("failure_reason", code)
        | _attr("error_comment", reason)
    )


def _instance_url(request: HttpRequest, verdict: FileVerdict) -> str:
    try:
        url = reverse(
            "dicomweb:instance",
            args=[verdict.study_instance_uid, verdict.series_instance_uid, verdict.sop_instance_uid],
        )
    except NoReverseMatch:
        return ""
    return request.build_absolute_uri(url)


def _peek(path: str) -> _Sop:
    """The UIDs of a part, read from its header only (empty when it is not readable DICOM)."""
    try:
        ds = pydicom.dcmread(
            path,
            stop_before_pixels=True,
            specific_tags=["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"],
        )
        return _Sop(
            str(ds.get("SOPClassUID", "") or ""),
            str(ds.get("SOPInstanceUID", "") or ""),
            str(ds.get("StudyInstanceUID", "") or ""),
        )
    except Exception:  # any unreadable part: the ingest gives it its verdict and reason
        return _Sop()


# --- the view --------------------------------------------------------------------------------------
class UploadsStudies(BasePermission):
    message = "Your role does not allow uploading studies."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_active
            and user.has_perms(("cohorts.view_cohort", "cohorts.upload_studies"))
        )


def _error(status: int, reason: str) -> HttpResponse:
    """A request-level failure as a DICOM JSON dataset with the reason in Error Comment."""
    body = _attr("error_comment", reason) | _attr("failed_sops", [])
    response = HttpResponse(json.dumps(body), status=status, content_type=DICOM_JSON)
    response["Cache-Control"] = "no-store"
    return response


class _AnswerInDicomJson(BaseContentNegotiation):
    """Every answer is application/dicom+json, whatever the client's Accept says."""

    def select_parser(self, request: Request, parsers: list) -> None:
        return None  # the body is read as a stream, never by DRF

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class _HeaderCsrfSessionAuthentication(SessionAuthentication):
    """DRF's session authentication checks CSRF through the DRF request, whose form data it
    parses first, and a multipart/related body has no parser (415). Check Django's own request
    instead: for this content type Django reads no body, and the token is taken from the header."""

    def enforce_csrf(self, request: Request) -> None:
        check = CSRFCheck(lambda _: None)  # DRF's: answers the reason instead of a page
        check.process_request(request._request)
        reason = check.process_view(request._request, None, (), {})
        if reason:
            raise exceptions.PermissionDenied(f"CSRF Failed: {reason} (send the X-CSRFToken header)")


class StowView(APIView):
    """STOW-RS into the cohort named by ``?cohort=<id>``."""

    authentication_classes = [TokenAuthentication, _HeaderCsrfSessionAuthentication]
    permission_classes = [UploadsStudies]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _AnswerInDicomJson
    schema = None  # a standard API (PS3.18), documented there and in the README

    def handle_exception(self, exc: Exception) -> HttpResponse:
        """401/403/404 in DICOM JSON too, with the reason as Error Comment."""
        response = super().handle_exception(exc)
        data = getattr(response, "data", None)
        detail = data.get("detail", data) if isinstance(data, dict) else data
        answer = _error(response.status_code, str(detail or response.reason_phrase))
        if response.has_header("WWW-Authenticate"):
            answer["WWW-Authenticate"] = response["WWW-Authenticate"]
        return answer

    def post(self, request: Request, study: str | None = None) -> HttpResponse:
        raw = request.query_params.get("cohort", "")
        if not raw.isdigit():
            return _error(400, "name the cohort to store into: ?cohort=<cohort id> (see GET /api/cohorts/)")
        try:
            cohort = visible_cohorts(request.user).get(pk=int(raw))
        except Cohort.DoesNotExist:
            raise exceptions.NotFound("no such cohort among yours") from None
        try:
            boundary = boundary_of(request.META.get("CONTENT_TYPE", ""))
            parts = list(iter_parts(request._request.read, boundary))
        except MalformedBody as e:
            return _error(400, f"malformed multipart/related body: {e}; nothing was stored")
        except UnsupportedParts as e:
            return _error(415, str(e))
        except UploadTooLarge as e:
            return _error(413, f"{e}; nothing was stored")
        except OSError as e:  # the parts are streamed to disk here
            if not is_storage_full(e):
                raise
            return _error(507, STORAGE_FULL_MESSAGE)
        try:
            return self._store(request, cohort, parts, study)
        except StorageFull:
            return _error(507, STORAGE_FULL_MESSAGE)
        finally:
            for part in parts:
                part.file.close()

    def _store(self, request: Request, cohort: Cohort, parts: list[Part], study: str | None) -> HttpResponse:
        outcome = StowOutcome()
        peeked = {part.file.name: _peek(part.file.temporary_file_path()) for part in parts}
        for part in parts:
            sop = peeked[part.file.name]
            if part.content_type != "application/dicom":
                part.file.rejected_reason = f"part {part.number} is {part.content_type}, not application/dicom: send whole DICOM instances"
            elif study is not None and sop.study_instance_uid and sop.study_instance_uid != study:
                part.file.rejected_reason = (
                    f"StudyInstanceUID {sop.study_instance_uid} is not the study in the URL ({study}): "
                    "post it to /dicomweb/studies or to its own study"
                )
        result = cohort_services.upload_to_cohort(request.user, cohort, [p.file for p in parts])
        for verdict in result.files:
            part_name = verdict.name.split("/", 1)[0]
            sop = peeked.get(part_name, _Sop())
            if verdict.sop_instance_uid:
                sop = _Sop(sop.sop_class_uid, verdict.sop_instance_uid, verdict.study_instance_uid)
            if verdict.verdict in (ACCEPTED, DUPLICATE):
                item = _attr("referenced_sop_class", sop.sop_class_uid) | _attr(
                    "referenced_sop_instance", verdict.sop_instance_uid
                )
                url = _instance_url(request, verdict)
                if url:
                    item |= _attr("retrieve_url", url)
                outcome.referenced.append(item)
            else:
                code = (
                    DOES_NOT_MATCH
                    if "is not the study in the URL" in verdict.reason
                    else failure_reason(verdict.reason, bool(sop.sop_instance_uid))
                )
                outcome.failed.append(_failed(sop, code, f"{verdict.name}: {verdict.reason}"))
        response = HttpResponse(json.dumps(outcome.json()), status=outcome.status, content_type=DICOM_JSON)
        response["Cache-Control"] = "no-store"
        return response
