"""The operating point: the one place that says what a fused score means.

"The AI calls a study positive when its fused score is at or above the point's threshold" is
written here and nowhere else; pages, serializers, worklists and the review ask a calibration
for its points (``Calibration.point(name)``, ``Calibration.points()``) and a point for its
call. Torch-free: the web process imports this.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.operating_points import POINT_NAMES, POINT_RULES, exact_interval, trust_warnings

__all__ = [
    "DEFAULT_POINT",
    "POINT_NAMES",
    "POINT_RULES",
    "OperatingPoint",
    "points_of",
    "calibration_warnings",
    "interpret",
    "viewer_points",
]

DEFAULT_POINT = "balanced"
CUSTOM = "custom"
POINT_LABELS = {
    "high_sensitivity": ("High sensitivity", "High sens."),
    "balanced": ("Balanced", "Balanced"),
    "high_specificity": ("High specificity", "High spec."),
}
# The order a reader meets them in: more sensitive to more specific (keys 1, 2, 3 in the viewer).
SENSITIVE_TO_SPECIFIC = ("high_sensitivity", "balanced", "high_specificity")
assert set(SENSITIVE_TO_SPECIFIC) == set(POINT_NAMES) == set(POINT_LABELS)
FUSED = "fused"  # the branch whose score decides (the others are shown for comparison)


@dataclass(frozen=True)
class OperatingPoint:
    name: str
    threshold: float
    sensitivity: float | None  # None: a reader's own threshold, not measured on a calibration
    specificity: float | None
    branch: str = FUSED
    counts: dict | None = None  # tp / fn / tn / fp on the calibration cohort, when known

    @classmethod
    def custom(cls, threshold: float) -> OperatingPoint:
        """A reader's own fused-score threshold."""
        return cls(CUSTOM, threshold, None, None)

    @property
    def rule(self) -> str:
        return POINT_RULES.get(self.name, "the reader's own threshold")

    def is_positive(self, score: float) -> bool:
        return score >= self.threshold

    def call(self, score: float) -> str:
        return "positive" if self.is_positive(score) else "negative"

    @property
    def sensitivity_ci(self) -> tuple[float, float] | None:
        """Exact 95 % interval of the sensitivity, from the calibration's counts."""
        c = self.counts or {}
        return exact_interval(c["tp"], c["tp"] + c["fn"]) if "tp" in c and "fn" in c else None

    @property
    def specificity_ci(self) -> tuple[float, float] | None:
        c = self.counts or {}
        return exact_interval(c["tn"], c["tn"] + c["fp"]) if "tn" in c and "fp" in c else None

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "sensitivity": self.sensitivity,
            "specificity": self.specificity,
            "sensitivity_ci": self.sensitivity_ci,
            "specificity_ci": self.specificity_ci,
            "rule": self.rule,
        }


def points_of(operating_points: dict | None, branch: str = FUSED) -> dict[str, OperatingPoint]:
    """The named points of one branch of a calibration's stored figures, in POINT_NAMES order."""
    stored = (operating_points or {}).get(branch) or {}
    out = {}
    for name in POINT_NAMES:
        p = stored.get(name)
        if p is not None:
            counts = {k: p[k] for k in ("tp", "fn", "tn", "fp") if k in p} or None
            out[name] = OperatingPoint(
                name, float(p["threshold"]), float(p["sensitivity"]), float(p["specificity"]), branch, counts
            )
    return out


def interpret(fused_score: float, operating_points: dict | None) -> dict:
    """What a fused score means at each named point: the point's figures and the AI's call."""
    return {
        name: {**point.to_dict(), "call": point.call(fused_score)}
        for name, point in points_of(operating_points).items()
    }


def viewer_points() -> list[dict]:
    """The named points as the viewer's configuration hands them over (names defined here
    once): name, label, short label, rule and key, more sensitive first."""
    return [
        {
            "name": name,
            "label": POINT_LABELS[name][0],
            "short": POINT_LABELS[name][1],
            "rule": POINT_RULES[name],
            "key": str(n + 1),
        }
        for n, name in enumerate(SENSITIVE_TO_SPECIFIC)
    ]


def calibration_warnings(n_normal: int, n_abnormal: int, operating_points: dict | None) -> list[str]:
    """What a reader should know before trusting the named points of a calibration's fused score."""
    points = points_of(operating_points)
    return trust_warnings(n_normal, n_abnormal, {name: p.threshold for name, p in points.items()})
