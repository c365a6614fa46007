"""Roles, demo users, login / logout / password change, tokens and the audit trail."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from knox.models import AuthToken

from tests.webapp.factories import UserFactory
from webapp.accounts import roles
from webapp.accounts.models import AuditEvent
from webapp.accounts.services import audit, ensure_roles, user_role

pytestmark = pytest.mark.django_db


def perms(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }


def test_role_groups_exist_after_migrate_with_their_permissions():
    assert roles.ROLE_PERMISSIONS[roles.RADIOLOGIST] == perms(roles.RADIOLOGIST)
    assert roles.ROLE_PERMISSIONS[roles.COORDINATOR] == perms(roles.COORDINATOR)
    admin = perms(roles.ADMIN)
    assert roles.ROLE_PERMISSIONS[roles.ADMIN] <= admin
    assert {"auth.add_user", "auth.change_user", "cohorts.view_all_cohorts"} <= admin
    assert not admin & roles.ADMIN_EXCLUDED  # nobody rewrites the audit trail
    assert "cohorts.add_cohort" not in perms(roles.RADIOLOGIST)


def test_ensure_roles_is_idempotent_and_repairs_drift():
    ensure_roles()
    n_events = AuditEvent.objects.filter(action="roles.synced").count()
    assert ensure_roles() == ensure_roles()
    assert AuditEvent.objects.filter(action="roles.synced").count() == n_events  # no change, no row
    Group.objects.get(name=roles.RADIOLOGIST).permissions.clear()
    ensure_roles()
    assert perms(roles.RADIOLOGIST) == roles.ROLE_PERMISSIONS[roles.RADIOLOGIST]


def test_create_demo_users_with_password_from_env(monkeypatch, client):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-secret-42")
    call_command("create_demo_users")
    for role in roles.ROLES:
        user = Group.objects.get(name=role).user_set.get(username=role)
        assert user_role(user) == role and user.check_password("demo-secret-42")
    assert Group.objects.get(name="admin").user_set.get().is_staff
    signed_in = client.post("/accounts/login/", {"username": "coordinator", "password": "demo-secret-42"})
    assert signed_in.status_code == 302 and "_auth_user_id" in client.session


def test_create_demo_users_prints_a_generated_password_and_keeps_existing_ones(monkeypatch, capsys):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    call_command("create_demo_users")
    out = capsys.readouterr().out
    password = out.strip().splitlines()[-1].split(": ")[-1]
    assert "generated" in out and len(password) >= 12
    call_command("create_demo_users")
    assert "password unchanged" in capsys.readouterr().out
    assert Group.objects.get(name="radiologist").user_set.get().check_password(password)


def test_login_page_logout_and_audit(client):
    UserFactory(username="alice", role=roles.RADIOLOGIST)
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b"Log in" in page.content and b"//cdn" not in page.content
    assert client.get("/").status_code == 302  # the start page needs a login
    r = client.post(
        "/accounts/login/", {"username": "alice", "password": "test-password-1"}, REMOTE_ADDR="10.1.2.3"
    )
    assert r.status_code == 302 and r["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and b"alice" in home.content and b"radiologist" in home.content
    login = AuditEvent.objects.get(action="auth.login")
    assert login.actor_username == "alice" and login.ip_address == "10.1.2.3"
    assert client.post("/accounts/logout/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor_username="alice").exists()
    assert client.get("/").status_code == 302


def test_failed_login_is_audited_without_the_password(client):
    client.post("/accounts/login/", {"username": "mallory", "password": "guess-123"})
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.details == {"username": "mallory"} and "guess" not in str(event.details)


def test_password_change_keeps_session_revokes_token_and_audits(client):
    user = UserFactory(username="bob", role=roles.COORDINATOR)
    AuthToken.objects.create(user=user)
    client.force_login(user)
    assert client.get("/accounts/password/").status_code == 200
    r = client.post(
        "/accounts/password/",
        {
            "old_password": "test-password-1",
            "new_password1": "a-much-better-pw-9",
            "new_password2": "a-much-better-pw-9",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/accounts/password/done/"
    user.refresh_from_db()
    assert user.check_password("a-much-better-pw-9")
    assert not AuthToken.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="auth.password_changed", actor=user).exists()
    assert client.get("/").status_code == 200  # this session survives the change


def test_weak_new_password_is_refused(client):
    user = UserFactory(username="carol", role=roles.COORDINATOR)
    client.force_login(user)
    r = client.post(
        "/accounts/password/",
        {"old_password": "test-password-1", "new_password1": "123", "new_password2": "123"},
    )
    assert r.status_code == 200 and b"errorlist" in r.content
    assert not AuditEvent.objects.filter(action="auth.password_changed").exists()


def test_session_expiry_settings(settings):
    assert settings.SESSION_COOKIE_AGE == 8 * 3600 and settings.SESSION_REFRESH_SECONDS == 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE and settings.SESSION_COOKIE_HTTPONLY


def test_a_used_session_slides_its_expiry_with_at_most_one_write_a_minute(client, monkeypatch):
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    from webapp.accounts import middleware

    client.force_login(UserFactory(username="gina", role=roles.RADIOLOGIST))
    clock = [1_000_000.0]
    monkeypatch.setattr(middleware, "_clock", lambda: clock[0])
    assert client.get("/").status_code == 200  # the first request after sign-in refreshes
    first = Session.objects.get().expire_date
    saves = []
    real_save = SessionStore.save
    monkeypatch.setattr(
        SessionStore, "save", lambda self, *a, **k: (saves.append(1), real_save(self, *a, **k))
    )
    clock[0] += 30
    for _ in range(5):
        assert client.get("/").status_code == 200
    assert saves == [] and Session.objects.get().expire_date == first  # within the minute: no write
    clock[0] += 31
    assert client.get("/").status_code == 200
    assert len(saves) == 1 and Session.objects.get().expire_date > first  # the expiry moved on


def test_audit_admin_is_read_only(client):
    admin = UserFactory(username="root", role=roles.ADMIN)
    audit(admin, "test.event", object_type="x", object_id=1)
    client.force_login(admin)
    listing = client.get("/admin/accounts/auditevent/")
    assert listing.status_code == 200 and b"test.event" in listing.content
    event = AuditEvent.objects.get(action="test.event")
    assert client.get(f"/admin/accounts/auditevent/{event.pk}/delete/").status_code == 403
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403


def test_audit_ip_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(settings):
    from django.test import Client

    UserFactory(username="erin", role=roles.RADIOLOGIST)
    creds = {"username": "erin", "password": "test-password-1"}
    spoofed = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 198.51.100.7"}
    Client().post("/accounts/login/", creds, **spoofed)
    assert AuditEvent.objects.get(action="auth.login").ip_address == "10.0.0.1"  # no proxy configured
    settings.TRUSTED_PROXY_COUNT = 1
    Client().post("/accounts/login/", creds, **spoofed)
    # our proxy appended 198.51.100.7; 203.0.113.9 was written by the client and is not believed
    assert AuditEvent.objects.filter(action="auth.login").first().ip_address == "198.51.100.7"


def test_an_expired_session_is_signed_out(client):
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    client.force_login(UserFactory(username="frank", role=roles.RADIOLOGIST))
    assert client.get("/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))  # idle past the limit
    r = client.get("/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
