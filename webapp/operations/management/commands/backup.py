"""``manage.py backup OUT``: the database and media folder, consistent with each other."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.operations.backups import BackupError, create_backup


class Command(BaseCommand):
    help = "Back up the database (one snapshot) and the media files it refers to into a new folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path, help="the backup folder to create (must not exist)")

    def handle(self, *args, out: Path, **options) -> None:
        try:
            manifest = create_backup(out.resolve())
        except BackupError as e:
            raise CommandError(str(e)) from None
        self.stdout.write(f"backup written to {out}:\n{json.dumps(manifest, indent=2)}")
