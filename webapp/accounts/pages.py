"""The audit browser: admins filter the trail by user, action, object and date range."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from webapp.accounts.access import page_requires
from webapp.accounts.audit_view import present
from webapp.accounts.models import AuditEvent
from webapp.accounts.services import audit

EVENTS_PER_PAGE = 100


def _day(raw: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


@page_requires("accounts.view_auditevent")
def audit_browser(request: HttpRequest) -> HttpResponse:
    q = {
        k: request.GET.get(k, "").strip()
        for k in ("user", "action", "object_type", "object_id", "since", "until")
    }
    events = AuditEvent.objects.all()
    if q["user"]:
        events = events.filter(actor_username__iexact=q["user"])
    if q["action"]:
        events = events.filter(action=q["action"])
    if q["object_type"]:
        events = events.filter(object_type=q["object_type"])
    if q["object_id"]:
        events = events.filter(object_id=q["object_id"])
    since, until = _day(q["since"]), _day(q["until"])
    zone = timezone.get_current_timezone()
    if since:
        events = events.filter(created_at__gte=dt.datetime.combine(since, dt.time.min, zone))
    if until:
        events = events.filter(
            created_at__lt=dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, zone)
        )
    page = Paginator(events.order_by("-created_at", "-id"), EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    with transaction.atomic():
        # The trail holds patient identifiers: looking at it is itself on the trail.
        audit(
            request.user,
            "audit.browsed",
            object_type="accounts.auditevent",
            details={"filters": q, "page": page.number},
        )
    query = urlencode({k: v for k, v in q.items() if v})
    return render(
        request,
        "accounts/audit.html",
        {
            "page": page,
            "events": present(list(page)),
            "q": q,
            "query": query,
            "actions": AuditEvent.objects.order_by("action")
            .values_list("action", flat=True)
            .distinct()[:300],
            "object_types": AuditEvent.objects.exclude(object_type="")
            .order_by("object_type")
            .values_list("object_type", flat=True)
            .distinct()[:100],
            "bad_dates": [k for k in ("since", "until") if q[k] and _day(q[k]) is None],
        },
    )
