"""Worklist API: build, list and assign worklists; the triage list of items; open an item and
record its read; the admin's agreement review.

Thin: parse the request, call the service, serialize. Roles are checked per action (403);
objects come from querysets limited to what the user sees (another cohort's worklist, or a
worklist not assigned to a radiologist, is 404).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.cohorts.selectors import visible_cohorts
from webapp.core.permissions import ActionPermissions, MethodPermissions
from webapp.detection.models import ModelVersion
from webapp.detection.selectors import latest_calibration
from webapp.detection.services import result_interpretation
from webapp.worklists import reads, review, services
from webapp.worklists.models import ItemStatus, Read, Worklist, WorklistAssignment, WorklistItem
from webapp.worklists.selectors import (
    ai_hidden,
    is_assigned,
    triage_order,
    visible_items,
    visible_worklists,
    with_counts,
    with_my_status,
    with_read_counts,
)
from webapp.worklists.serializers import (
    AssignSerializer,
    BuildWorklistSerializer,
    ProgressSerializer,
    ReadRequestSerializer,
    ReadSummarySerializer,
    ReviewSerializer,
    WorklistItemDetailSerializer,
    WorklistItemSerializer,
    WorklistSerializer,
)

_VIEW = ("worklists.view_worklist",)
_READ = ("worklists.view_worklist", "worklists.add_read")


def _int_query(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    if not raw.isdigit():
        raise Http404(f"{name} must be an id")
    return int(raw)


def worklists_for(user: Any) -> QuerySet[Worklist]:
    """The user's worklists with their counts and readers, ready for the serializer."""
    return (
        with_counts(visible_worklists(user), user)
        .select_related("cohort", "model_version", "created_by")
        .prefetch_related(
            Prefetch("assignments", queryset=WorklistAssignment.objects.select_related("reader"))
        )
    )


