"""Query parameters the detection API's views share."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from webapp.cohorts.models import Cohort
from webapp.cohorts.selectors import visible_cohorts

COHORT_PARAM = OpenApiParameter("cohort", OpenApiTypes.INT, description="only this cohort's studies")


def cohort_from_query(request: Request) -> Cohort | None:
    """The ``?cohort=`` filter, 404 when it is not a cohort the user sees."""
    raw = request.query_params.get("cohort")
    if raw is None:
        return None
    try:
        return visible_cohorts(request.user).get(pk=int(raw))
    except (ValueError, OverflowError, Cohort.DoesNotExist):
        raise Http404("no such cohort") from None


def int_param(request: Request, name: str) -> int | None:
    """An id in the query string, 404 when it is not one."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise Http404(f"{name} must be an id")
    return int(raw)
