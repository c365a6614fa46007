from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "webapp.accounts"
    label = "accounts"
    verbose_name = "Accounts and audit"

    def ready(self) -> None:
        from webapp.accounts import lockout, signals  # noqa: F401  (audit receivers)
        from webapp.accounts.services import sync_roles_after_migrate

        # After every migrate (and every test-database flush) the role groups are brought back
        # to exactly what roles.py says, so permissions never drift from the code.
        post_migrate.connect(sync_roles_after_migrate, sender=self, dispatch_uid="accounts.sync_roles")
