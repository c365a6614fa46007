"""Errors that services raise and every entry point (API, pages, DICOMweb) answers the same way,
and the small checks services share."""

from __future__ import annotations

import errno

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError


class Conflict(Exception):
    """The action does not fit the object's current state (answered 409)."""


class UploadTooLarge(Exception):
    """The request body is over the configured total upload size (answered 413)."""


class StorageFull(Exception):
    """The disk filled up while an upload was staged or stored; nothing of it was kept (507)."""


STORAGE_FULL_MESSAGE = (
    "the server's storage is full: nothing of this upload was stored (studies stored before are "
    "untouched); ask an administrator to free space, then upload again"
)


def is_storage_full(exc: BaseException) -> bool:
    return isinstance(exc, StorageFull) or (
        isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    )


def require(user: AbstractBaseUser | None, perm: str, what: str) -> None:
    """Refuse (403) a user whose role lacks ``perm``; ``None`` is the system acting (workers)."""
    if user is not None and not user.has_perm(perm):
        raise PermissionDenied(f"your role does not allow you to {what}")


def form_errors(e: ValidationError) -> str:
    """A service's ValidationError as one line for a page's message."""
    if hasattr(e, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in e.message_dict.items())
    return " ".join(e.messages)
