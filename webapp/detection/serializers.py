from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.detection.models import Calibration, DetectionJob, DetectionResult, ModelVersion, TrainingJob
from webapp.detection.points import calibration_warnings, points_of

_TRAINING_SUMMARY = ("n_normals", "epochs", "device", "seconds", "final_loss", "cohort")

_JOB_FIELDS = [
    "id",
    "status",
    "progress",
    "stage",
    "error",
    "cancel_requested",
    "attempts",
    "queue",
    "worker",
    "device",
    "timings",
    "requested_by",
    "created_at",
    "started_at",
    "finished_at",
]


class _JobSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(source="requested_by.username", read_only=True, default=None)


class ModelVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    settings = serializers.JSONField(source="detector_settings", read_only=True)
    training = serializers.SerializerMethodField()
    training_job = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "status",
            "source",
            "is_active",
            "created_at",
            "created_by",
            "training_cohort",
            "detector_version",
            "model_sha256",
            "settings",
            "training",
            "training_job",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_training(self, version: ModelVersion) -> dict[str, Any]:
        training = version.meta.get("training", {}) or {}
        return {k: training.get(k) for k in _TRAINING_SUMMARY if k in training}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_training_job(self, version: ModelVersion) -> dict[str, Any] | None:
        job = getattr(version, "training_job", None)
        if job is None:
            return None
        return {"id": job.pk, "status": job.status, "progress": job.progress, "stage": job.stage}

    def to_representation(self, version: ModelVersion) -> dict[str, Any]:
        data = super().to_representation(version)
        request = self.context.get("request")
        # The full model.json names the training patients: admins only.
        if request is not None and request.user.has_perm("detection.import_modelversion"):
            data["meta"] = version.meta
        return data


class ImportModelRequestSerializer(serializers.Serializer):
    directory = serializers.CharField(
        help_text="model directory (model.pt + model.json) under MODEL_IMPORT_ROOT"
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    activate = serializers.BooleanField(default=False)


class TrainRequestSerializer(serializers.Serializer):
    cohort = serializers.IntegerField(help_text="a normal reference cohort")
    name = serializers.CharField(max_length=200)
    epochs = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="the local branch's training length: steps (fpi, the default) or epochs (csi)",
    )
    settings = serializers.DictField(
        required=False, default=dict, help_text="detector ModelSettings overrides, name -> value"
    )
    activate = serializers.BooleanField(default=False, help_text="activate the model once trained")


class TrainingJobSerializer(_JobSerializer):
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)

    class Meta:
        model = TrainingJob
        fields = [
            *_JOB_FIELDS,
            "model_version",
            "model_version_name",
            "cohort",
            "epochs",
            "settings_overrides",
            "activate_when_done",
        ]
        read_only_fields = fields


class DetectionJobSerializer(_JobSerializer):
    study_instance_uid = serializers.CharField(source="study.study_instance_uid", read_only=True)
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)
    result = serializers.SerializerMethodField()

    class Meta:
        model = DetectionJob
        fields = [
            *_JOB_FIELDS,
            "study",
            "study_instance_uid",
            "cohort",
            "model_version",
            "model_version_name",
            "result",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_result(self, job: DetectionJob) -> int | None:
        result = getattr(job, "result", None) if job.status == "done" else None
        return result.pk if result is not None else None


class LaunchSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(source="model_version.pk")
    model_version_name = serializers.CharField(source="model_version.name")
    created = serializers.IntegerField(source="created_count")
    existing = serializers.IntegerField(source="existing_count")
    jobs = DetectionJobSerializer(many=True)


class CalibrateRequestSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="default: the active model version"
    )


def _trust(calibration: Calibration) -> dict[str, Any]:
    """How far the fused score's named points can be trusted: exact 95 % intervals of their
    sensitivity and specificity, the counts they come from, and warnings."""
    return {
        "n_normal": calibration.n_normal,
        "n_abnormal": calibration.n_abnormal,
        "warnings": calibration_warnings(
            calibration.n_normal, calibration.n_abnormal, calibration.operating_points
        ),
        "intervals": {
            name: {"sensitivity_ci": p.sensitivity_ci, "specificity_ci": p.specificity_ci}
            for name, p in calibration.points().items()
        },
    }


class CalibrationSummarySerializer(_JobSerializer):
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)
    roc_plot_url = serializers.SerializerMethodField()
    trust = serializers.SerializerMethodField(help_text="95 % intervals of the named points and warnings")

    class Meta:
        model = Calibration
        fields = [
            *_JOB_FIELDS,
            "cohort",
            "model_version",
            "model_version_name",
            "n_normal",
            "n_abnormal",
            "n_unreadable",
            "auc",
            "operating_points",
            "trust",
            "roc_plot_url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_trust(self, calibration: Calibration) -> dict[str, Any]:
        return _trust(calibration)

    @extend_schema_field(OpenApiTypes.URI)
    def get_roc_plot_url(self, calibration: Calibration) -> str | None:
        if not calibration.roc_plot:
            return None
        return reverse("calibration-roc", kwargs={"pk": calibration.pk})


class CalibrationOperatingPointsSerializer(serializers.ModelSerializer):
    """What every reader of a model version's scores needs from its newest calibration: the ROC
    and the operating points. Not the cohort, its counts' plot or its per-study scores (those
    name the calibration cohort's patients)."""

    model_version_name = serializers.CharField(source="model_version.name", read_only=True)
    trust = serializers.SerializerMethodField(help_text="95 % intervals of the named points and warnings")

    class Meta:
        model = Calibration
        fields = [
            "id",
            "model_version",
            "model_version_name",
            "finished_at",
            "auc",
            "operating_points",
            "trust",
            "roc",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_trust(self, calibration: Calibration) -> dict[str, Any]:
        return _trust(calibration)


class CalibrationSerializer(CalibrationSummarySerializer):
    class Meta(CalibrationSummarySerializer.Meta):
        fields = [*CalibrationSummarySerializer.Meta.fields, "roc", "per_study"]
        read_only_fields = fields


class DetectionResultSerializer(serializers.ModelSerializer):
    study_instance_uid = serializers.CharField(source="study.study_instance_uid", read_only=True)
    model_version = serializers.SerializerMethodField()
    maps = serializers.SerializerMethodField()
    interpretation = serializers.SerializerMethodField()

    class Meta:
        model = DetectionResult
        fields = [
            "id",
            "study",
            "study_instance_uid",
            "series_instance_uid",
            "job",
            "model_version",
            "global_score",
            "local_score",
            "fused_score",
            "local_normality",
            "view_scores",
            "n_cubes",
            "peaks",
            "grid",
            "maps",
            "interpretation",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_model_version(self, result: DetectionResult) -> dict[str, Any]:
        version = result.model_version
        return {"id": version.pk, "name": version.name, "is_active": version.is_active}

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_maps(self, result: DetectionResult) -> dict[str, Any]:
        out = {}
        for kind, info in result.maps.items():
            url = reverse("study-map", kwargs={"pk": result.study_id, "kind": kind})
            out[kind] = {
                "url": f"{url}?result={result.pk}",
                "dtype": info["dtype"],
                "byte_order": info["byte_order"],
                "offset": info["offset"],
                "scale": info["scale"],
                "raw_bytes": info["raw_bytes"],
                "stored_bytes": info["stored_bytes"],
            }
        return out

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_interpretation(self, result: DetectionResult) -> dict[str, Any] | None:
        return self.context.get("interpretation")


class ResultSummarySerializer(serializers.ModelSerializer):
    study_instance_uid = serializers.CharField(source="study.study_instance_uid", read_only=True)
    patient_id = serializers.CharField(source="study.patient.patient_id", read_only=True)
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)
    calls = serializers.SerializerMethodField(help_text="positive/negative at each named operating point")

    class Meta:
        model = DetectionResult
        fields = [
            "id",
            "study",
            "study_instance_uid",
            "patient_id",
            "model_version",
            "model_version_name",
            "global_score",
            "local_score",
            "fused_score",
            "calls",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_calls(self, result: DetectionResult) -> dict[str, str]:
        points = points_of(self.context.get("operating_points", {}).get(result.model_version_id))
        return {name: point.call(result.fused_score) for name, point in points.items()}
