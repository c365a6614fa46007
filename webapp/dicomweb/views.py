"""DICOMweb endpoints (PS3.18): QIDO-RS search and WADO-RS retrieve of the studies a user sees.

Thin: parse the request, call the service, answer in the DICOMweb media types. Session and
token authentication both work (the viewer uses the session; OHIF-like clients a token).
Anonymous requests are 401, other cohorts' studies 404, a role without study access 403.
"""

from __future__ import annotations

import itertools
import logging
import re

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import parse_etags
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from webapp.core.sendfile import file_response
from webapp.dicomweb import compressed, dicomjson, files, http, query, services

log = logging.getLogger(__name__)

_READ = ("studies.view_study", "studies.view_series", "studies.view_instance")
_FRAME_LIST = re.compile(r"^[0-9]+(,[0-9]+)*$")
_CHUNK = 1 << 20


class ReadsStudyImages(BasePermission):
    message = "Your role does not allow reading study images."

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.has_perms(_READ))


class _ViewNegotiates(BaseContentNegotiation):
    """Each view negotiates its own DICOMweb media types; DRF only renders errors (as JSON)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class NotAcceptable(exceptions.NotAcceptable):
    pass


class StoredFileUnreadable(exceptions.APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = "a stored file of this study cannot be read; an administrator has to check storage"
    default_code = "stored_file_unreadable"


class DicomWebView(APIView):
    permission_classes = [ReadsStudyImages]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _ViewNegotiates
    schema = None  # a standard API (PS3.18), documented there and in the README, not in our OpenAPI

    def handle_exception(self, exc: Exception):
        if isinstance(exc, services.NotFound):
            exc = exceptions.NotFound("No such study, series or instance among the studies you can see.")
        elif isinstance(exc, query.QueryError):
            exc = exceptions.ParseError(str(exc))
        elif isinstance(exc, files.UnreadableInstance | SuspiciousFileOperation):
            log.error("DICOMweb: stored file unreadable: %s", exc)
            exc = StoredFileUnreadable()
        return super().handle_exception(exc)

    def require_json(self, request: HttpRequest) -> None:
        if not http.accepts_json(request):
            raise NotAcceptable("This resource is served as application/dicom+json.")

    def url(self, request: HttpRequest, name: str, *args: str) -> str:
        return request.build_absolute_uri(reverse(f"dicomweb:{name}", args=args))


# --- QIDO-RS ---------------------------------------------------------------------------------
class StudySearchView(DicomWebView):
    def get(self, request: Request) -> HttpResponse:
        self.require_json(request)
        q = query.parse(request.query_params, query.STUDY_FIELDS, max_results=settings.DICOMWEB_MAX_RESULTS)
        page = services.search_studies(request.user, q)
        modalities = services.modalities_by_study([s.pk for s in page.rows])
        body = [
            dicomjson.study_json(
                s, modalities.get(s.pk, []), self.url(request, "study", s.study_instance_uid)
            )
            for s in page.rows
        ]
        return http.dicom_json(body, q.warnings + _included(request, body) + _more_warning(page))


class SeriesSearchView(DicomWebView):
    def get(self, request: Request, study: str | None = None) -> HttpResponse:
        self.require_json(request)
        fields = query.SERIES_FIELDS if study else (query.STUDY_OF, *query.SERIES_FIELDS)
        q = query.parse(request.query_params, fields, max_results=settings.DICOMWEB_MAX_RESULTS)
        page = services.search_series(request.user, study, q)
        body = [
            dicomjson.series_json(
                s.study,
                s,
                self.url(request, "series-retrieve", s.study.study_instance_uid, s.series_instance_uid),
            )
            for s in page.rows
        ]
        return http.dicom_json(body, q.warnings + _included(request, body) + _more_warning(page))


class InstanceSearchView(DicomWebView):
    def get(self, request: Request, study: str | None = None, series: str | None = None) -> HttpResponse:
        self.require_json(request)
        fields = query.INSTANCE_FIELDS
        if study is None:
            fields = (query.STUDY_OF, query.SERIES_OF, *fields)
        elif series is None:
            fields = (query.SERIES_OF, *fields)
        q = query.parse(request.query_params, fields, max_results=settings.DICOMWEB_MAX_RESULTS)
        page = services.search_instances(request.user, study, series, q)
        body = [
            dicomjson.instance_json(
                i.series.study,
                i,
                self.url(
                    request,
                    "instance",
                    i.series.study.study_instance_uid,
                    i.series.series_instance_uid,
                    i.sop_instance_uid,
                ),
                files.SERVED_TRANSFER_SYNTAX,
            )
            for i in page.rows
        ]
        return http.dicom_json(body, q.warnings + _included(request, body) + _more_warning(page))


def _included(request: Request, body: list) -> list[str]:
    return query.includefield_warnings(request.query_params, set(body[0]) if body else set()) if body else []


def _more_warning(page: services.Page) -> list[str]:
    if not page.more:
        return []
    return [
        "The number of results exceeded the maximum supported by the server. "
        "Additional results can be requested with offset."
    ]


# --- WADO-RS ---------------------------------------------------------------------------------
class MetadataView(DicomWebView):
    """Study, series or instance metadata: every attribute except pixel data and bulk data."""

    def get(
        self, request: Request, study: str, series: str | None = None, sop: str | None = None
    ) -> HttpResponse:
        self.require_json(request)
        return http.dicom_json(services.retrieve_metadata(request.user, study, series, sop))


class InstanceView(DicomWebView):
    """The stored instance: ``application/dicom``, or one part of ``multipart/related``."""

    def get(self, request: Request, study: str, series: str, sop: str) -> HttpResponse:
        multipart = http.multipart_part_accepted(request, http.DICOM)
        if not multipart and not http.single_part_accepted(request, http.DICOM) and not _anything(request):
            raise NotAcceptable(
                'Instances are served as application/dicom or multipart/related; type="application/dicom".'
            )
        instance = services.retrieve_instance(request.user, study, series, sop)
        path = instance.absolute_path
        if not path.is_file():
            raise files.UnreadableInstance(f"{instance.file_path} is missing from storage")
        if multipart:
            boundary = _boundary(instance)
            head, tail = http.single_part_envelope(http.DICOM, boundary)
            response = StreamingHttpResponse(
                _file_between(head, path, tail),
                content_type=http.multipart_content_type(http.DICOM, boundary),
            )
            response["Content-Length"] = str(len(head) + path.stat().st_size + len(tail))
        else:
            response = file_response(path, http.DICOM)
            response["Content-Disposition"] = f'attachment; filename="{instance.sop_instance_uid}.dcm"'
        response["Cache-Control"] = "private, no-store"
        return response


def _boundary(instance) -> str:
    # Derived from the file's hash: the same bytes for the same resource (a strong ETag holds).
    return f"fusionscreen-{instance.sha256[:32]}"


def _anything(request: HttpRequest) -> bool:
    return any(r.type in {"*/*", "application/*"} for r in http.accepted(request))


def _file_between(head: bytes, path, tail: bytes):
    yield head
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk
    yield tail


class FramesView(DicomWebView):
    """Frames as uncompressed little-endian pixel bytes, one part each; or, when the client asks
    for the stored compressed syntax by its media type, the stored bitstreams (compressed.py).

    Not audited per frame (the metadata retrieval before them is). Cacheable privately: a
    SOP instance never changes, and the ETag lets a client revalidate (access is re-checked).
    """

    def get(self, request: Request, study: str, series: str, sop: str, frames: str) -> HttpResponse:
        instance = services.instance_for_frames(request.user, study, series, sop)
        stored_media = compressed.MEDIA_TYPES.get(instance.transfer_syntax_uid)
        as_stored = stored_media is not None and http.multipart_part_accepted(
            request, stored_media, instance.transfer_syntax_uid
        )
        ts = instance.transfer_syntax_uid if as_stored else files.SERVED_TRANSFER_SYNTAX
        part_type = stored_media if as_stored else http.OCTET_STREAM
        multipart = (
            as_stored or http.multipart_part_accepted(request, http.OCTET_STREAM, ts) or _anything(request)
        )
        if not multipart and not http.single_part_accepted(request, http.OCTET_STREAM):
            raise NotAcceptable(
                f'Frames are served as multipart/related; type="application/octet-stream"; transfer-syntax={ts}.'
            )
        if not _FRAME_LIST.match(frames):
            raise exceptions.ParseError(
                "frames must be a comma-separated list of frame numbers, e.g. 1 or 1,2,3"
            )
        numbers = [int(n) for n in frames.split(",")]
        if len(set(numbers)) != len(numbers):
            raise exceptions.ParseError("each frame number may appear once in a request")
        if len(numbers) > settings.DICOMWEB_MAX_FRAMES_PER_REQUEST:
            raise exceptions.ParseError(
                f"at most {settings.DICOMWEB_MAX_FRAMES_PER_REQUEST} frames per request; ask for the rest in another"
            )
        if any(n < 1 or n > instance.number_of_frames for n in numbers):
            raise exceptions.NotFound(
                f"This instance has {instance.number_of_frames} frame(s), numbered from 1."
            )
        if not multipart and len(numbers) > 1:
            raise NotAcceptable(
                "Several frames need multipart/related; ask for one frame or accept multipart."
            )
        etag = f'"{instance.sha256[:40]}-{"c" if as_stored else "m" if multipart else "s"}-{frames}"'
        headers = {
            "ETag": etag,
            "Cache-Control": f"private, max-age={settings.DICOMWEB_FRAME_MAX_AGE}",
            "Vary": "Accept, Authorization, Cookie",
        }
        if etag in parse_etags(request.headers.get("If-None-Match", "")):
            response = HttpResponse(status=304)
        else:
            if not instance.absolute_path.is_file():
                raise files.UnreadableInstance(f"{instance.file_path} is missing from storage")
            read = compressed.iter_stored_frames if as_stored else files.iter_frames
            pixels = read(instance.absolute_path, numbers)
            first = next(pixels)  # reads the header and checks the frames' extent: errors answer here
            if multipart:
                boundary = _boundary(instance)
                # streamed frame by frame: a long frame list is never built in memory
                response = StreamingHttpResponse(
                    http.multipart_stream(
                        itertools.chain([first], pixels),
                        f"{part_type}; transfer-syntax={ts}",
                        boundary,
                    ),
                    content_type=http.multipart_content_type(part_type, boundary),
                )
            else:
                response = HttpResponse(first, content_type=f"{http.OCTET_STREAM}; transfer-syntax={ts}")
        for name, value in headers.items():
            response[name] = value
        return response
