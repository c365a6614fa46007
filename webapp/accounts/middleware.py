"""Request-wide concerns of accounts: the client address for audit rows, and the session's
sliding expiry."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from webapp.accounts.context import RequestContext, reset_request_context, set_request_context


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP: REMOTE_ADDR, or behind N trusted proxies the N-th X-Forwarded-For entry
    from the right (the one our own outermost proxy wrote)."""
    candidate = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = set_request_context(RequestContext(ip_address=client_ip(request)))
        try:
            return self.get_response(request)
        finally:
            reset_request_context(token)


REFRESHED_KEY = "_refreshed_at"
_clock = time.time  # a seam for tests


class SessionRefreshMiddleware:
    """Keeps a signed-in session alive while it is used, saving it at most once per
    SESSION_REFRESH_SECONDS (instead of SESSION_SAVE_EVERY_REQUEST's write on every request).
    Saving moves the session's expiry SESSION_COOKIE_AGE into the future."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.session_key and request.user.is_authenticated:
            now = int(_clock())
            if now - int(session.get(REFRESHED_KEY, 0)) >= settings.SESSION_REFRESH_SECONDS:
                session[REFRESHED_KEY] = now  # marks it modified: SessionMiddleware saves it
        return self.get_response(request)
