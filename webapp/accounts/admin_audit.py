"""Django's admin as an audited door: every change made there, and every look at a list or an
object, is written to the audit trail like the same action through the API would be."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse

from webapp.accounts.services import audit

LISTED_IDS_KEPT = 500


class AuditedModelAdmin(admin.ModelAdmin):
    def _label(self) -> str:
        return self.model._meta.label_lower

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        audit(request.user, "admin.added", obj, details={"change": message})
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        audit(request.user, "admin.changed", obj, details={"change": message})
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            audit(request.user, "admin.deleted", obj, details={"object": str(obj)[:200]})
        return super().log_deletions(request, queryset)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl") if response.status_code == 200 else None
        if changelist is not None:
            ids = [str(obj.pk) for obj in changelist.result_list][:LISTED_IDS_KEPT]
            audit(
                request.user,
                "admin.listed",
                object_type=self._label(),
                details={"ids": ids, "query": self.audited_query(request)[:500]},
            )
        return response

    def audited_query(self, request: HttpRequest) -> str:
        """The list page's query string as the audit row keeps it."""
        return request.GET.urlencode()

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        response = super().changeform_view(request, object_id, form_url, extra_context)
        if object_id is not None and request.method == "GET" and response.status_code == 200:
            audit(request.user, "admin.viewed", object_type=self._label(), object_id=unquote(object_id)[:64])
        return response

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        response = super().history_view(request, object_id, extra_context)
        if response.status_code == 200:
            audit(
                request.user,
                "admin.history_viewed",
                object_type=self._label(),
                object_id=unquote(object_id)[:64],
            )
        return response


class ReadOnlyAuditedAdmin(AuditedModelAdmin):
    """Rows written by the site itself (ingest, workers): shown in the admin, changed only
    through the site's own services."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
