"""Copying uploads into a private staging folder: single files as they are, zip archives entry by
entry, with every archive safety rule applied before and during extraction.

Nothing here touches the database; ``ingest`` decides what is stored. Staged files are named
by a counter, never by a name taken from the upload or the archive, so no entry name can reach
outside the staging folder even if a check were missed.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from django.conf import settings

from webapp.studies.uploads import format_bytes

CHUNK_BYTES = 1024 * 1024
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class UploadLike(Protocol):
    """What the ingest needs of an upload: Django's UploadedFile and File both fit (a
    ``temporary_file_path()`` method, when present, is read from instead)."""

    name: str | None

    def seek(self, pos: int, whence: int = 0) -> int: ...

    def read(self, n: int = -1) -> bytes: ...


@dataclass(frozen=True)
class Limits:
    max_instance_bytes: int
    zip_max_uncompressed_bytes: int
    zip_max_entries: int
    zip_max_ratio: float
    zip_ratio_min_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_instance_bytes=settings.INGEST_MAX_INSTANCE_BYTES,
            zip_max_uncompressed_bytes=settings.INGEST_ZIP_MAX_UNCOMPRESSED_BYTES,
            zip_max_entries=settings.INGEST_ZIP_MAX_ENTRIES,
            zip_max_ratio=settings.INGEST_ZIP_MAX_RATIO,
            zip_ratio_min_bytes=settings.INGEST_ZIP_RATIO_MIN_BYTES,
        )


@dataclass
class StagedFile:
    """One file to judge: staged on disk, or refused before it got there (``rejected`` set)."""

    name: str  # as the user knows it: "upload.dcm" or "archive.zip/dir/file.dcm"
    path: Path | None = None
    size: int = 0
    sha256: str = ""
    rejected: str = ""


class _ArchiveRefused(Exception):
    """The whole archive is refused (bomb, too many entries, lying sizes)."""


@dataclass
class Stager:
    """Stages one request's uploads; the zip expansion budget is the whole request's."""

    folder: Path
    limits: Limits
    _counter: int = field(default=0)
    _zip_bytes_left: int = field(default=-1)

    def __post_init__(self) -> None:
        self._zip_bytes_left = self.limits.zip_max_uncompressed_bytes

    def _next_path(self) -> Path:
        self._counter += 1
        return self.folder / f"{self._counter:07d}.part"

    def stage(self, upload: UploadLike) -> list[StagedFile]:
        """Stage one uploaded part: a DICOM file (one StagedFile) or a zip (one per entry)."""
        name = display_name(upload.name or "upload")
        reason = getattr(upload, "rejected_reason", "")
        if reason:
            return [StagedFile(name, rejected=reason)]
        path = getattr(upload, "temporary_file_path", None)
        if path is None:
            upload.seek(0)
            return self._stage_stream(upload, name)  # type: ignore[arg-type]
        # Opened here and closed right after, so a thousand parts never hold a thousand descriptors.
        with open(path(), "rb") as stream:
            return self._stage_stream(stream, name)

    def _stage_stream(self, stream: IO[bytes], name: str) -> list[StagedFile]:
        head = stream.read(132)
        stream.seek(0)
        # A DICOM preamble may hold anything, even "PK": the DICM marker decides first.
        if head[128:132] != b"DICM" and (_is_zip(stream) or name.lower().endswith(".zip")):
            return self._stage_zip(stream, name)
        return [self._copy(iter(lambda: stream.read(CHUNK_BYTES), b""), name)]

    def _copy(self, chunks, name: str) -> StagedFile:
        path = self._next_path()
        digest = hashlib.sha256()
        size = 0
        with path.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > self.limits.max_instance_bytes:
                    out.close()
                    path.unlink(missing_ok=True)
                    return StagedFile(
                        name,
                        rejected=f"over the {format_bytes(self.limits.max_instance_bytes)} limit per DICOM file",
                    )
                digest.update(chunk)
                out.write(chunk)
        return StagedFile(name, path=path, size=size, sha256=digest.hexdigest())

    def _stage_zip(self, stream: IO[bytes], name: str) -> list[StagedFile]:
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
            return [StagedFile(name, rejected=f"not a readable zip archive ({e})")]
        staged: list[StagedFile] = []
        try:
            with archive:
                entries = [info for info in archive.infolist() if not info.is_dir()]
                self._check_archive(entries)
                budget = [self._zip_bytes_left]
                try:
                    for info in entries:
                        staged.append(
                            self._stage_entry(archive, info, f"{name}/{display_name(info.filename)}", budget)
                        )
                finally:
                    self._zip_bytes_left = budget[0]
        except _ArchiveRefused as e:
            for item in staged:
                if item.path is not None:
                    item.path.unlink(missing_ok=True)
            return [StagedFile(name, rejected=str(e))]
        return staged

    def _check_archive(self, entries: list[zipfile.ZipInfo]) -> None:
        """Central-directory checks, before a single byte is inflated."""
        lim = self.limits
        if len(entries) > lim.zip_max_entries:
            raise _ArchiveRefused(
                f"zip refused: {len(entries)} entries, over the limit of {lim.zip_max_entries}; split it"
            )
        total = sum(info.file_size for info in entries)
        if total > lim.zip_max_uncompressed_bytes:
            raise _ArchiveRefused(
                f"zip refused: it would expand to {format_bytes(total)}, over the "
                f"{format_bytes(lim.zip_max_uncompressed_bytes)} limit; split it into smaller archives"
            )
        if total > self._zip_bytes_left:
            raise _ArchiveRefused(
                f"zip refused: with the archives before it, this upload would expand past the "
                f"{format_bytes(lim.zip_max_uncompressed_bytes)} limit per upload; send it in another upload"
            )
        packed = sum(info.compress_size for info in entries)
        if total > lim.zip_ratio_min_bytes and total > lim.zip_max_ratio * max(packed, 1):
            raise _ArchiveRefused(
                f"zip refused: compression ratio {total / max(packed, 1):.0f}:1 is over "
                f"{lim.zip_max_ratio:.0f}:1, which CT data never reaches (a zip bomb?)"
            )

    def _stage_entry(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, budget: list[int]
    ) -> StagedFile:
        reason = unsafe_entry_reason(info)
        if reason:
            return StagedFile(name, rejected=reason)
        lim = self.limits
        if info.file_size > lim.max_instance_bytes:
            return StagedFile(
                name, rejected=f"over the {format_bytes(lim.max_instance_bytes)} limit per DICOM file"
            )
        if info.file_size > lim.zip_ratio_min_bytes and info.file_size > lim.zip_max_ratio * max(
            info.compress_size, 1
        ):
            return StagedFile(
                name,
                rejected=f"zip entry refused: compression ratio {info.file_size / max(info.compress_size, 1):.0f}:1 "
                f"is over {lim.zip_max_ratio:.0f}:1 (a zip bomb?)",
            )
        path = self._next_path()
        digest = hashlib.sha256()
        size = 0
        try:
            with archive.open(info) as src, path.open("wb") as out:
                while chunk := src.read(CHUNK_BYTES):
                    size += len(chunk)
                    budget[0] -= len(chunk)
                    # The central directory can lie: count what really comes out.
                    if size > info.file_size or budget[0] < 0:
                        raise _ArchiveRefused(
                            f"zip refused: entry {display_name(info.filename)!r} inflates past the size its "
                            "header declares (a zip bomb?)"
                        )
                    if size > lim.max_instance_bytes:
                        raise _ArchiveRefused(
                            f"zip refused: an entry inflates past {format_bytes(lim.max_instance_bytes)}"
                        )
                    digest.update(chunk)
                    out.write(chunk)
        except _ArchiveRefused:
            path.unlink(missing_ok=True)
            raise
        except NotImplementedError as e:
            path.unlink(missing_ok=True)
            return StagedFile(name, rejected=f"zip entry uses an unsupported compression method ({e})")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError) as e:
            path.unlink(missing_ok=True)
            return StagedFile(name, rejected=f"corrupt zip entry ({e})")
        if size != info.file_size:
            path.unlink(missing_ok=True)
            return StagedFile(name, rejected=f"corrupt zip entry: {size} bytes, header says {info.file_size}")
        return StagedFile(name, path=path, size=size, sha256=digest.hexdigest())


def unsafe_entry_reason(info: zipfile.ZipInfo) -> str:
    """Why an archive entry is refused before extraction ("" when it is fine)."""
    raw = info.filename
    path = raw.replace("\\", "/")
    if "\x00" in raw:
        return "zip entry refused: its name contains a NUL byte"
    if path.startswith("/") or _DRIVE_RE.match(path):
        return "zip entry refused: absolute path (entries must be relative to the archive)"
    if ".." in path.split("/"):
        return "zip entry refused: '..' in its path (entries must stay inside the archive)"
    if info.flag_bits & 0x1:
        return "zip entry refused: encrypted (upload an archive without a password)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "zip entry refused: symbolic link"
    return ""


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a staged file that was rewritten in place (de-identification)."""
    with path.open("rb") as f:
        return path.stat().st_size, hashlib.file_digest(f, "sha256").hexdigest()


def display_name(name: str) -> str:
    """A file name safe to show and to store in a report: no control characters, bounded length."""
    cleaned = _CONTROL_RE.sub("?", str(name)).strip() or "upload"
    return cleaned if len(cleaned) <= 300 else cleaned[:140] + "..." + cleaned[-140:]


def _is_zip(stream: IO[bytes]) -> bool:
    try:
        return zipfile.is_zipfile(stream)
    finally:
        stream.seek(0)
