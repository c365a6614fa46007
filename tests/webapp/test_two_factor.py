"""Second sign-in factor (issue 12, finding 4): TOTP required for the admin role (pages, Django's
admin, API tokens), optional for the others, with single-use recovery codes."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.webapp.factories import UserFactory
from webapp.accounts import roles
from webapp.accounts.models import AuditEvent

pytestmark = pytest.mark.django_db
PASSWORD = "test-password-1"


@pytest.fixture(autouse=True)
def _required_for_admins(settings) -> None:
    settings.TWO_FACTOR_FOR_ADMINS = True


def _sign_in(username: str) -> Client:
    client = Client()
    assert client.post("/accounts/login/", {"username": username, "password": PASSWORD}).status_code == 302
    return client


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def _enrol(client: Client, user) -> tuple[TOTPDevice, list[str]]:
    page = client.get("/accounts/2fa/setup/")
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    # (no wrong code first: django-otp would throttle the device for a second, its own guard)
    done = client.post("/accounts/2fa/setup/", {"code": _code(device)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    device.refresh_from_db()
    return device, codes


def test_an_admin_signed_in_with_the_password_only_reaches_nothing_until_enrolled():
    admin = UserFactory(username="boss", role=roles.ADMIN)
    client = _sign_in("boss")
    for path in ("/", "/admin/", "/audit/", "/cohorts/"):
        r = client.get(path)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/2fa/setup/"), path
    assert client.get("/api/cohorts/").status_code == 403
    _enrol(client, admin)
    assert client.get("/admin/").status_code == 200  # this session gave the code
    assert AuditEvent.objects.filter(action="auth.2fa_enabled", actor=admin).exists()


def test_an_enrolled_user_gives_a_code_or_a_recovery_code_at_each_sign_in():
    admin = UserFactory(username="boss", role=roles.ADMIN)
    device, codes = _enrol(_sign_in("boss"), admin)
    client = _sign_in("boss")
    r = client.get("/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/2fa/verify/")
    # a recovery code works once
    assert (
        client.post("/accounts/2fa/verify/", {"code": codes[0], "next": "/admin/"})["Location"] == "/admin/"
    )
    assert client.get("/admin/").status_code == 200
    again = _sign_in("boss")
    assert again.post("/accounts/2fa/verify/", {"code": codes[0]}).status_code == 200  # refused, said why
    assert again.get("/admin/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.2fa_failed", actor=admin).count() == 1


def test_the_admin_login_page_leads_to_the_code_too():
    UserFactory(username="boss", role=roles.ADMIN)
    client = Client()
    r = client.post("/admin/login/?next=/admin/", {"username": "boss", "password": PASSWORD})
    assert r.status_code == 302
    follow = client.get(r["Location"])
    assert follow.status_code == 302 and "/accounts/2fa/" in follow["Location"]


def test_the_token_endpoint_needs_the_code_from_an_account_with_a_second_factor():
    admin = UserFactory(username="boss", role=roles.ADMIN)
    creds = {"username": "boss", "password": PASSWORD}
    refused = APIClient().post("/api/auth/token/", creds, format="json")
    assert refused.status_code == 400 and "set it up" in str(refused.json())
    device, _ = _enrol(_sign_in("boss"), admin)
    assert APIClient().post("/api/auth/token/", creds, format="json").status_code == 400
    device.refresh_from_db()
    device.throttle_reset(commit=False)  # the refused request above throttles the device for a second
    device.last_t = -1  # and the code used at enrolment may be used again in this test's time step
    device.save()
    ok = APIClient().post("/api/auth/token/", creds | {"otp": _code(device)}, format="json")
    assert ok.status_code == 200 and ok.json()["token"]


def test_other_roles_may_turn_it_on_and_off_admins_may_not_turn_it_off():
    rad = UserFactory(username="rad", role=roles.RADIOLOGIST)
    client = _sign_in("rad")
    assert client.get("/").status_code == 200  # optional: nothing asked
    _enrol(client, rad)
    assert client.post("/accounts/2fa/disable/").status_code == 302
    assert not TOTPDevice.objects.filter(user=rad).exists()
    admin = UserFactory(username="boss", role=roles.ADMIN)
    admin_client = _sign_in("boss")
    _enrol(admin_client, admin)
    admin_client.post("/accounts/2fa/disable/")
    assert TOTPDevice.objects.filter(user=admin, confirmed=True).exists()


def test_with_the_setting_off_admins_sign_in_with_the_password(settings):
    settings.TWO_FACTOR_FOR_ADMINS = False
    UserFactory(username="boss", role=roles.ADMIN)
    assert _sign_in("boss").get("/admin/").status_code == 200
