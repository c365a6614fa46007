"""Fixtures for worklists and reads: results on cohort A's and B's studies, a finished
calibration, a worklist per cohort assigned to one of its radiologists, and a second radiologist
in cohort A who is not assigned. A test module makes its fixture with ``make_reading(world)``."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from tests.webapp.factories import (
    CohortMemberFactory,
    ModelVersionFactory,
    UserFactory,
    detection_result,
    study_in_cohort,
)
from webapp.accounts import roles
from webapp.detection.models import Calibration
from webapp.worklists import services
from webapp.worklists.models import Worklist

BALANCED = 0.5  # the calibration's balanced fused threshold


def calibration(cohort, version, *, balanced: float = BALANCED) -> Calibration:
    """A finished calibration with the three named operating points of the fused score."""
    point = {"sensitivity": 0.9, "specificity": 0.8, "tp": 9, "fn": 1, "tn": 8, "fp": 2}
    return Calibration.objects.create(
        cohort=cohort,
        model_version=version,
        status="done",
        progress=1.0,
        finished_at=timezone.now(),
        auc={"global": 0.8, "local": 0.6, "fused": 0.85},
        operating_points={
            "fused": {
                "balanced": {**point, "threshold": balanced},
                "high_sensitivity": {**point, "threshold": balanced - 0.2, "sensitivity": 0.95},
                "high_specificity": {**point, "threshold": balanced + 0.2, "specificity": 0.95},
            }
        },
    )


@dataclass
class Reading:
    version: object
    worklist_a: Worklist
    worklist_b: Worklist
    items_a: list  # in triage order: fused 0.9, 0.7, 0.3
    item_b: object
    other_radiologist: object  # a member of cohort A, not assigned to worklist A
    radiologist_b: object  # cohort B's radiologist, assigned to worklist B
    calibration: Calibration


def make_reading(world) -> Reading:
    """The reading world on top of conftest's ``world`` (use it in a module's own fixture)."""
    version = ModelVersionFactory(name="reading-model", is_active=True)
    studies = [world.study_a, study_in_cohort(world.cohort_a), study_in_cohort(world.cohort_a)]
    for study, score in zip(studies, (0.3, 0.9, 0.7)):
        detection_result(study, version, score)
    detection_result(world.study_b, version, 0.6)
    other = UserFactory(username="rad2", role=roles.RADIOLOGIST)
    CohortMemberFactory(cohort=world.cohort_a, user=other)
    rad_b = UserFactory(username="rad-b", role=roles.RADIOLOGIST)
    CohortMemberFactory(cohort=world.cohort_b, user=rad_b)
    cal = calibration(world.cohort_b, version)
    worklist_a = services.build_worklist(world.coordinator, world.cohort_a, name="A triage", blinded=False)
    services.assign_worklist(world.coordinator, worklist_a, ["rad"])
    worklist_b = services.build_worklist(world.other_coordinator, world.cohort_b, name="B triage")
    services.assign_worklist(world.other_coordinator, worklist_b, ["rad-b"])
    items_a = list(worklist_a.items.order_by("-fused_score", "id"))
    return Reading(version, worklist_a, worklist_b, items_a, worklist_b.items.get(), other, rad_b, cal)


def read_body(**overrides) -> dict:
    """A valid read: abnormal with one mark inside the factory results' CT grid (x 0..4, y 0..3,
    z 0..4 mm)."""
    body = {
        "verdict": "abnormal",
        "lesion_marks": [{"center_lps_mm": [2.0, 1.5, 2.0], "diameter_mm": 6.0, "comment": "spiculated"}],
        "comment": "nodule right upper lobe",
        "reading_seconds": 42.5,
        "operating_point": "balanced",
    }
    return {**body, **overrides}


def read_body_from_label(label: dict[str, str], **overrides) -> dict:
    """A read that agrees with a phantom's labels.csv row: an abnormal one marks the lesion where
    the labels put it (LPS mm), a normal one has no marks."""
    body: dict = {"verdict": label["label"], "reading_seconds": 30, "operating_point": "balanced"}
    if label["label"] == "abnormal":
        center = [float(label[f"lesion_center_{axis}_mm"]) for axis in "xyz"]
        body["lesion_marks"] = [{"center_lps_mm": center, "diameter_mm": float(label["lesion_diameter_mm"])}]
    return {**body, **overrides}
