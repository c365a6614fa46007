"""Upload streaming with limits: every uploaded part goes to a temporary file in chunks.

A request over ``INGEST_MAX_REQUEST_BYTES`` is refused as a whole (``UploadTooLarge``, answered
413); a single part over ``INGEST_MAX_FILE_BYTES`` is kept as a stub flagged with the reason, so
it gets its own "rejected" verdict while the other parts are still ingested.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler


class UploadTooLarge(Exception):
    """The request body is over the configured total upload size."""


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


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    chunk_size = 1024 * 1024

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        self.request_bytes = 0
        if content_length and content_length > settings.INGEST_MAX_REQUEST_BYTES:
            raise UploadTooLarge(_request_limit_message(settings.INGEST_MAX_REQUEST_BYTES))
        return None

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
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
                self.file.truncate(0)  # keep nothing of an oversize part on disk
            return None
        self.file.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> UploadedFile:
        uploaded = super().file_complete(file_size)
        if self.oversize:
            uploaded.rejected_reason = (
                f"file of {format_bytes(self.file_bytes)} is over the "
                f"{format_bytes(settings.INGEST_MAX_FILE_BYTES)} limit per uploaded file: split the archive"
            )
        return uploaded
