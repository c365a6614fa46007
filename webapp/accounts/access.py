"""Access checks for server-rendered pages: sign-in first (a redirect to the login page), then the
role's permissions (403). Which objects a user sees is the selectors' business (404 otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

View = Callable[..., HttpResponse]


def page_requires(*perms: str) -> Callable[[View], View]:
    """Decorate a page view: anonymous users go to the login page, users whose role lacks
    ``perms`` get 403."""

    def decorate(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_active or not request.user.has_perms(perms):
                raise PermissionDenied("your role does not give access to this page")
            return view(request, *args, **kwargs)

        return login_required(checked)

    return decorate
