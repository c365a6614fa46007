"""Named operating points on a ROC curve and what a threshold does (docs/method.md, "evaluation").

Numpy and scikit-learn only: the web process imports this to name and apply the points, and
must not load torch for it.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_curve

# "high sensitivity" keeps sensitivity >= this, "high specificity" keeps specificity >= this.
TARGET = 0.95
POINT_NAMES = ("balanced", "high_sensitivity", "high_specificity")
POINT_RULES = {
    "balanced": "the ROC point closest to (FPR 0, TPR 1)",
    "high_sensitivity": f"the highest threshold with sensitivity >= {TARGET}",
    "high_specificity": f"the lowest threshold with specificity >= {TARGET}",
}


def operating_points(y: np.ndarray, s: np.ndarray, target: float = TARGET) -> dict[str, float]:
    """Thresholds for the named points, chosen on (y, s): balanced = closest to (FPR 0, TPR 1)."""
    fpr, tpr, thr = roc_curve(y, s)
    thr = np.where(np.isinf(thr), np.max(s) + 1e-9, thr)
    balanced = thr[int(np.argmin(fpr**2 + (1 - tpr) ** 2))]
    ok_sens = np.flatnonzero(tpr >= target)
    high_sens = thr[ok_sens[0]] if ok_sens.size else thr[-1]  # highest threshold reaching it
    ok_spec = np.flatnonzero(1 - fpr >= target)
    high_spec = thr[ok_spec[-1]] if ok_spec.size else thr[0]  # lowest threshold keeping it
    return {
        "balanced": float(balanced),
        "high_sensitivity": float(high_sens),
        "high_specificity": float(high_spec),
    }


def sens_spec(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity and the confusion counts of calling ``s >= threshold`` positive."""
    pos = s >= threshold
    tp, fn = int((pos & (y == 1)).sum()), int((~pos & (y == 1)).sum())
    tn, fp = int((~pos & (y == 0)).sum()), int((pos & (y == 0)).sum())
    return {
        "threshold": float(threshold),
        "sensitivity": tp / max(tp + fn, 1),
        "specificity": tn / max(tn + fp, 1),
        "tp": tp,
        "fn": fn,
        "tn": tn,
        "fp": fp,
    }


def exact_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float] | None:
    """Clopper-Pearson (exact binomial) interval of a proportion, or None without trials."""
    from scipy.stats import beta

    if trials <= 0:
        return None
    alpha = 1.0 - level
    lo = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return lo, hi


# Below this many studies of a class, a calibration cannot tell its named points apart well:
# with 10 normals each specificity step is 10 points, and a 95 % interval around 0.9 spans
# 0.55-1.00.
MIN_PER_CLASS = 30


def trust_warnings(n_normal: int, n_abnormal: int, thresholds: dict[str, float]) -> list[str]:
    """What a reader should know before trusting a calibration's named points."""
    out = []
    if min(n_normal, n_abnormal) < MIN_PER_CLASS:
        out.append(
            f"Small calibration cohort ({n_normal} normal, {n_abnormal} abnormal studies): the "
            f"sensitivity and specificity below are uncertain (see the 95 % intervals); calibrate on "
            f"at least {MIN_PER_CLASS} studies of each class before relying on them."
        )
    by_threshold: dict[float, list[str]] = {}
    for name, t in thresholds.items():
        by_threshold.setdefault(round(t, 9), []).append(name)
    same = [names for names in by_threshold.values() if len(names) > 1]
    for names in same:
        out.append(
            "The points "
            + " and ".join(n.replace("_", " ") for n in names)
            + " are the same point on this cohort: it is too small to separate them."
        )
    return out
