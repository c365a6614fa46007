"""``manage.py cleanup_orphans [--older-than SECONDS]``: remove what interrupted uploads and
model imports left on disk (Celery beat runs the same every ORPHAN_CLEANUP_EVERY seconds)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from webapp.studies.cleanup import cleanup_orphans


class Command(BaseCommand):
    help = "Remove staging folders, upload parts and partial model folders older than a limit."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", type=int, default=None, help="seconds (default ORPHAN_MAX_AGE_S)")

    def handle(self, *args, **options) -> None:
        self.stdout.write(str(cleanup_orphans(options["older_than"])))
