"""Backups: the database and the media folder, consistent with each other, and their restore
into a fresh database and media folder (``manage.py backup`` / ``manage.py restore``).

Consistency: the database is dumped from one snapshot (PostgreSQL: pg_dump --snapshot of a
REPEATABLE READ transaction that stays open; SQLite: the online backup API), and the list of
files that snapshot refers to is read inside the same snapshot. The media folder is copied
after; every file the dump refers to must then be in the copy, or the backup fails, loudly
(a file deleted while the backup ran). Stored files are never rewritten in place (new names per
upload batch and per job attempt), so a file present in the copy is the file the dump means.
Files newer than the snapshot may be copied too; nothing refers to them after a restore.

A backup folder holds ``manifest.json`` (what is in it, with counts to check a restore against),
``database.dump`` (pg_dump custom format) or ``database.sqlite3``, and ``media/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from webapp.detection.models import Calibration, DetectionResult, ModelVersion
from webapp.detection.versions import file_sha256
from webapp.pacs.models import ResultObject
from webapp.studies.models import Instance, Study
from webapp.worklists.models import Read

FORMAT = 1
# Work in progress, not data: ingest staging and unfinished model imports are never backed up.
SKIPPED_MEDIA = frozenset({".staging"})


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class Snapshot:
    """What one database snapshot holds: row counts, and the media files it refers to."""

    counts: dict[str, int]
    files: list[str]  # relative to MEDIA_ROOT
    folders: list[str]  # result and model folders, relative to MEDIA_ROOT
    checksums: dict[str, str]  # instance file -> sha256


COUNTED = {
    "studies": Study,
    "instances": Instance,
    "results": DetectionResult,
    "reads": Read,
    "model_versions": ModelVersion,
    "calibrations": Calibration,
}


def _snapshot(cursor: Any) -> Snapshot:
    """Read counts and references with a DB-API cursor (psycopg or sqlite3) on the snapshot."""
    counts = {}
    for name, model in COUNTED.items():
        cursor.execute(f"SELECT COUNT(*) FROM {model._meta.db_table}")  # noqa: S608 - our own table names
        counts[name] = int(cursor.fetchone()[0])
    cursor.execute(f"SELECT file_path, sha256 FROM {Instance._meta.db_table}")  # noqa: S608
    checksums = {row[0]: row[1] for row in cursor.fetchall()}
    cursor.execute(f"SELECT roc_plot FROM {Calibration._meta.db_table} WHERE roc_plot <> ''")  # noqa: S608
    files = sorted(checksums) + sorted(row[0] for row in cursor.fetchall())
    cursor.execute(f"SELECT file FROM {ResultObject._meta.db_table}")  # noqa: S608 - results as DICOM
    files += sorted(row[0] for row in cursor.fetchall())
    cursor.execute(f"SELECT maps_directory FROM {DetectionResult._meta.db_table}")  # noqa: S608
    folders = [row[0] for row in cursor.fetchall()]
    cursor.execute(f"SELECT directory FROM {ModelVersion._meta.db_table} WHERE directory <> ''")  # noqa: S608
    folders += [row[0] for row in cursor.fetchall()]
    return Snapshot(counts, files, sorted(folders), checksums)


def _database() -> dict[str, Any]:
    return settings.DATABASES["default"]


def _engine() -> str:
    engine = _database()["ENGINE"]
    if engine.endswith("postgresql"):
        return "postgresql"
    if engine.endswith("sqlite3"):
        return "sqlite"
    raise BackupError(f"backups support PostgreSQL and SQLite, not {engine}")


def _pg_env() -> dict[str, str]:
    db = _database()
    env = dict(os.environ)
    env.update(
        {
            "PGHOST": str(db.get("HOST") or ""),
            "PGPORT": str(db.get("PORT") or ""),
            "PGUSER": str(db.get("USER") or ""),
        }
    )
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return env


def _pg_connect():
    import psycopg

    db = _database()
    return psycopg.connect(
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
    )


def _copy_media(source: Path, target: Path) -> tuple[int, int]:
    files = size = 0
    for folder, dirs, names in os.walk(source):
        here = Path(folder)
        dirs[:] = [
            d for d in dirs if not d.endswith(".partial") and not (here == source and d in SKIPPED_MEDIA)
        ]
        for name in names:
            src = here / name
            dst = target / src.relative_to(source)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            files += 1
            size += dst.stat().st_size
    return files, size


def missing_files(media: Path, snapshot: Snapshot) -> list[str]:
    missing = [f for f in snapshot.files if not (media / f).is_file()]
    missing += [
        d + "/" for d in snapshot.folders if not (media / d).is_dir() or not any((media / d).iterdir())
    ]
    return missing


def create_backup(out: Path) -> dict[str, Any]:
    """Write a backup folder at ``out`` (which must not exist); return its manifest."""
    engine = _engine()
    if out.exists():
        raise BackupError(f"{out} exists; a backup goes into a new folder")
    work = out.with_name(out.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    media_root = Path(settings.MEDIA_ROOT)
    started = dt.datetime.now(dt.UTC)
    if engine == "postgresql":
        with _pg_connect() as conn:
            import psycopg

            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.cursor() as cursor:
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot_id = cursor.fetchone()[0]
                dump = subprocess.run(
                    ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot_id}",
                     "--file", str(work / "database.dump"), _database()["NAME"]],
                    env=_pg_env(), capture_output=True, text=True,
                )  # fmt: skip
                if dump.returncode != 0:
                    raise BackupError(f"pg_dump failed: {dump.stderr.strip()}")
                snapshot = _snapshot(cursor)
                # Copied while the snapshot is held; a file deleted meanwhile is caught below.
                files, size = _copy_media(media_root, work / "media")
            conn.rollback()
        database_file = "database.dump"
    else:
        connection.ensure_connection()
        target = sqlite3.connect(work / "database.sqlite3")
        with target:
            connection.connection.backup(target)
        snapshot = _snapshot(target.cursor())
        target.close()
        files, size = _copy_media(media_root, work / "media")
        database_file = "database.sqlite3"
    missing = missing_files(work / "media", snapshot)
    if missing:
        shutil.rmtree(work, ignore_errors=True)
        raise BackupError(
            f"{len(missing)} files the database refers to were not in the media folder (deleted while the "
            f"backup ran, or lost before it): {', '.join(missing[:5])}; nothing was written"
        )
    manifest = {
        "format": FORMAT,
        "created_at": started.isoformat(timespec="seconds"),
        "engine": engine,
        "database_file": database_file,
        "counts": snapshot.counts,
        "referenced_files": len(snapshot.files),
        "referenced_folders": len(snapshot.folders),
        "media_files": files,
        "media_bytes": size,
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
    work.rename(out)
    return manifest


def _empty_database() -> bool:
    return not [t for t in connection.introspection.table_names() if not t.startswith("sqlite_")]


def _nonempty(folder: Path) -> bool:
    return folder.exists() and any(folder.iterdir())


def restore_backup(source: Path, *, checksums: bool = True) -> dict[str, Any]:
    """Restore a backup folder into the configured database (which must be empty) and media
    folder (which must be empty or absent), then check it; return what was found."""
    manifest_path = source / "manifest.json"
    if not manifest_path.is_file():
        raise BackupError(f"{source} is not a backup folder (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r}; this version restores format {FORMAT}")
    engine = _engine()
    if manifest["engine"] != engine:
        raise BackupError(f"the backup is of a {manifest['engine']} database; this site runs {engine}")
    media_root = Path(settings.MEDIA_ROOT)
    if not _empty_database():
        raise BackupError("the database is not empty; restore into a new, empty database")
    if _nonempty(media_root):
        raise BackupError(f"the media folder {media_root} is not empty; restore into a new one")
    if engine == "postgresql":
        connection.close()
        proc = subprocess.run(
            ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", _database()["NAME"],
             str(source / manifest["database_file"])],
            env=_pg_env(), capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise BackupError(f"pg_restore failed: {proc.stderr.strip()}")
    else:
        connection.close()
        shutil.copy2(source / manifest["database_file"], _database()["NAME"])
    media_root.mkdir(parents=True, exist_ok=True)
    _copy_media(source / "media", media_root)
    return verify_restore(manifest, checksums=checksums)


def verify_restore(manifest: dict[str, Any], *, checksums: bool = True) -> dict[str, Any]:
    """Compare the restored site with the manifest: the same counts, every referenced file present
    (and, with ``checksums``, every DICOM instance with the checksum recorded at ingest)."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        snapshot = _snapshot(cursor)
    media_root = Path(settings.MEDIA_ROOT)
    problems = [f"missing {m}" for m in missing_files(media_root, snapshot)]
    if snapshot.counts != manifest["counts"]:
        problems.append(f"counts {snapshot.counts} differ from the backup's {manifest['counts']}")
    if checksums:
        problems += [
            f"checksum of {name} differs"
            for name, digest in _present(snapshot.checksums.items(), media_root)
            if file_sha256(media_root / name) != digest
        ]
    if problems:
        raise BackupError(f"the restore does not match the backup: {'; '.join(problems[:10])}")
    return {"counts": snapshot.counts, "files": len(snapshot.files), "folders": len(snapshot.folders)}


def _present(items: Iterable[tuple[str, str]], media_root: Path) -> Iterable[tuple[str, str]]:
    return ((name, digest) for name, digest in items if (media_root / name).is_file())
