"""Second sign-in factor (django-otp): an authenticator app's time-based codes (TOTP), with
single-use recovery codes.

Required for the admin role (``TWO_FACTOR_FOR_ADMINS``, on by default) and for anyone who has
set it up; optional for radiologists and coordinators. A session signed in with the password
only reaches nothing but the second-factor pages until the code is given (``TwoFactorMiddleware``);
API tokens are issued to such users only with a current code (``otp`` in the token request).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import qrcode
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import devices_for_user, user_has_device, verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from webapp.accounts import roles
from webapp.accounts.services import audit, user_role

RECOVERY_CODES = 10
AUTHENTICATOR = "authenticator"
RECOVERY = "recovery"


def role_requires(user: AbstractBaseUser) -> bool:
    return settings.TWO_FACTOR_FOR_ADMINS and user_role(user) == roles.ADMIN


def required_for(user: AbstractBaseUser) -> bool:
    """The user must give a second factor at sign-in: they set one up, or their role needs one."""
    return user_has_device(user, confirmed=True) or role_requires(user)


def is_enrolled(user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def pending_device(user: AbstractBaseUser) -> TOTPDevice:
    """The authenticator being set up (a new secret until its first code confirms it)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name=AUTHENTICATOR).first()
    return device or TOTPDevice.objects.create(user=user, confirmed=False, name=AUTHENTICATOR)


def qr_svg(device: TOTPDevice, module_px: int = 5) -> str:
    """The device's otpauth:// link as an inline SVG QR code (drawn here: no image request, no
    CDN, and plain SVG elements that an HTML page renders)."""
    code = qrcode.QRCode(border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(device.config_url)
    matrix = code.get_matrix()
    n = len(matrix)
    cells = "".join(f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark)
    size = n * module_px
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" width="{size}" height="{size}" '
        f'role="img" shape-rendering="crispEdges"><rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path d="{cells}" fill="#000"/></svg>'
    )


def secret_text(device: TOTPDevice) -> str:
    """The secret as an app asks for it when typed in: base32, in groups of four."""
    from base64 import b32encode

    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def new_recovery_codes(user: AbstractBaseUser) -> list[str]:
    """Replace the user's recovery codes with a new set (each works once); shown this once."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def confirm(user: AbstractBaseUser, code: str) -> list[str] | None:
    """Confirm the pending authenticator with its first code; the new recovery codes, or None."""
    device = pending_device(user)
    if not device.verify_token(_clean(code)):
        audit(user, "auth.2fa_setup_failed", user)
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = new_recovery_codes(user)
        audit(user, "auth.2fa_enabled", user)
    return codes


def verify(user: AbstractBaseUser, code: str):
    """The device that accepts ``code`` (an authenticator code or an unused recovery code)."""
    code = _clean(code)
    # each device checked on its own (throttling is per device): the authenticator, then the
    # recovery codes
    candidates = [
        *TOTPDevice.objects.filter(user=user, confirmed=True),
        *StaticDevice.objects.filter(user=user, confirmed=True),
    ]
    device = next((d for d in candidates if verify_token(user, d.persistent_id, code)), None)
    if device is None:
        audit(user, "auth.2fa_failed", user)
        return None
    used_recovery = isinstance(device, StaticDevice)
    remaining = device.token_set.count() if used_recovery else None
    audit(
        user, "auth.2fa_verified", user, details={"recovery_code": used_recovery, "recovery_left": remaining}
    )
    return device


def disable(user: AbstractBaseUser) -> None:
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=None):
            device.delete()
        audit(user, "auth.2fa_disabled", user)


def _clean(code: str) -> str:
    return re.sub(r"\s+", "", code or "").lower()


# Whether a password-only session needs the second factor, remembered in the session for this
# long: the viewer sends hundreds of requests a minute, and a role change still takes effect soon.
_REQUIRED_CHECK_TTL_S = 300
_REQUIRED_KEY = "_2fa_required"


def _required_for_session(request: HttpRequest) -> bool:
    now = int(time.time())
    cached = request.session.get(_REQUIRED_KEY)
    if cached and now - cached[1] < _REQUIRED_CHECK_TTL_S:
        return bool(cached[0])
    required = required_for(request.user)
    request.session[_REQUIRED_KEY] = [required, now]
    return required


# Pages a session without its second factor may still reach.
_OPEN_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/static/")


class TwoFactorMiddleware:
    """Holds a password-only session at the second-factor pages until it is verified."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not user.is_verified()
            and not request.path.startswith(_OPEN_PREFIXES)
            and _required_for_session(request)
        ):
            if request.path.startswith(("/api/", "/dicomweb/")):
                return JsonResponse(
                    {
                        "detail": "This account signs in with a second factor: give the code at /accounts/2fa/verify/."
                    },
                    status=403,
                )
            target = "accounts:2fa_verify" if is_enrolled(user) else "accounts:2fa_setup"
            return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
