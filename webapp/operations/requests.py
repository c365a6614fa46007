"""One id per web request, and one log line per request.

The id comes from the reverse proxy (nginx sends its $request_id as X-Request-ID) when it looks
like one, else is made here; it is bound to every log line written while the request is served,
returned in the response's X-Request-ID, and carried to the worker with any job the request
queues (webapp/operations/job_logs.py). The request line names the path, never the query string
(QIDO queries can carry a patient's name), and the user by id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from webapp.logs import bound

log = logging.getLogger("webapp.requests")

HEADER = "X-Request-ID"
_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Probes poll every few seconds; their lines would drown the rest.
QUIET_PATHS = frozenset({"/healthz", "/readyz"})


def request_id_for(request: HttpRequest) -> str:
    offered = request.headers.get(HEADER, "")
    return offered if _ACCEPTED_ID.match(offered) else uuid.uuid4().hex


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request)
        request.request_id = request_id
        started = time.perf_counter()
        with bound(request_id=request_id):
            response = self.get_response(request)
            response[HEADER] = request_id
            user = getattr(request, "user", None)
            level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
            log.log(
                level,
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                    "bytes": None if response.streaming else len(response.content),
                },
            )
        return response
