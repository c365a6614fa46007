from django.contrib import admin

from webapp.accounts.admin_audit import AuditedModelAdmin
from webapp.cohorts.models import Cohort, CohortLabel, CohortMember, CohortStudy


class CohortMemberInline(admin.TabularInline):
    model = CohortMember
    fk_name = "cohort"
    extra = 0
    raw_id_fields = ("user", "added_by")


@admin.register(Cohort)
class CohortAdmin(AuditedModelAdmin):
    list_display = ("name", "purpose", "created_by", "created_at")
    list_filter = ("purpose",)
    search_fields = ("name",)
    inlines = [CohortMemberInline]
    raw_id_fields = ("created_by",)
    readonly_fields = ("deidentify",)  # decided at creation: its studies are pseudonymised alike


@admin.register(CohortStudy)
class CohortStudyAdmin(AuditedModelAdmin):
    list_display = ("cohort", "study", "added_by", "added_at")
    raw_id_fields = ("cohort", "study", "added_by")


@admin.register(CohortLabel)
class CohortLabelAdmin(AuditedModelAdmin):
    list_display = ("cohort", "study_instance_uid", "label", "lesion_type", "lesion_diameter_mm")
    list_filter = ("label",)
    raw_id_fields = ("cohort",)
