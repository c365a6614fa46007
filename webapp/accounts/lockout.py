"""What a client locked out for too many failed sign-ins is told (django-axes calls this), and
the audit row each refused attempt leaves."""

from __future__ import annotations

import math
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from webapp.accounts.services import audit

LOCKED_OUT_STATUS = 429


def _minutes() -> int:
    return max(math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60), 1)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """429 with a Retry-After: JSON for the API, the lockout page for a browser."""
    minutes = _minutes()
    message = f"Too many failed sign-ins. Try again in {minutes} minutes, or ask an administrator to unlock the account."
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=LOCKED_OUT_STATUS)
    else:
        response = render(request, "accounts/locked_out.html", {"message": message}, status=LOCKED_OUT_STATUS)
    response["Retry-After"] = str(minutes * 60)
    return response


@receiver(user_locked_out, dispatch_uid="accounts.audit_lockout")
def audit_lockout(
    sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    audit(
        None,
        "auth.locked_out",
        details={"username": str(username or "")[:150], "path": getattr(request, "path", "")},
        ip_address=ip_address,
    )
