"""``manage.py sweep_jobs [--stale-after SECONDS]``: re-queue running jobs whose worker is gone."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from webapp.detection.sweep import sweep_stale_jobs


class Command(BaseCommand):
    help = (
        "Re-queue detection, training and calibration jobs left running by a lost worker (heartbeat "
        "older than DETECTION_JOB_STALE_AFTER), or fail them past DETECTION_MAX_ATTEMPTS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale-after",
            type=int,
            default=None,
            metavar="SECONDS",
            help="heartbeat age that counts as lost (default: the DETECTION_JOB_STALE_AFTER setting)",
        )
        parser.add_argument(
            "--lost-worker",
            default="",
            metavar="NAME",
            help="also sweep every running job of this worker (name@host), whatever its heartbeat",
        )

    def handle(self, *args, stale_after: int | None, lost_worker: str, **options) -> None:
        self.stdout.write(str(sweep_stale_jobs(stale_after_s=stale_after, lost_worker=lost_worker)))
