"""Account actions. Each takes the acting user, runs in one transaction and writes its audit row
inside it (the audit row and the change commit or roll back together)."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.db import models, transaction
from knox.models import AuthToken

from webapp.accounts import chain, roles
from webapp.accounts.context import current_request_context
from webapp.accounts.models import AuditEvent

UserLike = AbstractBaseUser | AnonymousUser | None


def audit(
    actor: UserLike,
    action: str,
    target: models.Model | None = None,
    *,
    object_type: str = "",
    object_id: str | int = "",
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Write one audit row: who did ``action`` to which object, from where, with ``details``."""
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or target.pk
    if ip_address is None:
        ctx = current_request_context()
        ip_address = ctx.ip_address if ctx else None
    user = actor if actor is not None and actor.is_authenticated else None
    event = AuditEvent(
        actor=user,
        actor_username=user.get_username() if user else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        ip_address=ip_address,
        details=details or {},
    )
    with transaction.atomic():
        chain.link(event)
        event.save(force_insert=True)
    return event


def user_role(user: UserLike) -> str:
    """The user's highest role (admin > coordinator > radiologist), or "" for none."""
    if user is None or not user.is_authenticated:
        return ""
    if user.is_superuser:
        return roles.ADMIN
    names = set(user.groups.values_list("name", flat=True))
    for role in (roles.ADMIN, roles.COORDINATOR, roles.RADIOLOGIST):
        if role in names:
            return role
    return ""


def _permissions(codes: set[str]) -> list[Permission]:
    wanted = {tuple(code.split(".", 1)) for code in codes}
    found = list(
        Permission.objects.filter(content_type__app_label__in={a for a, _ in wanted}).select_related(
            "content_type"
        )
    )
    by_code = {(p.content_type.app_label, p.codename): p for p in found}
    missing = sorted(f"{a}.{c}" for a, c in wanted if (a, c) not in by_code)
    if missing:
        raise LookupError(f"permissions not in the database (run migrate): {', '.join(missing)}")
    return [by_code[key] for key in sorted(wanted)]


def _admin_permission_codes() -> set[str]:
    codes = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(content_type__app_label__in=roles.ADMIN_APPS).select_related(
            "content_type"
        )
    }
    return (codes | roles.ROLE_PERMISSIONS[roles.ADMIN]) - roles.ADMIN_EXCLUDED


def ensure_roles(acting_user: UserLike = None) -> dict[str, int]:
    """Create the role groups and set their permissions to exactly the table in roles.py.

    Idempotent; returns the number of permissions per role. Audited only when something changed.
    """
    with transaction.atomic():
        counts: dict[str, int] = {}
        changed: list[str] = []
        for role in roles.ROLES:
            group, created = Group.objects.get_or_create(name=role)
            codes = _admin_permission_codes() if role == roles.ADMIN else roles.ROLE_PERMISSIONS[role]
            perms = _permissions(codes)
            before = set(group.permissions.values_list("pk", flat=True))
            if created or before != {p.pk for p in perms}:
                group.permissions.set(perms)
                changed.append(role)
            counts[role] = len(perms)
        if changed:
            audit(acting_user, "roles.synced", object_type="auth.group", details={"changed": changed})
        return counts


def sync_roles_after_migrate(using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver: make every app's permissions exist, then sync the role groups."""
    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using, apps=global_apps)
    ensure_roles()


def set_role(acting_user: UserLike, user: AbstractBaseUser, role: str) -> None:
    """Make ``role`` the user's only role group."""
    if role not in roles.ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(roles.ROLES)}")
    with transaction.atomic():
        current = set(user.groups.filter(name__in=roles.ROLES).values_list("name", flat=True))
        staff_ok = role != roles.ADMIN or user.is_staff
        if current == {role} and staff_ok:
            return
        user.groups.remove(*Group.objects.filter(name__in=roles.ROLES))
        user.groups.add(Group.objects.get(name=role))
        if not staff_ok:
            user.is_staff = True  # admins manage users in the Django admin site
            user.save(update_fields=["is_staff"])
        audit(acting_user, "accounts.role_set", user, details={"username": user.get_username(), "role": role})


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    created: bool
    password_set: bool


def create_demo_users(
    acting_user: UserLike, password: str | None, *, reset_passwords: bool = False
) -> tuple[list[DemoUser], str]:
    """Create (or update) users admin, coordinator and radiologist with their roles.

    New users get ``password`` (a random one when None); existing users keep theirs unless
    ``reset_passwords``. Returns the users and the password that was used.
    """
    password = password or secrets.token_urlsafe(12)
    user_model = get_user_model()
    out: list[DemoUser] = []
    with transaction.atomic():
        ensure_roles(acting_user)
        for role in (roles.ADMIN, roles.COORDINATOR, roles.RADIOLOGIST):
            user, created = user_model.objects.get_or_create(username=role, defaults={"email": ""})
            if created or reset_passwords:
                user.set_password(password)
                user.save()
            set_role(acting_user, user, role)
            out.append(DemoUser(role, role, created, created or reset_passwords))
        audit(
            acting_user,
            "accounts.demo_users_created",
            object_type="auth.user",
            details={"users": [u.username for u in out], "created": [u.username for u in out if u.created]},
        )
    return out, password


def issue_token(acting_user: AbstractBaseUser) -> tuple[str, dt.datetime | None]:
    """A new API token for the acting user and its expiry. Only its digest is stored: the token
    itself is shown this once."""
    with transaction.atomic():
        instance, token = AuthToken.objects.create(user=acting_user)
        expiry = instance.expiry.isoformat() if instance.expiry else None
        audit(acting_user, "auth.token_issued", acting_user, details={"expiry": expiry})
    return token, instance.expiry


def revoke_tokens(acting_user: AbstractBaseUser, reason: str, only: AuthToken | None = None) -> int:
    """Revoke the acting user's API tokens (``only`` the one given, else all); the count revoked."""
    with transaction.atomic():
        tokens = AuthToken.objects.filter(user=acting_user)
        if only is not None:
            tokens = tokens.filter(pk=only.pk)
        count, _ = tokens.delete()
        if count:
            audit(acting_user, "auth.tokens_revoked", acting_user, details={"count": count, "reason": reason})
    return count


def change_password(acting_user: AbstractBaseUser, new_password: str) -> None:
    """Set the acting user's own password (already validated by the form)."""
    with transaction.atomic():
        acting_user.set_password(new_password)
        acting_user.save(update_fields=["password"])
        # A changed password invalidates API tokens too, like it invalidates other sessions.
        AuthToken.objects.filter(user=acting_user).delete()
        audit(acting_user, "auth.password_changed", acting_user)
