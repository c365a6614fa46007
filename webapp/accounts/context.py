"""Where the current request comes from, for audit rows written deep inside services."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("fusionscreen_request_context", default=None)


def current_request_context() -> RequestContext | None:
    return _current.get()


def set_request_context(ctx: RequestContext | None):  # -> contextvars.Token
    return _current.set(ctx)


def reset_request_context(token) -> None:
    _current.reset(token)
