"""Error reports through sentry-sdk, started by settings only when SENTRY_DSN is set.

Patient data stays home: no request bodies, cookies, headers' values, local variables or user
details are sent, only the exception, its stack (file, line, function) and the request's
method, path and id. Performance tracing is off (a screening site's traces name studies).
"""

from __future__ import annotations

from typing import Any

_KEEP_REQUEST = ("method", "url")


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Drop everything from an event that could carry patient data."""
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = {k: request[k] for k in _KEEP_REQUEST if k in request}
        if "url" in event["request"]:
            event["request"]["url"] = str(event["request"]["url"]).split("?", 1)[0]
    event.pop("user", None)
    event.pop("extra", None)
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    return event


def start_error_reports(dsn: str, *, environment: str, release: str = "") -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=0.0,
        before_send=scrub,
    )
