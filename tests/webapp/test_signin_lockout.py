"""Password guessing is stopped on every sign-in path (issue 12, finding 3): after the failure
limit a user, and a client address, are locked out, the counters sit in the shared cache and
every lockout is audited. Each test reproduces the attack that worked before django-axes."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from tests.webapp.factories import UserFactory
from webapp.accounts import roles
from webapp.accounts.models import AuditEvent

pytestmark = pytest.mark.django_db

LIMIT = 4
RIGHT = "test-password-1"


@pytest.fixture(autouse=True)
def _small_limit(settings) -> None:
    settings.AXES_FAILURE_LIMIT = LIMIT


def _guess(client: Client, path: str, username: str, password: str, **extra):
    if path.startswith("/api/"):
        return client.post(path, {"username": username, "password": password}, format="json", **extra)
    return client.post(path, {"username": username, "password": password}, **extra)


@pytest.mark.parametrize(
    "path, client_class",
    [("/accounts/login/", Client), ("/admin/login/", Client), ("/api/auth/token/", APIClient)],
)
def test_guessing_a_password_locks_the_user_out_on_every_path(path, client_class):
    UserFactory(username="victim", role=roles.ADMIN)
    client = client_class()
    for i in range(LIMIT - 1):
        assert _guess(client, path, "victim", f"guess-{i}").status_code in (200, 400)
    assert _guess(client, path, "victim", "last-guess").status_code == 429  # the limit-th failure
    # the right password no longer works, from another address too (the user is locked)
    locked = _guess(client_class(), path, "victim", RIGHT, REMOTE_ADDR="10.9.9.9")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    if path.startswith("/api/"):
        assert "Too many failed sign-ins" in locked.json()["detail"]
        assert "token" not in locked.json()
    else:
        assert b"Too many failed sign-ins" in locked.content
    rows = AuditEvent.objects.filter(action="auth.locked_out")
    assert rows.exists() and rows.first().details["username"] == "victim"


def test_a_client_guessing_many_usernames_is_locked_out_whatever_it_says_its_address_is():
    UserFactory(username="someone", role=roles.RADIOLOGIST)
    client = APIClient(REMOTE_ADDR="192.0.2.50")
    for i in range(LIMIT - 1):
        # a new username each time, and a new X-Forwarded-For: neither resets the client's count
        r = _guess(client, "/api/auth/token/", f"user{i}", "x", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        assert r.status_code == 400
    assert _guess(client, "/api/auth/token/", "user-n", "x").status_code == 429  # the limit-th failure
    r = _guess(client, "/api/auth/token/", "someone", RIGHT, HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert r.status_code == 429
    assert AuditEvent.objects.filter(action="auth.locked_out", ip_address="192.0.2.50").exists()
    # another client signs in as usual
    assert (
        _guess(APIClient(REMOTE_ADDR="192.0.2.51"), "/api/auth/token/", "someone", RIGHT).status_code == 200
    )


def test_failures_below_the_limit_do_not_lock_and_the_counters_are_in_the_shared_cache():
    UserFactory(username="typo", role=roles.RADIOLOGIST)
    client = Client()
    for i in range(LIMIT - 1):
        _guess(client, "/accounts/login/", "typo", f"wrong-{i}")
    assert _guess(client, "/accounts/login/", "typo", RIGHT).status_code == 302  # signed in
    # the embedded default and the tests keep the counters in the database, shared by processes
    assert caches["default"].__class__.__name__ == "DatabaseCache"
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM fusionscreen_cache")
        assert cur.fetchone()[0] > 0
