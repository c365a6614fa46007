"""``manage.py create_demo_users``: users admin, coordinator, radiologist for the demo."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.accounts.services import create_demo_users


class Command(BaseCommand):
    help = "Create demo users admin, coordinator and radiologist (password from DEMO_PASSWORD)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="also set the password of demo users that already exist",
        )

    def handle(self, *args, reset_passwords: bool = False, **options) -> None:
        password = os.environ.get("DEMO_PASSWORD") or None
        if settings.PRODUCTION and password is None:
            raise CommandError("DJANGO_ENV=production: set DEMO_PASSWORD explicitly to create demo users")
        users, used = create_demo_users(None, password, reset_passwords=reset_passwords)
        for user in users:
            state = "created" if user.created else "exists"
            pw = "password set" if user.password_set else "password unchanged (--reset-passwords to set it)"
            self.stdout.write(f"{user.username:<12} role={user.role:<12} {state}, {pw}")
        if any(u.password_set for u in users):
            origin = "from DEMO_PASSWORD" if password else "generated; set DEMO_PASSWORD to choose one"
            self.stdout.write(f"demo password ({origin}): {used}")
