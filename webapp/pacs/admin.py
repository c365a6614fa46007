from django.contrib import admin

from webapp.accounts.admin_audit import AuditedModelAdmin, ReadOnlyAuditedAdmin
from webapp.pacs.models import Delivery, DicomNode, ReceivedStudy, ResultObject


@admin.register(DicomNode)
class DicomNodeAdmin(AuditedModelAdmin):
    list_display = ("name", "ae_title", "host", "port", "dicomweb_url", "cohort", "send_results", "enabled")
    list_filter = ("enabled", "send_results")
    search_fields = ("name", "ae_title", "host")
    raw_id_fields = ("cohort",)


@admin.register(ReceivedStudy)
class ReceivedStudyAdmin(ReadOnlyAuditedAdmin):
    list_display = ("study", "cohort", "calling_ae", "instances", "last_received_at", "queued_at")
    list_filter = ("calling_ae",)
    raw_id_fields = ("study", "cohort")


@admin.register(ResultObject)
class ResultObjectAdmin(ReadOnlyAuditedAdmin):
    list_display = ("result", "kind", "sop_instance_uid", "size", "created_at")
    list_filter = ("kind",)
    raw_id_fields = ("result",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAuditedAdmin):
    list_display = ("result", "node", "status", "via", "created_at", "finished_at")
    list_filter = ("status", "node")
    raw_id_fields = ("result",)
