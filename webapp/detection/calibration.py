"""Calibration figures from per-study scores: ROC and AUC per branch and the named operating
points (docs/method.md, "evaluation"), with the detector's own definitions of those points. Run by the
worker (it loads the detector's evaluation code); what the points mean is ``points.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from detector.lab.evaluate import SCORES, StudyOutcome, plot_roc
from detector.operating_points import TARGET, operating_points, sens_spec


class NotCalibratable(ValueError):
    """The scored studies cannot give a ROC curve (one class missing)."""


def _labels_and_scores(rows: list[dict]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    ok = [r for r in rows if not r.get("error")]
    y = np.array([1 if r["label"] == "abnormal" else 0 for r in ok], dtype=int)
    scores = {k: np.array([float(r[f"{k}_score"]) for r in ok]) for k in SCORES}
    return y, scores


def calibration_metrics(rows: list[dict]) -> dict:
    """AUC, ROC points and operating points per branch from rows of
    ``{label, global_score, local_score, fused_score[, error]}``."""
    y, scores = _labels_and_scores(rows)
    n_abnormal, n_normal = int(y.sum()), int((y == 0).sum())
    if n_abnormal == 0 or n_normal == 0:
        raise NotCalibratable(
            f"calibration needs scored normal and abnormal studies; got {n_normal} normal and "
            f"{n_abnormal} abnormal"
        )
    auc, roc, points = {}, {}, {}
    for k in SCORES:
        s = scores[k]
        fpr, tpr, thr = roc_curve(y, s)
        auc[k] = float(roc_auc_score(y, s))
        # roc_curve's first threshold is +inf (nothing called positive): JSON has no inf.
        roc[k] = {
            "fpr": fpr.tolist(),
            "tpr": tpr.tolist(),
            "thresholds": [None if not np.isfinite(t) else float(t) for t in thr],
        }
        points[k] = {name: sens_spec(y, s, t) for name, t in operating_points(y, s, TARGET).items()}
    return {
        "n_normal": n_normal,
        "n_abnormal": n_abnormal,
        "auc": auc,
        "roc": roc,
        "operating_points": points,
    }


def write_roc_plot(rows: list[dict], path: Path, title: str) -> None:
    """The ROC curves of the three branches as a PNG (the detector's own plot)."""
    outcomes = [
        StudyOutcome(
            r.get("patient_id", ""),
            r["label"],
            r.get("lesion_type", ""),
            "",
            r["global_score"],
            r["local_score"],
            r["fused_score"],
        )
        for r in rows
        if not r.get("error")
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_roc(outcomes, path, title)
