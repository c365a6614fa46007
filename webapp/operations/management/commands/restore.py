"""``manage.py restore BACKUP``: into a new, empty database and media folder, then checked."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.operations.backups import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Restore a backup folder (manage.py backup) into the configured database, which must be empty, "
        "and media folder, which must be empty or absent; then check every count, file and checksum."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", type=Path, help="the backup folder")
        parser.add_argument(
            "--no-checksums", action="store_true", help="check that files exist, not their DICOM checksums"
        )

    def handle(self, *args, source: Path, no_checksums: bool, **options) -> None:
        try:
            found = restore_backup(source.resolve(), checksums=not no_checksums)
        except BackupError as e:
            raise CommandError(str(e)) from None
        self.stdout.write(f"restored from {source} and checked:\n{json.dumps(found, indent=2)}")