@extend_schema_view(
    list=extend_schema(
        tags=["worklists"],
        parameters=[OpenApiParameter("cohort", OpenApiTypes.INT, description="only this cohort's worklists")],
    ),
    retrieve=extend_schema(tags=["worklists"]),
)
class WorklistViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Radiologists see the worklists assigned to them; coordinators those of their cohorts."""

    serializer_class = WorklistSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {
        "list": _VIEW,
        "retrieve": _VIEW,
        "create": ("worklists.add_worklist", "cohorts.view_cohort"),
        "assign": _VIEW + ("worklists.assign_worklist",),
        "items": _VIEW,
    }
    ordering_fields = ["created_at", "name", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[Worklist]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Worklist.objects.none()
        qs = worklists_for(self.request.user)
        cohort = _int_query(self.request, "cohort") if self.action == "list" else None
        return qs.filter(cohort_id=cohort) if cohort is not None else qs

    @extend_schema(
        request=BuildWorklistSerializer,
        responses={201: WorklistSerializer},
        tags=["worklists"],
        description="Build a worklist from a cohort's studies with a finished detection result (all of "
        "them, or study_ids), ordered by fused score; optionally assign it to radiologists.",
    )
    def create(self, request: Request) -> Response:
        body = BuildWorklistSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        cohort = visible_cohorts(request.user).get(pk=data["cohort"])
        version = None
        if data["model_version"] is not None:
            version = ModelVersion.objects.get(pk=data["model_version"])
        worklist = services.build_worklist(
            request.user,
            cohort,
            name=data["name"],
            study_ids=data["study_ids"],
            model_version=version,
            readers=data["readers"],
            blinded=data["blinded"],
        )
        worklist = self.get_queryset().get(pk=worklist.pk)
        return Response(self.get_serializer(worklist).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=AssignSerializer,
        responses={200: WorklistSerializer},
        tags=["worklists"],
        description="Assign the worklist to radiologists who are members of its cohort.",
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        worklist = self.get_object()
        body = AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.assign_worklist(request.user, worklist, body.validated_data["readers"])
        return Response(self.get_serializer(self.get_queryset().get(pk=worklist.pk)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, enum=ItemStatus.values, description="only items with this status (yours)"
            )
        ],
        responses={200: WorklistItemSerializer(many=True)},
        tags=["worklists"],
        description="The worklist's items in reading order (most anomalous first; shuffled when the "
        "worklist is blinded), with your status and the AI's call at each operating point of the newest "
        "calibration (in a blinded worklist: hidden until you have read the item).",
    )
    @action(detail=True, methods=["get"])
    def items(self, request: Request, pk: str | None = None) -> Response:
        worklist = self.get_object()
        items = with_read_counts(with_my_status(worklist.items.all(), request.user)).select_related(
            "study__patient"
        )
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in ItemStatus.values:
                return Response(
                    {"status": [f"one of {', '.join(ItemStatus.values)}"]}, status=status.HTTP_400_BAD_REQUEST
                )
            items = items.filter(my_status=wanted)
        page = self.paginate_queryset(triage_order(items))
        calibration = latest_calibration(worklist.model_version)
        context = {
            **self.get_serializer_context(),
            "operating_points": calibration.operating_points if calibration else {},
            "blinded": worklist.blinded and is_assigned(request.user, worklist.pk),
        }
        data = WorklistItemSerializer(page, many=True, context=context).data
        services.record_items_list_view(request.user, worklist, [row["study"] for row in data])
        return self.get_paginated_response(data)


@extend_schema_view(retrieve=extend_schema(tags=["worklists"]))
class WorklistItemViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One item: its study and scores, your status and read, and its neighbours in triage order
    (what the viewer's previous/next buttons follow)."""

    serializer_class = WorklistItemDetailSerializer
    permission_classes = [ActionPermissions]
    action_permissions = {"retrieve": _VIEW, "start": _READ, "read": _READ}

    def get_queryset(self) -> QuerySet[WorklistItem]:
        return visible_items(self.request.user)

    def _detail(self, request: Request, item_id: int) -> Response:
        item = services.view_item(request.user, item_id)
        before = Q(position__lt=item.position) | Q(position=item.position, id__lt=item.pk)
        my_read = Read.objects.filter(item=item, reader=request.user, is_current=True).first()
        context = {
            **self.get_serializer_context(),
            "neighbours": services.neighbours(item, request.user),
            "position": WorklistItem.objects.filter(before, worklist_id=item.worklist_id).count() + 1,
            "interpretation": result_interpretation(item.result),
            "my_read": my_read,
            "ai_hidden": ai_hidden(
                item.worklist.blinded and is_assigned(request.user, item.worklist_id),
                ItemStatus.READ if my_read else None,
            ),
        }
        calibration = latest_calibration(item.result.model_version)
        context["operating_points"] = calibration.operating_points if calibration else {}
        return Response(WorklistItemDetailSerializer(item, context=context).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            return self._detail(request, int(kwargs["pk"]))
        except (WorklistItem.DoesNotExist, ValueError):
            raise Http404("no such worklist item among yours") from None

    @extend_schema(
        request=None,
        responses={200: ProgressSerializer},
        tags=["worklists"],
        description="Open the item for reading: unread becomes in progress and the server's reading "
        "clock starts. Only the radiologists the worklist is assigned to.",
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        progress = services.start_item(request.user, self.get_object().pk)
        return Response(ProgressSerializer(progress).data)

    @extend_schema(
        request=ReadRequestSerializer,
        responses={201: ReadSummarySerializer},
        tags=["worklists"],
        description="Record your read: verdict, lesion marks (LPS mm), comment, reading time, and the "
        "operating point you had chosen. One read per item; a second one needs amend_reason and "
        "becomes a new version (409 without it).",
    )
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        item = self.get_object()
        body = ReadRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        read = reads.record_read(
            request.user,
            item.pk,
            verdict=data["verdict"],
            lesion_marks=[dict(m) for m in data["lesion_marks"]],
            comment=data["comment"],
            reading_seconds=data["reading_seconds"],
            operating_point=data["operating_point"],
            threshold=data["threshold"],
            result_id=data["result"],
            amend_reason=data["amend_reason"],
        )
        return Response(ReadSummarySerializer(read).data, status=status.HTTP_201_CREATED)


class AgreementView(APIView):
    permission_classes = [MethodPermissions]
    method_permissions = {"GET": ("worklists.review_agreement",)}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "model_version", OpenApiTypes.INT, description="only reads of this model version"
            ),
            OpenApiParameter("cohort", OpenApiTypes.INT, description="only reads of this cohort's worklists"),
        ],
        responses={200: ReviewSerializer},
        tags=["review"],
        description="AI-versus-reader agreement per model version and cohort: the AI is positive at the "
        "balanced operating point of the newest calibration of the read's model version, the reader at "
        "verdict abnormal. Counts, percent agreement, Cohen's kappa, and the disagreements.",
    )
    def get(self, request: Request) -> Response:
        result = review.agreement(
            request.user,
            model_version_id=_int_query(request, "model_version"),
            cohort_id=_int_query(request, "cohort"),
        )
        body = {
            "operating_point": result.operating_point,
            "rows": [
                {
                    **vars(row),
                    "compared": row.compared,
                    "percent_agreement": row.percent_agreement,
                    "kappa": row.kappa,
                }
                for row in result.rows
            ],
            "disagreements": result.disagreements,
        }
        return Response(ReviewSerializer(body).data)
