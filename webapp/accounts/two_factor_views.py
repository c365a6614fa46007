"""The second-factor pages: set up an authenticator, give a code at sign-in, renew recovery codes,
turn it off where the role allows."""

from __future__ import annotations

import django_otp
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods, require_POST

from webapp.accounts import two_factor


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return target if safe else "/"


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    recovery = user.staticdevice_set.filter(name=two_factor.RECOVERY).first()
    return render(
        request,
        "accounts/2fa.html",
        {
            "enrolled": two_factor.is_enrolled(user),
            "role_requires": two_factor.role_requires(user),
            "recovery_left": recovery.token_set.count() if recovery else 0,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    if two_factor.is_enrolled(user) and not user.is_verified():
        # replacing an authenticator takes the current one first
        return redirect(f"{reverse('accounts:2fa_verify')}?{urlencode({'next': _next(request)})}")
    device = two_factor.pending_device(user)
    error = ""
    if request.method == "POST":
        codes = two_factor.confirm(user, request.POST.get("code", ""))
        if codes is not None:
            django_otp.login(request, user.totpdevice_set.get(confirmed=True))
            return render(request, "accounts/2fa_codes.html", {"codes": codes, "next": _next(request)})
        error = "That code does not match. Check the time on your phone and try the newest code."
    return render(
        request,
        "accounts/2fa_setup.html",
        {
            "qr": two_factor.qr_svg(device),
            "secret": two_factor.secret_text(device),
            "error": error,
            "next": _next(request),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    if request.user.is_verified():
        return redirect(_next(request))
    error = ""
    if request.method == "POST":
        device = two_factor.verify(request.user, request.POST.get("code", ""))
        if device is not None:
            django_otp.login(request, device)
            return redirect(_next(request))
        error = "That code is not valid (or it was used already)."
    return render(request, "accounts/2fa_verify.html", {"error": error, "next": _next(request)})


@login_required
@require_POST
def renew_recovery_codes(request: HttpRequest) -> HttpResponse:
    if not (two_factor.is_enrolled(request.user) and request.user.is_verified()):
        return redirect("accounts:2fa")
    codes = two_factor.new_recovery_codes(request.user)
    two_factor.audit(request.user, "auth.2fa_recovery_codes_renewed", request.user)
    return render(request, "accounts/2fa_codes.html", {"codes": codes, "next": "/accounts/2fa/"})


@login_required
@require_POST
def disable(request: HttpRequest) -> HttpResponse:
    if not two_factor.role_requires(request.user) and request.user.is_verified():
        two_factor.disable(request.user)
    return redirect("accounts:2fa")
