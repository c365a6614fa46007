"""Which requests may send a large body: only an authenticated user's uploads.

Django parses a multipart body wherever something reads ``request.POST`` (the CSRF check does,
before the view and before authentication), with whatever upload handlers the request has. So
this middleware decides before anything reads the body: on the upload views in
``LARGE_UPLOAD_VIEWS``, for a signed-in session or a valid API token, parts stream to disk with
the ingest limits; every other request is refused above ``REQUEST_MAX_BYTES`` (413) and what it
sends stays in memory, so no anonymous request writes a byte to the disk.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from webapp.studies.uploads import LimitedTemporaryFileUploadHandler, format_bytes

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def _is_upload_view(request: HttpRequest) -> bool:
    try:
        return resolve(request.path_info).view_name in settings.LARGE_UPLOAD_VIEWS
    except Resolver404:
        return False


def _authenticated(request: HttpRequest) -> bool:
    if request.user.is_authenticated:
        return True
    try:
        return TokenAuthentication().authenticate(request) is not None
    except AuthenticationFailed:
        return False


class RequestBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in _BODY_METHODS:
            if _is_upload_view(request) and _authenticated(request):
                request.upload_handlers = [LimitedTemporaryFileUploadHandler(request)]
            else:
                limit = settings.REQUEST_MAX_BYTES
                if _content_length(request) > limit:
                    message = (
                        f"request body larger than {format_bytes(limit)}: only a signed-in user's "
                        "uploads may be larger"
                    )
                    return JsonResponse({"detail": message}, status=413)
                request.upload_handlers = [MemoryFileUploadHandler(request)]
        return self.get_response(request)
