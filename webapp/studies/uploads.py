"""Upload streaming with limits: every uploaded part goes to a temporary file in chunks.

A request over ``INGEST_MAX_REQUEST_BYTES`` is refused as a whole (``UploadTooLarge``, answered
413); a single part over ``INGEST_MAX_FILE_BYTES`` is kept as a stub flagged with the reason, so
it gets its own "rejected" verdict while the other parts are still ingested.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import weakref

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from webapp.core.errors import UploadTooLarge


def format_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


def _request_limit_message(limit: int) -> str:
    return (
        f"upload larger than the {format_bytes(limit)} limit per request: "
        "send the files in several smaller uploads"
    )


class DiskUploadedFile(UploadedFile):
    """An uploaded part streamed to a temporary file that is opened only while it is read.

    Django's TemporaryUploadedFile holds a descriptor per part for the whole request, so a
    browser folder upload of a thousand slices would run out of file descriptors.
    """

    def __init__(self, name: str, content_type: str, charset: str | None, content_type_extra=None) -> None:
        fd, self.path = tempfile.mkstemp(suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR)
        self._writer = os.fdopen(fd, "wb")
        self._handle = None
        super().__init__(None, name, content_type, 0, charset, content_type_extra)
        self.rejected_reason = ""
        # Removed with the request (close) or, failing that, when garbage collected.
        self._finalizer = weakref.finalize(self, _unlink, self.path)

    @property
    def file(self):  # type: ignore[override]
        if self._handle is None:
            self._handle = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        return self._handle

    @file.setter
    def file(self, value) -> None:
        self._handle = value

    def write_chunk(self, data: bytes) -> None:
        self._writer.write(data)

    def discard_data(self) -> None:
        self._writer.truncate(0)

    def finish(self, size: int) -> None:
        self._writer.close()
        self.size = size

    def temporary_file_path(self) -> str:
        return self.path

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if not self._writer.closed:
            self._writer.close()
        self._finalizer()


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class LimitedTemporaryFileUploadHandler(FileUploadHandler):
    """Streams every part to disk in 1 MiB chunks, enforcing the request and per-part limits."""

    chunk_size = 1024 * 1024

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        self.request_bytes = 0
        if content_length and content_length > settings.INGEST_MAX_REQUEST_BYTES:
            raise UploadTooLarge(_request_limit_message(settings.INGEST_MAX_REQUEST_BYTES))
        return None

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.file = DiskUploadedFile(self.file_name, self.content_type, self.charset, self.content_type_extra)
        self.file_bytes = 0
        self.oversize = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        # Counted here as well: a chunked request has no Content-Length to check up front.
        self.request_bytes = getattr(self, "request_bytes", 0) + len(raw_data)
        if self.request_bytes > settings.INGEST_MAX_REQUEST_BYTES:
            raise UploadTooLarge(_request_limit_message(settings.INGEST_MAX_REQUEST_BYTES))
        self.file_bytes += len(raw_data)
        if self.file_bytes > settings.INGEST_MAX_FILE_BYTES:
            if not self.oversize:
                self.oversize = True
                self.file.discard_data()  # keep nothing of an oversize part on disk
            return None
        self.file.write_chunk(raw_data)
        return None

    def file_complete(self, file_size: int) -> UploadedFile:
        self.file.finish(file_size)
        if self.oversize:
            self.file.rejected_reason = (
                f"file of {format_bytes(self.file_bytes)} is over the "
                f"{format_bytes(settings.INGEST_MAX_FILE_BYTES)} limit per uploaded file: split the archive"
            )
        return self.file

    def upload_interrupted(self) -> None:
        if hasattr(self, "file"):
            self.file.close()
