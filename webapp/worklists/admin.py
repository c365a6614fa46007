from django.contrib import admin

from webapp.accounts.admin_audit import AuditedModelAdmin
from webapp.worklists.models import ItemProgress, Read, Worklist, WorklistAssignment, WorklistItem


class AssignmentInline(admin.TabularInline):
    model = WorklistAssignment
    extra = 0
    raw_id_fields = ("reader", "assigned_by")


@admin.register(Worklist)
class WorklistAdmin(AuditedModelAdmin):
    list_display = ("name", "cohort", "model_version", "created_by", "created_at")
    search_fields = ("name",)
    raw_id_fields = ("cohort", "model_version", "created_by")
    inlines = [AssignmentInline]


@admin.register(WorklistItem)
class WorklistItemAdmin(AuditedModelAdmin):
    list_display = ("id", "worklist", "study", "fused_score")
    raw_id_fields = ("worklist", "study", "result")


@admin.register(ItemProgress)
class ItemProgressAdmin(AuditedModelAdmin):
    list_display = ("item", "reader", "status", "first_opened_at", "read_at")
    list_filter = ("status",)
    raw_id_fields = ("item", "reader")


@admin.register(Read)
class ReadAdmin(AuditedModelAdmin):
    """Reads are evidence: shown, never edited here (a correction is an amendment by its reader)."""

    list_display = ("id", "item", "reader", "version", "is_current", "verdict", "fused_score", "created_at")
    list_filter = ("verdict", "is_current")
    readonly_fields = [f.name for f in Read._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
