"""Domain exceptions raised by services, answered as HTTP errors with a message a client can act on."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from webapp.core.errors import STORAGE_FULL_MESSAGE, Conflict, UploadTooLarge, is_storage_full


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "the object is not in a state that allows this"
    default_code = "conflict"


class InsufficientStorage(exceptions.APIException):
    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_detail = STORAGE_FULL_MESSAGE
    default_code = "storage_full"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "upload too large"
    default_code = "too_large"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, UploadTooLarge):
        exc = PayloadTooLarge(str(exc))
    elif is_storage_full(exc):  # while staging or storing, or while Django wrote the upload's parts
        exc = InsufficientStorage()
    elif isinstance(exc, Conflict):
        exc = ConflictError(str(exc))
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    return drf_exception_handler(exc, context)
