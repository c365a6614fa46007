"""API tokens (issue 12, finding 5): stored hashed, a new one per sign-in, expiring, revocable by
their user, and revoked at sign-out and at a password change. Before django-rest-knox a token was
kept in clear, re-issued unchanged, never expired and survived sign-out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.webapp.factories import UserFactory
from webapp.accounts import roles
from webapp.accounts.models import AuditEvent

pytestmark = pytest.mark.django_db
CREDS = {"username": "dave", "password": "test-password-1"}


@pytest.fixture
def dave():
    return UserFactory(username="dave", role=roles.RADIOLOGIST)


def _token() -> tuple[str, dict]:
    r = APIClient().post("/api/auth/token/", CREDS, format="json")
    assert r.status_code == 200, r.content
    return r.json()["token"], r.json()


def _as(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_is_stored_only_as_a_digest_and_each_sign_in_gets_a_new_one(dave):
    first, body = _token()
    second, _ = _token()
    assert first != second and _as(first).get("/api/cohorts/").status_code == 200
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {AuthToken._meta.db_table}")
        stored = " ".join(str(v) for row in cur.fetchall() for v in row)
    assert first not in stored and second not in stored
    expiry = dt.datetime.fromisoformat(body["expiry"])
    assert dt.timedelta(hours=11) < expiry - timezone.now() <= dt.timedelta(hours=12)
    assert AuditEvent.objects.filter(action="auth.token_issued", actor=dave).count() == 2


def test_an_expired_token_is_refused(dave):
    token, _ = _token()
    AuthToken.objects.filter(user=dave).update(expiry=timezone.now() - dt.timedelta(seconds=1))
    assert _as(token).get("/api/cohorts/").status_code == 401


def test_the_token_ttl_is_a_setting(dave, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": dt.timedelta(minutes=5)}
    _, body = _token()
    assert dt.datetime.fromisoformat(body["expiry"]) - timezone.now() <= dt.timedelta(minutes=5)


def test_a_user_revokes_the_token_in_use_or_all_of_them(dave):
    one, _ = _token()
    two, _ = _token()
    three, _ = _token()
    r = _as(one).post("/api/auth/token/revoke/")
    assert r.status_code == 200 and r.json() == {"revoked": 1}
    assert _as(one).get("/api/cohorts/").status_code == 401
    assert _as(two).get("/api/cohorts/").status_code == 200
    assert _as(two).post("/api/auth/token/revoke-all/").json() == {"revoked": 2}
    assert _as(three).get("/api/cohorts/").status_code == 401
    assert AuditEvent.objects.filter(action="auth.tokens_revoked", actor=dave).count() == 2
    assert APIClient().post("/api/auth/token/revoke/").status_code == 401


def test_signing_out_revokes_the_users_tokens(dave):
    token, _ = _token()
    browser = Client()
    assert browser.post("/accounts/login/", CREDS).status_code == 302
    assert browser.post("/accounts/logout/").status_code == 302
    assert _as(token).get("/api/cohorts/").status_code == 401


def test_changing_the_password_revokes_the_users_tokens(dave):
    token, _ = _token()
    browser = Client()
    browser.post("/accounts/login/", CREDS)
    new = "a-much-better-pw-9"
    r = browser.post(
        "/accounts/password/", {"old_password": CREDS["password"], "new_password1": new, "new_password2": new}
    )
    assert r.status_code == 302
    assert _as(token).get("/api/cohorts/").status_code == 401
