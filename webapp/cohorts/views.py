"""Cohort API: create, list, detail, upload studies, attach labels, add members.

Thin: parse the request, call the service, serialize the result. Role checks are per action
(ActionPermissions, 403); object access is the queryset (a cohort you are not in is 404).
"""

from __future__ import annotations

from dataclasses import asdict

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.cohorts import services
from webapp.cohorts.models import Cohort
from webapp.cohorts.selectors import visible_cohorts, with_counts
from webapp.cohorts.serializers import (
    CohortSerializer,
    LabelsRequestSerializer,
    LabelsResultSerializer,
    MemberRequestSerializer,
    MemberSerializer,
    UploadRequestSerializer,
)
from webapp.core.permissions import ActionPermissions
from webapp.studies.serializers import IngestResultSerializer

_VIEW = ("cohorts.view_cohort",)


@extend_schema_view(
    list=extend_schema(tags=["cohorts"]),
    retrieve=extend_schema(tags=["cohorts"]),
    create=extend_schema(tags=["cohorts"]),
)
class CohortViewSet(
    mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = CohortSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {
        "list": _VIEW,
        "retrieve": _VIEW,
        "create": ("cohorts.add_cohort",),
        "upload": _VIEW + ("cohorts.upload_studies",),
        "labels": _VIEW + ("cohorts.attach_labels",),
        "members": _VIEW + ("cohorts.manage_members",),
    }
    filterset_fields = ["purpose"]
    search_fields = ["name", "description"]
    ordering_fields = ["created_at", "name", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[Cohort]:
        return with_counts(visible_cohorts(self.request.user).select_related("created_by"))

    def perform_create(self, serializer: CohortSerializer) -> None:
        data = serializer.validated_data
        cohort = services.create_cohort(
            self.request.user,
            name=data["name"],
            purpose=data["purpose"],
            description=data.get("description", ""),
            deidentify=data.get("deidentify", False),
        )
        serializer.instance = self.get_queryset().get(pk=cohort.pk)

    @extend_schema(
        request={"multipart/form-data": UploadRequestSerializer},
        responses={200: IngestResultSerializer},
        tags=["cohorts"],
        description="Upload DICOM files and/or zip archives (several `file` parts allowed). "
        "Every file gets a verdict: accepted, duplicate or rejected with a reason.",
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def upload(self, request: Request, pk: str | None = None) -> Response:
        cohort = self.get_object()
        files = request.FILES.getlist("file")
        result = services.upload_to_cohort(request.user, cohort, files)
        body = {"cohort": cohort.pk, **result.summary(), "study_ids": result.study_ids}
        body["files"] = [asdict(f) for f in result.files]
        return Response(IngestResultSerializer(body).data)

    @extend_schema(
        request={"multipart/form-data": LabelsRequestSerializer},
        responses={200: LabelsResultSerializer},
        tags=["cohorts"],
        description="Replace a calibration cohort's labels with a labels CSV (study_instance_uid, patient_id, "
        "folder, label, lesion_type, lesion_center_{x,y,z}_mm, lesion_diameter_mm[, lesion_site]).",
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def labels(self, request: Request, pk: str | None = None) -> Response:
        cohort = self.get_object()
        upload = request.FILES.get("file")
        if upload is None:
            return Response(
                {"file": ["send the labels CSV in the 'file' field"]}, status=status.HTTP_400_BAD_REQUEST
            )
        result = services.attach_labels(request.user, cohort, upload)
        return Response(LabelsResultSerializer({"cohort": cohort.pk, **asdict(result)}).data)

    @extend_schema(request=MemberRequestSerializer, responses={201: MemberSerializer}, tags=["cohorts"])
    @action(detail=True, methods=["post"])
    def members(self, request: Request, pk: str | None = None) -> Response:
        cohort = self.get_object()
        serializer = MemberRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = services.add_member(request.user, cohort, serializer.validated_data["username"])
        return Response(MemberSerializer(member).data, status=status.HTTP_201_CREATED)
