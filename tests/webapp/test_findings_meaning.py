"""What each finding means against the newest calibration (issue 14, item 1 and 3): its place
among the calibration's normal studies, the named points it alone would flag, and each point's
level on the local map."""

from __future__ import annotations

import pytest

from tests.webapp.factories import ModelVersionFactory, detection_result
from tests.webapp.reading import calibration
from webapp.detection.findings import normal_percentile

pytestmark = pytest.mark.django_db

NORMALS = [0.1, 0.2, 0.3, 0.4, 0.45, 0.48, 0.49, 0.52, 0.6, 0.9]  # calibration normals' fused scores


def _calibrated_result(world, peaks):
    version = ModelVersionFactory(
        detector_settings={"fusion_weight": 2.0, "fusion_rule": "standardized"},
        meta={"local": {"realisation": "fpi", "normal_peak_mean": 0.1, "normal_peak_sd": 0.05}},
    )
    cal = calibration(world.cohort_b, version)  # balanced 0.5, high sensitivity 0.3, high specificity 0.7
    cal.per_study = [{"label": "normal", "fused_score": s} for s in NORMALS] + [
        {"label": "abnormal", "fused_score": 5.0},
        {"label": "normal", "error": "unreadable"},
    ]
    cal.save()
    result = detection_result(world.study_a, version, fused_score=0.8)
    result.peaks = peaks
    result.save()
    return result


def test_each_finding_is_placed_among_the_calibration_normals_and_the_points_it_flags(world, api):
    result = _calibrated_result(
        world,
        [
            {"center_lps_mm": [0, 0, 0], "value": 1.9, "score": 0.8, "size_mm": 12.0},
            {"center_lps_mm": [9, 9, 9], "value": 1.7, "score": 0.35, "size_mm": 5.0},
            {"center_lps_mm": [5, 5, 5], "value": 1.6},  # a result without finding scores
        ],
    )
    body = api(world.radiologist).get(f"/api/studies/{result.study_id}/result/").json()
    meaning = body["interpretation"]
    assert meaning["n_calibration_normals"] == 10
    first, second, third = meaning["findings"]
    assert first == {
        "normal_percentile": 90.0,
        "flagged_at": ["balanced", "high_sensitivity", "high_specificity"],
    }
    assert second == {"normal_percentile": 30.0, "flagged_at": ["high_sensitivity"]}
    assert third == {"normal_percentile": None, "flagged_at": []}
    # local level = mean + sd (threshold - G) / w, with G = 0.1 for this result
    levels = meaning["map_levels"]
    assert levels["balanced"] == pytest.approx(0.1 + 0.05 * (0.5 - 0.1) / 2.0)
    assert levels["high_sensitivity"] < levels["balanced"] < levels["high_specificity"]
    line = meaning["map_level_line"]  # what the viewer uses for any threshold on the slider
    assert line["intercept"] + line["slope"] * 0.7 == pytest.approx(levels["high_specificity"], abs=1e-5)


def test_a_model_without_a_local_score_map_has_no_map_levels(world, api):
    result = _calibrated_result(world, [])
    result.model_version.meta = {"local": {"realisation": "csi"}}
    result.model_version.save()
    meaning = api(world.radiologist).get(f"/api/studies/{result.study_id}/result/").json()["interpretation"]
    assert meaning["map_levels"] == {} and meaning["map_level_line"] is None and meaning["findings"] == []


def test_percentile_counts_the_normals_strictly_below():
    assert normal_percentile(0.5, [0.1, 0.5, 0.9]) == pytest.approx(33.3)
    assert normal_percentile(0.5, []) is None
