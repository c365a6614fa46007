"""Worklists' part of a cohort's page (webapp/cohorts/parts.py): building a worklist from the
cohort, and the cohort's worklists."""

from __future__ import annotations

from django.http import HttpRequest

from webapp.cohorts.models import Cohort
from webapp.cohorts.parts import CohortPagePart
from webapp.studies.models import Study
from webapp.worklists.selectors import visible_worklists


def cohort_part(request: HttpRequest, cohort: Cohort, studies: list[Study]) -> CohortPagePart:
    worklists = visible_worklists(request.user).filter(cohort=cohort).order_by("-created_at")[:20]
    return CohortPagePart(
        context={"worklists": worklists},
        templates={"actions": "worklists/cohort/actions.html", "sections": "worklists/cohort/worklists.html"},
    )
