"""Login, logout and failed logins go into the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from webapp.accounts.middleware import client_ip
from webapp.accounts.services import audit, revoke_tokens


def _ip(request: Any) -> str | None:
    return client_ip(request) if request is not None else None


@receiver(user_logged_in, dispatch_uid="accounts.audit_login")
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit(user, "auth.login", user, ip_address=_ip(request))


@receiver(user_logged_out, dispatch_uid="accounts.audit_logout")
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit(user, "auth.logout", user, ip_address=_ip(request))
        # Signing out ends the user's API tokens too (a script's token does not outlive it).
        revoke_tokens(user, reason="logout")


@receiver(user_login_failed, dispatch_uid="accounts.audit_login_failed")
def audit_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # credentials arrive with the password already masked by Django.
    audit(
        None,
        "auth.login_failed",
        details={"username": str(credentials.get("username", ""))[:150]},
        ip_address=_ip(request),
    )
