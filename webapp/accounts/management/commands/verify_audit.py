"""``manage.py verify_audit``: check the audit trail's hash chain; exit status 1 where it breaks."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from webapp.accounts.chain import verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain (every row unchanged, none missing, none inserted)."

    def handle(self, *args, **options) -> None:
        verdict = verify()
        if not verdict.ok:
            raise CommandError(f"audit trail broken after {verdict.rows} intact rows: {verdict.problem}")
        self.stdout.write(f"audit trail intact: {verdict.rows} rows, head {verdict.head_hash}")
