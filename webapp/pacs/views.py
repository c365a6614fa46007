"""The API of a result's DICOM objects and of the DICOM nodes: list them (made on first ask),
download one, send them to a node. Every read is audited like the result it comes from."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.accounts.services import audit
from webapp.core.permissions import MethodPermissions
from webapp.core.sendfile import file_response
from webapp.detection.result_views import RESULT_PARAMS, find_result
from webapp.pacs.deliveries import queue_export, request_delivery
from webapp.pacs.models import Delivery, DicomNode, ResultObject, Retrieval
from webapp.pacs.retrieving import request_retrieval

_READ = ("studies.view_study", "detection.view_detectionresult")


def _object_json(request: Request, study_id: int, obj: ResultObject) -> dict:
    url = f"/api/studies/{study_id}/dicom/{obj.kind}/?result={obj.result_id}"
    return {
        "kind": obj.kind,
        "label": ResultObject.Kind(obj.kind).label,
        "sop_class_uid": obj.sop_class_uid,
        "sop_instance_uid": obj.sop_instance_uid,
        "series_instance_uid": obj.series_instance_uid,
        "size": obj.size,
        "url": request.build_absolute_uri(url),
    }


def _delivery_json(d: Delivery) -> dict:
    return {
        "id": d.pk,
        "node": d.node.name,
        "status": d.status,
        "via": d.via,
        "detail": d.detail,
        "created_at": d.created_at,
        "finished_at": d.finished_at,
    }


class StudyDicomView(APIView):
    """The DICOM objects of a study's result (SR, SEG, a Parametric Map per map) and where they
    were sent. 202 while they are being made (the first ask queues it)."""

    permission_classes = [MethodPermissions]
    method_permissions = {"GET": _READ}

    @extend_schema(
        parameters=RESULT_PARAMS,
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT},
        tags=["pacs"],
    )
    def get(self, request: Request, pk: int) -> Response:
        result = find_result(request, pk)
        order = list(ResultObject.Kind.values)  # the report first, then the SEG, then the maps
        objects = sorted(ResultObject.objects.filter(result=result), key=lambda o: order.index(o.kind))
        deliveries = Delivery.objects.filter(result=result).select_related("node")[:50]
        body = {
            "result": result.pk,
            "objects": [_object_json(request, pk, o) for o in objects],
            "deliveries": [_delivery_json(d) for d in deliveries],
        }
        if objects:
            return Response(body)
        transaction.on_commit(lambda: queue_export(result.pk, send=False))
        return Response(
            {**body, "detail": "the DICOM objects are being made: ask again in a moment"}, status=202
        )


class StudyDicomObjectView(APIView):
    """One DICOM object of a study's result, as a DICOM file (PS3.10)."""

    permission_classes = [MethodPermissions]
    method_permissions = {"GET": _READ}

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(ResultObject.Kind.values)),
            *RESULT_PARAMS,
        ],
        responses={(200, "application/dicom"): OpenApiResponse(OpenApiTypes.BINARY)},
        operation_id="study_dicom_object",
        tags=["pacs"],
    )
    def get(self, request: Request, pk: int, kind: str):
        if kind not in ResultObject.Kind.values:
            raise NotFound(f"the objects are {', '.join(ResultObject.Kind.values)}")
        result = find_result(request, pk)
        obj = ResultObject.objects.filter(result=result, kind=kind).first()
        path = Path(settings.MEDIA_ROOT) / obj.file if obj else None
        if obj is None or not path.is_file():
            raise NotFound(f"this result has no {kind} object (yet): GET /api/studies/{pk}/dicom/ makes them")
        with transaction.atomic():
            audit(request.user, "pacs.object_downloaded", result, details={"kind": kind, "study_id": pk})
        response = file_response(path, "application/dicom")
        response["Content-Disposition"] = f'attachment; filename="{kind}-{obj.sop_instance_uid}.dcm"'
        response["Cache-Control"] = "private, no-cache"
        return response


class StudyDicomSendView(APIView):
    """Send a study's result objects to a DICOM node (queued; its delivery says how it went)."""

    permission_classes = [MethodPermissions]
    method_permissions = {"POST": (*_READ, "pacs.send_results")}

    @extend_schema(
        parameters=RESULT_PARAMS,
        request=inline_serializer("SendRequest", {"node": serializers.CharField()}),
        responses={202: OpenApiTypes.OBJECT},
        tags=["pacs"],
    )
    def post(self, request: Request, pk: int) -> Response:
        name = str(request.data.get("node", "")) if isinstance(request.data, dict) else ""
        node = DicomNode.objects.filter(name=name).first()
        if node is None:
            raise ValidationError({"node": f"no DICOM node named {name!r} (see GET /api/dicom-nodes/)"})
        result = find_result(request, pk)
        try:
            delivery = request_delivery(request.user, result, node)
        except DicomNode.DoesNotExist:
            raise ValidationError({"node": f"{name} is disabled or has no address to send to"}) from None
        return Response(_delivery_json(delivery), status=status.HTTP_202_ACCEPTED)


class DicomNodesView(APIView):
    """The DICOM nodes (PACS, scanners) this site knows: what each may do (no addresses)."""

    permission_classes = [MethodPermissions]
    method_permissions = {"GET": ("pacs.view_dicomnode",)}

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=["pacs"])
    def get(self, request: Request) -> Response:
        nodes = DicomNode.objects.filter(enabled=True)
        return Response(
            [
                {
                    "name": n.name,
                    "ae_title": n.ae_title,
                    "can_receive_results": n.has_dimse or bool(n.dicomweb_url),
                    "sends_us_studies": n.cohort_id is not None,
                    "gets_every_result": n.send_results,
                }
                for n in nodes
            ]
        )


def _retrieval_json(r: Retrieval) -> dict:
    return {
        "id": r.pk,
        "node": r.node.name,
        "study_instance_uid": r.study_instance_uid,
        "cohort": r.cohort_id,
        "status": r.status,
        "via": r.via,
        "instances": r.instances,
        "detail": r.detail,
        "created_at": r.created_at,
        "finished_at": r.finished_at,
    }


class NodeRetrieveView(APIView):
    """Pull a study from a node into a cohort (C-MOVE to our receiver, or WADO-RS): queued."""

    permission_classes = [MethodPermissions]
    method_permissions = {"POST": ("pacs.retrieve_studies",)}

    @extend_schema(
        request=inline_serializer(
            "RetrieveRequest",
            {"study_instance_uid": serializers.CharField(), "cohort": serializers.IntegerField()},
        ),
        responses={202: OpenApiTypes.OBJECT},
        tags=["pacs"],
    )
    def post(self, request: Request, name: str) -> Response:
        node = DicomNode.objects.filter(name=name).first()
        if node is None:
            raise NotFound(f"no DICOM node named {name!r}")
        body = request.data if isinstance(request.data, dict) else {}
        cohort = body.get("cohort")
        if not isinstance(cohort, int):
            raise ValidationError({"cohort": "the id of the cohort to store the study in"})
        retrieval = request_retrieval(request.user, node, str(body.get("study_instance_uid", "")), cohort)
        return Response(_retrieval_json(retrieval), status=status.HTTP_202_ACCEPTED)


class RetrievalView(APIView):
    """How a pull went."""

    permission_classes = [MethodPermissions]
    method_permissions = {"GET": ("pacs.retrieve_studies",)}

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=["pacs"])
    def get(self, request: Request, pk: int) -> Response:
        retrieval = Retrieval.objects.select_related("node").filter(pk=pk).first()
        if retrieval is None:
            raise NotFound("no such retrieval")
        return Response(_retrieval_json(retrieval))
