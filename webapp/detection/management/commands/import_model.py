"""``manage.py import_model DIR [--name NAME] [--activate]``: register a detector model directory."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.detection.services import import_model_version


class Command(BaseCommand):
    help = "Import a detector model directory (model.pt + model.json) as a model version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "directory", type=Path, help="the model directory `python -m detector train` wrote"
        )
        parser.add_argument("--name", default="", help="model version name (default: the directory's name)")
        parser.add_argument("--activate", action="store_true", help="make it the active model version")

    def handle(self, *args, directory: Path, name: str, activate: bool, **options) -> None:
        try:
            # The shell is trusted: any directory, audited with no acting user.
            version = import_model_version(
                None, directory.resolve(), name=name, activate=activate, from_import_root=False
            )
        except ValidationError as e:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in e.message_dict.items())) from None
        state = "active" if version.is_active else "not active (activate it in the API or with --activate)"
        self.stdout.write(f"model version {version.pk} {version.name!r} imported from {directory}, {state}")
