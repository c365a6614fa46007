"""What ``manage.py demo`` leaves for the radiologist: the screening cohort's triaged worklist
(the rest of the demo is the detection and calibration flow, tested on its own elsewhere)."""

from __future__ import annotations

import pytest

from tests.webapp.factories import (
    CohortFactory,
    CohortMemberFactory,
    ModelVersionFactory,
    detection_result,
    study_in_cohort,
)
from webapp.site.management.commands.demo import WORKLIST_NAME, demo_worklist
from webapp.worklists.models import Worklist

pytestmark = pytest.mark.django_db


def test_the_demo_assigns_a_blinded_screening_worklist_to_the_radiologist(world, api):
    version = ModelVersionFactory(name="demo", is_active=True)
    screening = CohortFactory(name="Demo screening", purpose="screening", created_by=world.coordinator)
    for user in (world.coordinator, world.radiologist):
        CohortMemberFactory(cohort=screening, user=user)
    for score in (0.2, 0.8, 0.5):
        detection_result(study_in_cohort(screening), version, score)
    study_in_cohort(screening)  # no result yet: not on the worklist

    worklist = demo_worklist(world.coordinator, screening, world.radiologist)
    again = demo_worklist(world.coordinator, screening, world.radiologist)  # a second demo run
    assert again.pk == worklist.pk and Worklist.objects.filter(name=WORKLIST_NAME).count() == 1

    radiologist = api(world.radiologist)
    listed = radiologist.get("/api/worklists/").json()["results"]
    assert [(w["name"], w["readers"], w["item_count"]) for w in listed] == [(WORKLIST_NAME, ["rad"], 3)]
    rows = radiologist.get(f"/api/worklists/{worklist.pk}/items/").json()["results"]
    # a screening worklist is blinded: the radiologist sees no score until each read
    assert worklist.blinded and all(r["ai_hidden"] and r["fused_score"] is None for r in rows)
    scores = api(world.coordinator).get(f"/api/worklists/{worklist.pk}/items/").json()["results"]
    assert sorted(r["fused_score"] for r in scores) == pytest.approx([0.2, 0.5, 0.8])
    assert worklist.created_by == world.coordinator
