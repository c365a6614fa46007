"""The operating point as one object (issue 13): the rule "positive when the fused score is at
or above the point's threshold" lives in webapp/detection/points.py only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from detector.operating_points import exact_interval
from webapp.detection.points import POINT_NAMES, OperatingPoint, calibration_warnings, interpret, points_of

REPO = Path(__file__).resolve().parents[2]
STORED = {
    "fused": {
        "high_specificity": {"threshold": 2.0, "sensitivity": 0.5, "specificity": 1.0, "tp": 1, "fn": 1},
        "balanced": {"threshold": 1.0, "sensitivity": 0.9, "specificity": 0.8},
    },
    "global": {"balanced": {"threshold": 7.0, "sensitivity": 0.6, "specificity": 0.7}},
}


def test_points_come_in_a_fixed_order_with_their_rule_and_call():
    points = points_of(STORED)
    assert list(points) == [n for n in POINT_NAMES if n in STORED["fused"]]
    balanced = points["balanced"]
    assert balanced.call(1.0) == "positive" and balanced.call(0.999) == "negative"
    assert "closest to" in balanced.rule
    assert points["high_specificity"].counts == {"tp": 1, "fn": 1}
    assert points_of(STORED, "global")["balanced"].threshold == 7.0
    assert points_of(None) == {} and points_of({"fused": {}}) == {}


def test_interpret_says_what_a_score_means_at_each_point():
    meaning = interpret(1.5, STORED)
    assert meaning["balanced"]["call"] == "positive" and meaning["high_specificity"]["call"] == "negative"
    assert set(meaning["balanced"]) == {
        "threshold",
        "sensitivity",
        "specificity",
        "sensitivity_ci",
        "specificity_ci",
        "rule",
        "call",
    }
    assert meaning["balanced"]["sensitivity_ci"] is None  # no counts stored: no interval


def test_intervals_come_from_the_counts_and_small_cohorts_are_flagged():
    [lo, hi] = points_of(STORED)["high_specificity"].sensitivity_ci  # 1 of 2
    assert lo == pytest.approx(0.0126, abs=1e-3) and hi == pytest.approx(0.9874, abs=1e-3)
    assert exact_interval(10, 10)[1] == 1.0 and exact_interval(0, 10)[0] == 0.0
    assert exact_interval(0, 0) is None
    same = {"fused": {n: {"threshold": 1.0, "sensitivity": 1, "specificity": 1} for n in POINT_NAMES}}
    warnings = calibration_warnings(4, 4, same)
    assert any("Small calibration cohort" in w for w in warnings)
    assert any("same point" in w for w in warnings)
    assert calibration_warnings(40, 40, STORED) == []


def test_a_readers_own_threshold_is_a_point_without_figures():
    mine = OperatingPoint.custom(0.4)
    assert mine.call(0.5) == "positive" and mine.sensitivity is None and "own threshold" in mine.rule


def test_no_other_module_compares_a_score_with_a_threshold():
    """The rule is written once: no `... >= ...threshold` and no digging in the stored
    `operating_points` JSON anywhere else in the site."""
    offenders = []
    for path in (REPO / "webapp").rglob("*.py"):
        if path.name == "points.py" or "migrations" in path.parts:
            continue
        source = path.read_text()
        if "operating_points.get(" in source or 'operating_points["' in source:
            offenders.append(f"{path.relative_to(REPO)}: reads operating_points itself")
        for node in ast.walk(ast.parse(source)):
            is_at_least = isinstance(node, ast.Compare) and any(isinstance(op, ast.GtE) for op in node.ops)
            if is_at_least and "threshold" in ast.unparse(node):
                offenders.append(f"{path.relative_to(REPO)}: {ast.unparse(node)}")
    assert not offenders, offenders
