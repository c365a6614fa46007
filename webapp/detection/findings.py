"""What each finding of a result means against the newest calibration: how it compares with
the calibration's normal studies, which named operating points it alone would flag, and the
local-map level of each point (drawn in the viewer as the outline of what that point flags).

A finding's ``score`` (detector/findings.py) is the fused score the study would have with that
finding alone, on the same scale as the operating points' thresholds, so the two compare
directly. Results of models without finding scores (the paper's CSI realisation, results older
than December 2026) get no figures here, and the viewer says so.
"""

from __future__ import annotations

from typing import Any

from detector.fusion import local_level_for
from webapp.detection.models import Calibration, DetectionResult
from webapp.detection.points import points_of


def _normal_scores(calibration: Calibration) -> list[float]:
    return sorted(
        float(r["fused_score"])
        for r in calibration.per_study
        if r.get("label") == "normal" and not r.get("error") and r.get("fused_score") is not None
    )


def normal_percentile(score: float, normal_scores: list[float]) -> float | None:
    """Per cent of the calibration's normal studies whose strongest finding scores below ``score``."""
    if not normal_scores:
        return None
    below = sum(1 for s in normal_scores if s < score)
    return round(100.0 * below / len(normal_scores), 1)


def map_level_line(result: DetectionResult) -> dict[str, float] | None:
    """The local map's level above which a fused-score threshold T flags this study, as
    intercept + slope x T (models whose local branch has a standardised score map only)."""
    local = (result.model_version.meta or {}).get("local") or {}
    settings = result.model_version.detector_settings or {}
    weight = float(settings.get("fusion_weight", 0.0))
    if local.get("realisation") != "fpi" or "normal_peak_mean" not in local or weight <= 0:
        return None
    mean, sd = float(local["normal_peak_mean"]), float(local["normal_peak_sd"])
    intercept = local_level_for(0.0, result.global_score, weight, mean, sd)
    slope = local_level_for(1.0, result.global_score, weight, mean, sd) - intercept
    return {"intercept": round(intercept, 6), "slope": round(slope, 6)}


def map_levels(line: dict[str, float] | None, calibration: Calibration) -> dict[str, float]:
    """Per named point of the calibration, the local map's level above which it flags the study."""
    if line is None:
        return {}
    points = points_of(calibration.operating_points)
    return {name: round(line["intercept"] + line["slope"] * p.threshold, 6) for name, p in points.items()}


def findings_interpretation(result: DetectionResult, calibration: Calibration) -> dict[str, Any]:
    normals = _normal_scores(calibration)
    points = points_of(calibration.operating_points)
    findings = []
    for peak in result.peaks:
        score = peak.get("score")
        if score is None:
            findings.append({"normal_percentile": None, "flagged_at": []})
            continue
        findings.append(
            {
                "normal_percentile": normal_percentile(float(score), normals),
                "flagged_at": [name for name, point in points.items() if point.is_positive(float(score))],
            }
        )
    line = map_level_line(result)
    return {
        "n_calibration_normals": len(normals),
        "findings": findings,
        "map_level_line": line,
        "map_levels": map_levels(line, calibration),
    }
