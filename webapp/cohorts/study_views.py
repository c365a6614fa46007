"""Study API: list (by cohort) and detail. Here, not in ``studies``, because access comes from
cohort membership; every response that shows patient identifiers is audited."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.cohorts import services
from webapp.cohorts.selectors import visible_cohorts, visible_studies
from webapp.core.permissions import ActionPermissions
from webapp.core.queries import count_of
from webapp.studies import services as study_services
from webapp.studies.filters import StudyFilter
from webapp.studies.models import Instance, Series, Study
from webapp.studies.serializers import StudyDetailSerializer, StudySerializer

_READ = ("studies.view_study",)


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("cohort", OpenApiTypes.INT, description="only studies in this cohort")],
        tags=["studies"],
    ),
    retrieve=extend_schema(tags=["studies"]),
)
class StudyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ActionPermissions]
    action_permissions = {"list": _READ, "retrieve": _READ}
    filterset_class = StudyFilter
    search_fields = ["study_instance_uid", "patient__patient_id", "accession_number", "study_description"]
    ordering_fields = ["created_at", "study_date", "id"]
    ordering = ["-created_at", "-id"]

    def get_serializer_class(self):
        return StudyDetailSerializer if self.action == "retrieve" else StudySerializer

    def get_queryset(self) -> QuerySet[Study]:
        qs = (
            visible_studies(self.request.user)
            .select_related("patient")
            .annotate(
                series_count=count_of(Series, "study"),
                instance_count=count_of(Instance, "series__study"),
            )
        )
        cohort_param = self.request.query_params.get("cohort")
        if cohort_param is not None and self.action == "list":
            try:
                cohort = visible_cohorts(self.request.user).get(pk=int(cohort_param))
            except (ValueError, OverflowError):
                raise Http404("cohort must be a cohort id") from None
            except visible_cohorts(self.request.user).model.DoesNotExist:
                raise Http404("no such cohort") from None
            qs = qs.filter(cohort_links__cohort=cohort)
        return qs

    def list(self, request: Request, *args, **kwargs) -> Response:
        response = super().list(request, *args, **kwargs)
        rows = (
            response.data.get("results", response.data) if isinstance(response.data, dict) else response.data
        )
        study_services.record_study_list_view(
            request.user, [row["id"] for row in rows], {k: v for k, v in request.query_params.items()}
        )
        return response

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        try:
            study = services.view_study(request.user, int(kwargs["pk"]))
        except (Study.DoesNotExist, ValueError):
            raise Http404("no such study") from None
        series = list(
            study.series.annotate(instance_count=Count("instances")).order_by("series_number", "id")
        )
        study.series_list = series
        study.series_count = len(series)
        study.instance_count = sum(s.instance_count for s in series)
        # Only the cohorts this user may see: the others' existence is not theirs to know.
        study.cohort_ids = sorted(
            visible_cohorts(request.user).filter(study_links__study=study).values_list("pk", flat=True)
        )
        return Response(StudyDetailSerializer(study, context=self.get_serializer_context()).data)
