"""The parts of a cohort's page that other apps supply.

A cohort's page shows what other apps know about it: detection adds the active model, each
study's score and the AI's call, the live job panel and the calibrations; worklists add the
cohort's worklists. Cohorts imports none of them: each app registers a part maker in its
``AppConfig.ready()``, and the page renders the templates the parts name at fixed places.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest

from webapp.cohorts.models import Cohort
from webapp.studies.models import Study

# Where a part's templates go on the page, top to bottom.
SLOTS = (
    "actions",  # buttons in the page head
    "cards",  # summary cards beside the counts
    "panels",  # sections above the upload form
    "study_head",  # extra <th> of the studies table
    "study_cells",  # extra <td> per study (the template sees ``s``, the study)
    "sections",  # sections below the studies
)


@dataclass
class CohortPagePart:
    context: dict = field(default_factory=dict)  # merged into the page's context
    templates: dict[str, str] = field(default_factory=dict)  # slot -> template name


# (request, cohort, the studies shown) -> the part; it may annotate the studies for its cells.
PartMaker = Callable[[HttpRequest, Cohort, list[Study]], CohortPagePart | None]
_makers: list[PartMaker] = []


def register(maker: PartMaker) -> PartMaker:
    if maker not in _makers:
        _makers.append(maker)
    return maker


def page_parts(request: HttpRequest, cohort: Cohort, studies: list[Study]) -> dict:
    """The context the registered parts add, and ``part_templates``: slot -> templates."""
    context: dict = {}
    templates: dict[str, list[str]] = {slot: [] for slot in SLOTS}
    for maker in _makers:
        part = maker(request, cohort, studies)
        if part is None:
            continue
        context.update(part.context)
        for slot, name in part.templates.items():
            if slot not in templates:
                raise ValueError(f"unknown cohort page slot {slot!r}; one of {', '.join(SLOTS)}")
            templates[slot].append(name)
    return {**context, "part_templates": templates}
