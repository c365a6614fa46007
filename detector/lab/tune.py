"""Choosing the fusion weight on a labelled tuning cohort, never on the test set (docs/method.md, "fusion").

The paper tuned S = G + 0.7 / L on its own test folds. Here the weight is chosen on a separate
labelled cohort (held-out normals plus abnormals), written into the model's settings, and the
choice (cohort, every weight tried and its AUC) recorded in the model file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from detector.cohort import CohortEntry
from detector.lab.evaluate import at_weight, score_cohort, write_evaluation
from detector.lab.prepared_cache import PreparedCache
from detector.model import FusionModel

WEIGHT_GRID = (0.0, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)
PAPER_WEIGHT = 0.7


def fusion_auc_table(
    y: np.ndarray, g: np.ndarray, local: np.ndarray, weights=WEIGHT_GRID
) -> dict[float, float]:
    """AUC of G + w x local anomaly score for each weight (local: the public local score)."""
    return {float(w): float(roc_auc_score(y, g + w * local)) for w in weights}


def choose_fusion_weight(
    y: np.ndarray, g: np.ndarray, local: np.ndarray, weights=WEIGHT_GRID
) -> tuple[float, dict[float, float]]:
    """The weight with the best tuning AUC; ties go to the weight nearest the paper's 0.7."""
    table = fusion_auc_table(y, g, local, weights)
    best = max(table.values())
    tied = [w for w, a in table.items() if a >= best - 1e-12]
    return min(tied, key=lambda w: (abs(w - PAPER_WEIGHT), w)), table


def tune_model(
    model: FusionModel,
    entries: list[CohortEntry],
    progress: bool = True,
    evaluate_out: Path | str | None = None,
    cache: PreparedCache | None = None,
) -> dict:
    """Score the tuning cohort, set ``fusion_weight`` in the model, return what was decided.

    ``cache``: where prepared studies are kept between runs (``prepared_cache``).
    With ``evaluate_out``, also write there what ``evaluate`` of the tuned model on the same
    cohort would, from the same scoring pass (a candidate's choice needs both; docs/results.md)."""
    thumbs: list = []
    scored = score_cohort(model, entries, progress, thumbs if evaluate_out else None, cache)
    outcomes = [o for o in scored if not o.error]
    y = np.array([o.label == "abnormal" for o in outcomes], dtype=int)
    if len(set(y.tolist())) < 2:
        raise ValueError("tuning needs both normal and abnormal studies in the labels")
    g = np.array([o.global_score for o in outcomes])
    local = np.array([o.local_score for o in outcomes])
    weight, table = choose_fusion_weight(y, g, local)
    was = model.settings.fusion_weight
    model.settings = model.settings.with_overrides({"fusion_weight": weight})
    record = {
        "fusion_weight": weight,
        "fusion_weight_was": was,
        "auc_by_weight": {str(w): round(a, 4) for w, a in table.items()},
        "auc_global": round(float(roc_auc_score(y, g)), 4),
        "auc_local": round(float(roc_auc_score(y, local)), 4),
        "n_normal": int((y == 0).sum()),
        "n_abnormal": int((y == 1).sum()),
        "study_uids": [e.study_instance_uid for e in entries],
    }
    model.meta["tuning"] = record
    if evaluate_out is not None:
        write_evaluation(model, *at_weight(scored, thumbs, weight), evaluate_out)
    return record
