"""Detection results API: a study's result (with what it means at the calibrated points), its
maps as NIfTI or raw volumes, and the list of results. Every view is audited."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.core.permissions import ActionPermissions, MethodPermissions
from webapp.core.sendfile import file_response
from webapp.detection import maps, services
from webapp.detection.models import DetectionResult, ModelVersion
from webapp.detection.query_params import COHORT_PARAM, cohort_from_query, int_param
from webapp.detection.selectors import (
    latest_calibration,
    visible_results,
)
from webapp.detection.serializers import (
    DetectionResultSerializer,
    ResultSummarySerializer,
)

RESULT_PARAMS = [
    OpenApiParameter("result", OpenApiTypes.INT, description="a specific result of this study"),
    OpenApiParameter("model_version", OpenApiTypes.INT, description="the result of this model version"),
]


def find_result(request: Request, pk: int) -> DetectionResult:
    """The study's result the request names (?result=, ?model_version=, else the default), audited."""
    try:
        return services.view_result(
            request.user,
            pk,
            result_id=int_param(request, "result"),
            model_version_id=int_param(request, "model_version"),
        )
    except DetectionResult.DoesNotExist:
        raise NotFound(
            "no detection result for this study yet: launch detection or wait for its job"
        ) from None


class StudyResultView(APIView):
    permission_classes = [MethodPermissions]
    method_permissions = {"GET": ("studies.view_study", "detection.view_detectionresult")}

    @extend_schema(
        parameters=RESULT_PARAMS,
        responses={200: DetectionResultSerializer},
        tags=["detection"],
        description="The study's detection result (the active model's, else the newest): three "
        "patient scores (higher = more anomalous), peaks in LPS mm, the maps' grid and URLs, and "
        "what the fused score means at the newest calibration's operating points.",
    )
    def get(self, request: Request, pk: int) -> Response:
        result = find_result(request, pk)
        context = {"request": request, "interpretation": services.result_interpretation(result)}
        return Response(DetectionResultSerializer(result, context=context).data)


def _csv(values: list[float] | list[int]) -> str:
    return ",".join(repr(float(v)) if isinstance(v, float) else str(v) for v in values)


class StudyMapView(APIView):
    """One anomaly map as a raw typed array (format: webapp.detection.maps)."""

    permission_classes = [MethodPermissions]
    method_permissions = {"GET": ("studies.view_study", "detection.view_detectionresult")}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "kind", str, OpenApiParameter.PATH, enum=list(maps.KINDS), description="which map"
            ),
            *RESULT_PARAMS,
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="uint16 little-endian, C order (z, y, x); value = X-Map-Offset + q * "
                "X-Map-Scale. Sent with Content-Encoding: deflate when the client accepts it.",
            ),
            304: OpenApiResponse(description="not modified (If-None-Match)"),
        },
        tags=["detection"],
    )
    def get(self, request: Request, pk: int, kind: str) -> HttpResponse:
        if kind not in maps.KINDS:
            raise NotFound(f"maps are {', '.join(maps.KINDS)}")
        result = find_result(request, pk)
        info = result.maps.get(kind)
        path = result.maps_path / info["file"] if info else None
        if path is None or not path.is_file():
            raise NotFound(f"the {kind} map of this result is missing from storage")
        deflate = "deflate" in request.headers.get("Accept-Encoding", "").lower()
        etag = f'"{info["sha256"][:40]}{"-z" if deflate else ""}"'
        grid = result.grid
        headers = {
            "ETag": etag,
            # A URL naming its result never changes; the study's default result can (new model).
            "Cache-Control": (
                "private, max-age=31536000, immutable"
                if "result" in request.query_params
                else "private, no-cache"
            ),
            "Vary": "Accept-Encoding, Authorization, Cookie",
            "X-Map-Kind": kind,
            "X-Map-Dtype": info["dtype"],
            "X-Map-Byte-Order": info["byte_order"],
            "X-Map-Shape": _csv(grid["shape_zyx"]),
            "X-Map-Spacing": _csv(grid["spacing_zyx_mm"]),
            "X-Map-Origin": _csv(grid["origin_lps_mm"]),
            "X-Map-Direction": _csv([v for row in grid["direction_zyx"] for v in row]),
            "X-Map-Offset": repr(float(info["offset"])),
            "X-Map-Scale": repr(float(info["scale"])),
            "X-Result-Id": str(result.pk),
            "X-Model-Version": str(result.model_version_id),
        }
        if etag in parse_etags(request.headers.get("If-None-Match", "")):
            services.record_map_view(request.user, result, kind, 304)
            response = HttpResponse(status=304)
        elif deflate:
            services.record_map_view(request.user, result, kind, 200)
            response = file_response(path, "application/octet-stream")
            response["Content-Encoding"] = "deflate"
            response["Content-Length"] = str(info["stored_bytes"])
        else:
            services.record_map_view(request.user, result, kind, 200)
            response = StreamingHttpResponse(maps.iter_raw(path), content_type="application/octet-stream")
            response["Content-Length"] = str(info["raw_bytes"])
        for name, value in headers.items():
            response[name] = value
        return response


@extend_schema_view(list=extend_schema(parameters=[COHORT_PARAM], tags=["detection"]))
class ResultViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Results with their fused score's call at each operating point, most anomalous first."""

    serializer_class = ResultSummarySerializer
    permission_classes = [ActionPermissions]
    action_permissions = {"list": ("detection.view_detectionresult",)}
    filterset_fields = ["model_version"]
    ordering_fields = ["fused_score", "created_at", "id"]
    ordering = ["-fused_score", "-id"]

    def get_queryset(self) -> QuerySet[DetectionResult]:
        qs = visible_results(self.request.user).select_related("study__patient", "model_version")
        cohort = cohort_from_query(self.request)
        if cohort is not None:
            qs = qs.filter(study__cohort_links__cohort=cohort)
        return qs

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        points = {}
        for version in ModelVersion.objects.filter(detection_results__in=self.get_queryset()).distinct():
            calibration = latest_calibration(version)
            if calibration is not None:
                points[version.pk] = calibration.operating_points
        context["operating_points"] = points
        return context

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        rows = response.data.get("results", []) if isinstance(response.data, dict) else response.data
        services.record_results_list_view(
            request.user, [row["study"] for row in rows], dict(request.query_params)
        )
        return response
