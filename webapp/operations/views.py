"""/healthz and /readyz: unauthenticated, JSON, no patient data, never cached."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from webapp.operations.health import readiness


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers. A load balancer restarts a process that stops answering."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: 200 when every check passes, 503 with the failing ones named otherwise."""
    ok, checks = readiness()
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )
