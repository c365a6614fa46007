"""Detection API: model versions, training jobs, detection jobs, calibrations (results and maps:
result_views.py).

Thin: parse, call the service, serialize. Roles are checked per action (403); objects come
from querysets limited to what the user sees (404 for the rest).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.cohorts.selectors import visible_cohorts
from webapp.core.permissions import ActionPermissions, MethodPermissions
from webapp.detection import services
from webapp.detection.models import Calibration, DetectionJob, ModelVersion, TrainingJob
from webapp.detection.query_params import COHORT_PARAM, cohort_from_query, int_param
from webapp.detection.selectors import (
    active_model_version,
    latest_calibration,
    visible_calibrations,
    visible_jobs,
    visible_model_versions,
    visible_training_jobs,
)
from webapp.detection.serializers import (
    CalibrateRequestSerializer,
    CalibrationOperatingPointsSerializer,
    CalibrationSerializer,
    CalibrationSummarySerializer,
    DetectionJobSerializer,
    ImportModelRequestSerializer,
    LaunchSerializer,
    ModelVersionSerializer,
    TrainingJobSerializer,
    TrainRequestSerializer,
)


def _launch_body(result: services.LaunchResult) -> dict[str, Any]:
    return {
        "model_version": result.model_version,
        "created_count": len(result.created),
        "existing_count": len(result.existing),
        "jobs": [*result.created, *result.existing],
    }


# --- model versions and training -------------------------------------------------------------
@extend_schema_view(list=extend_schema(tags=["models"]), retrieve=extend_schema(tags=["models"]))
class ModelVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ModelVersionSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {
        "list": ("detection.view_modelversion",),
        "retrieve": ("detection.view_modelversion",),
        "import_model": ("detection.import_modelversion",),
        "train": ("detection.train_modelversion", "cohorts.view_cohort"),
        "activate": ("detection.activate_modelversion",),
    }
    filterset_fields = ["status", "is_active"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return visible_model_versions(self.request.user).select_related("created_by", "training_job")

    @extend_schema(
        request=ImportModelRequestSerializer,
        responses={201: ModelVersionSerializer},
        tags=["models"],
        description="Register a detector model directory (model.pt + model.json) found under "
        "MODEL_IMPORT_ROOT; the files are copied into the site's media.",
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_model(self, request: Request) -> Response:
        body = ImportModelRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = services.import_model_version(
            request.user,
            body.validated_data["directory"],
            name=body.validated_data["name"],
            activate=body.validated_data["activate"],
        )
        data = ModelVersionSerializer(version, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=TrainRequestSerializer,
        responses={202: TrainingJobSerializer},
        tags=["models"],
        description="Train a model version from a normal reference cohort on a worker; follow "
        "the returned training job.",
    )
    @action(detail=False, methods=["post"])
    def train(self, request: Request) -> Response:
        body = TrainRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        cohort = visible_cohorts(request.user).get(pk=data["cohort"])
        job = services.launch_training(
            request.user,
            cohort,
            name=data["name"],
            epochs=data["epochs"],
            settings_overrides=data["settings"],
            activate=data["activate"],
        )
        return Response(TrainingJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: ModelVersionSerializer}, tags=["models"])
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        version = services.activate_model_version(request.user, self.get_object())
        return Response(ModelVersionSerializer(version, context=self.get_serializer_context()).data)


class _JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    filterset_fields = ["status"]
    ordering_fields = ["created_at", "id", "status"]
    ordering = ["-created_at", "-id"]

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = services.cancel_job(request.user, self.get_object())
        return Response(self.get_serializer(job).data)


@extend_schema_view(
    list=extend_schema(tags=["models"]),
    retrieve=extend_schema(tags=["models"]),
    cancel=extend_schema(
        request=None, tags=["models"], description="Cancel a queued or running training job."
    ),
)
class TrainingJobViewSet(_JobViewSet):
    serializer_class = TrainingJobSerializer
    action_permissions = {
        "list": ("detection.view_trainingjob",),
        "retrieve": ("detection.view_trainingjob",),
        "cancel": ("detection.view_trainingjob", "detection.train_modelversion"),
    }

    def get_queryset(self) -> QuerySet[TrainingJob]:
        return visible_training_jobs(self.request.user).select_related("model_version", "requested_by")


# --- detection jobs --------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        parameters=[
            COHORT_PARAM,
            OpenApiParameter("study", OpenApiTypes.INT, description="only this study's jobs"),
        ],
        tags=["detection"],
    ),
    retrieve=extend_schema(tags=["detection"]),
    cancel=extend_schema(
        request=None,
        tags=["detection"],
        description="Cancel a detection job: a queued one at once, a running one at its next checkpoint.",
    ),
)
class DetectionJobViewSet(_JobViewSet):
    serializer_class = DetectionJobSerializer
    action_permissions = {
        "list": ("detection.view_detectionjob",),
        "retrieve": ("detection.view_detectionjob",),
        "cancel": ("detection.view_detectionjob", "detection.launch_detection"),
    }

    def get_queryset(self) -> QuerySet[DetectionJob]:
        qs = visible_jobs(self.request.user).select_related(
            "study", "model_version", "requested_by", "result"
        )
        if self.action == "list":
            cohort = cohort_from_query(self.request)
            if cohort is not None:
                qs = qs.filter(study__cohort_links__cohort=cohort)
            study = self.request.query_params.get("study")
            if study is not None:
                if not study.isdigit():
                    raise Http404("study must be a study id")
                qs = qs.filter(study_id=int(study))
        return qs


class CohortDetectView(APIView):
    permission_classes = [MethodPermissions]
    method_permissions = {"POST": ("cohorts.view_cohort", "detection.launch_detection")}

    @extend_schema(
        request=None,
        responses={202: LaunchSerializer},
        tags=["detection"],
        description="Queue detection with the active model version for every study of the cohort; "
        "studies with a queued, running or finished job for that version keep it.",
    )
    def post(self, request: Request, pk: int) -> Response:
        cohort = visible_cohorts(request.user).get(pk=pk)
        result = services.launch_detection_for_cohort(request.user, cohort)
        return Response(LaunchSerializer(_launch_body(result)).data, status=status.HTTP_202_ACCEPTED)


class StudyDetectView(APIView):
    permission_classes = [MethodPermissions]
    method_permissions = {"POST": ("studies.view_study", "detection.launch_detection")}

    @extend_schema(
        request=None,
        responses={202: LaunchSerializer},
        tags=["detection"],
        description="Queue detection of one study with the active model version.",
    )
    def post(self, request: Request, pk: int) -> Response:
        result = services.launch_detection_for_study(request.user, pk)
        return Response(LaunchSerializer(_launch_body(result)).data, status=status.HTTP_202_ACCEPTED)


# --- calibration -----------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(tags=["calibration"]),
    retrieve=extend_schema(tags=["calibration"]),
    cancel=extend_schema(
        request=None, tags=["calibration"], description="Cancel a queued or running calibration."
    ),
)
class CalibrationViewSet(_JobViewSet):
    action_permissions = {
        "list": ("detection.view_calibration",),
        "retrieve": ("detection.view_calibration",),
        "latest": ("detection.view_calibration",),
        "roc": ("detection.view_calibration",),
        "cancel": ("detection.view_calibration", "detection.run_calibration"),
    }
    filterset_fields = ["status", "model_version", "cohort"]

    def get_serializer_class(self):
        return CalibrationSummarySerializer if self.action in {"list", "cancel"} else CalibrationSerializer

    def get_queryset(self) -> QuerySet[Calibration]:
        return visible_calibrations(self.request.user).select_related("model_version", "requested_by")

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        calibration = services.view_calibration(request.user, self.get_object())
        return Response(CalibrationSerializer(calibration).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "model_version", OpenApiTypes.INT, description="default: the active model version"
            )
        ],
        responses={200: CalibrationSerializer},
        tags=["calibration"],
        description=(
            "The newest finished calibration of a model version (the active one by default). On a "
            "cohort the user does not see: only its ROC and operating points (no cohort, no "
            "per-study scores)."
        ),
    )
    @action(detail=False, methods=["get"])
    def latest(self, request: Request) -> Response:
        version_id = int_param(request, "model_version")
        version = (
            ModelVersion.objects.filter(pk=version_id).first()
            if version_id is not None
            else active_model_version()
        )
        calibration = latest_calibration(version)
        if calibration is None:
            raise NotFound("no finished calibration of this model version")
        if not self.get_queryset().filter(pk=calibration.pk).exists():
            # Another cohort's calibration: its operating points are what every reader's calls
            # use (worklists, the viewer), its per-study scores are not for this user.
            return Response(CalibrationOperatingPointsSerializer(calibration).data)
        calibration = services.view_calibration(request.user, calibration)
        return Response(CalibrationSerializer(calibration).data)

    @extend_schema(
        responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="ROC curves, PNG")},
        tags=["calibration"],
    )
    @action(detail=True, methods=["get"], url_name="roc")
    def roc(self, request: Request, pk: str | None = None) -> HttpResponse:
        calibration = self.get_object()
        path = services.media_path(calibration.roc_plot) if calibration.roc_plot else None
        if path is None or not path.is_file():
            raise NotFound("this calibration has no ROC plot (not finished?)")
        services.view_calibration(request.user, calibration)
        response = FileResponse(path.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class CohortCalibrateView(APIView):
    permission_classes = [MethodPermissions]
    method_permissions = {"POST": ("cohorts.view_cohort", "detection.run_calibration")}

    @extend_schema(
        request=CalibrateRequestSerializer,
        responses={202: CalibrationSummarySerializer},
        tags=["calibration"],
        description="Score this labelled calibration cohort with a model version (the active one "
        "by default) on a worker: ROC, AUC and operating points per branch.",
    )
    def post(self, request: Request, pk: int) -> Response:
        cohort = visible_cohorts(request.user).get(pk=pk)
        body = CalibrateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = None
        if body.validated_data["model_version"] is not None:
            version = ModelVersion.objects.get(pk=body.validated_data["model_version"])
        calibration = services.launch_calibration(request.user, cohort, model_version=version)
        return Response(CalibrationSummarySerializer(calibration).data, status=status.HTTP_202_ACCEPTED)
