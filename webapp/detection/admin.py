from django.contrib import admin

from webapp.accounts.admin_audit import ReadOnlyAuditedAdmin
from webapp.detection.models import Calibration, DetectionJob, DetectionResult, ModelVersion, TrainingJob

# Jobs and results are written by workers: the admin site shows them, changes go through the API.
_JOB_FIELDS = ("status", "progress", "stage", "attempts", "worker", "device", "created_at", "finished_at")


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAuditedAdmin):
    list_display = ("name", "status", "source", "is_active", "created_by", "created_at")
    list_filter = ("status", "source", "is_active")
    search_fields = ("name",)


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAuditedAdmin):
    list_display = ("id", "model_version", "cohort", *_JOB_FIELDS)
    list_filter = ("status",)


@admin.register(DetectionJob)
class DetectionJobAdmin(ReadOnlyAuditedAdmin):
    list_display = ("id", "study", "model_version", *_JOB_FIELDS)
    list_filter = ("status", "queue")
    raw_id_fields = ("study", "cohort")


@admin.register(DetectionResult)
class DetectionResultAdmin(ReadOnlyAuditedAdmin):
    list_display = (
        "id",
        "study",
        "model_version",
        "fused_score",
        "global_score",
        "local_score",
        "created_at",
    )
    raw_id_fields = ("study", "job")


@admin.register(Calibration)
class CalibrationAdmin(ReadOnlyAuditedAdmin):
    list_display = ("id", "cohort", "model_version", "n_normal", "n_abnormal", *_JOB_FIELDS)
    list_filter = ("status",)
