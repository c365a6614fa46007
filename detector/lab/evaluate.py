"""Evaluation on a labelled cohort: ROC/AUC per branch, operating points chosen on a calibration
split and applied to the rest, localization, and a per-lesion-type table (docs/method.md, "evaluation")."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from tqdm import tqdm

from detector.cohort import CohortEntry
from detector.io import read_volume
from detector.lab.figures import Thumbnail, lesion_thumbnail, save_montage
from detector.lab.prepared_cache import PreparedCache
from detector.model import FusionModel
from detector.operating_points import operating_points, sens_spec
from detector.pipeline import find_peaks, score_prepared
from detector.score import score_volume

SCORES = ("global", "local", "fused")
HIT_MARGIN_MM = 10.0  # METHOD §4: a hit is inside the lesion or within 10 mm of its edge


@dataclass
class StudyOutcome:
    patient_id: str
    label: str
    lesion_type: str
    lesion_site: str
    global_score: float
    local_score: float
    fused_score: float
    peak_distance_mm: float | None = None
    peak_hit: bool | None = None
    top3_peak_hit: bool | None = None
    any_peak_hit: bool | None = None  # any of the model's peaks (peak_count, 5 by default)
    global_peak_hit: bool | None = None  # the global map's own strongest peak (diagnostic)
    local_peak_hit: bool | None = None  # the local map's own strongest peak (diagnostic)
    error: str = ""


TOP_PEAKS = 3  # the protocol's "one of the top three peaks hits"


def _localize(
    entry: CohortEntry, peaks: list[dict]
) -> tuple[float | None, bool | None, bool | None, bool | None]:
    """Distance of the strongest peak, and whether it, one of the top three, or any peak hits."""
    if not entry.is_abnormal or entry.lesion_center_lps_mm is None or not peaks:
        miss = False if entry.is_abnormal else None
        return None, miss, miss, miss
    centre = np.asarray(entry.lesion_center_lps_mm)
    radius = (entry.lesion_diameter_mm or 0.0) / 2.0
    d = [float(np.linalg.norm(np.asarray(p["center_lps_mm"]) - centre)) for p in peaks]
    hits = [x <= radius + HIT_MARGIN_MM for x in d]
    # The strongest peak decides; ties were broken without looking at the truth.
    return d[0], hits[0], any(hits[:TOP_PEAKS]), any(hits)


def score_cohort(
    model: FusionModel,
    entries: list[CohortEntry],
    progress: bool = True,
    thumbnails: list | None = None,
    cache: PreparedCache | None = None,
) -> list[StudyOutcome]:
    """Score every study; append a lesion thumbnail per abnormal to ``thumbnails`` if given.
    With ``cache``, each study's working grid and lung mask come from (or go to) it."""
    outcomes = []
    for e in tqdm(entries, desc="scoring", disable=not progress, unit="study"):
        try:
            if cache is None:
                res = score_volume(model, read_volume(e.folder))
            else:
                res = score_prepared(model, cache.prepared(e.folder, model.settings))
        except (ValueError, OSError) as exc:  # a study that cannot be read is reported, not hidden
            outcomes.append(
                StudyOutcome(
                    e.patient_id, e.label, e.lesion_type, e.lesion_site, *[np.nan] * 3, error=str(exc)
                )
            )
            continue
        peaks = [p.to_dict() for p in res.peaks]
        dist, hit, top_hit, any_hit = _localize(e, peaks)
        branch_hits = {}
        if e.is_abnormal:
            inside = res.lungs.both
            for name in ("global", "local"):
                m = res.maps[name]
                m = np.where(inside, m - m[inside].min() + 1e-6, 0.0)  # find_peaks wants > 0 inside
                own = find_peaks(m, res.lungs, res.working_geometry, 1, 20.0)
                branch_hits[name] = _localize(e, [p.to_dict() for p in own])[1]
        outcome = StudyOutcome(
            e.patient_id,
            e.label,
            e.lesion_type,
            e.lesion_site,
            res.global_score,
            res.local_score,
            res.fused_score,
            dist,
            hit,
            top_hit,
            any_hit,
            branch_hits.get("global"),
            branch_hits.get("local"),
        )
        outcomes.append(outcome)
        if thumbnails is not None and e.is_abnormal:
            thumbnails.append(lesion_thumbnail(res, e.lesion_center_lps_mm, _thumbnail_title(outcome)))
    return outcomes


def _thumbnail_title(o: StudyOutcome) -> str:
    return f"{o.patient_id} {o.lesion_type}/{o.lesion_site} S={o.fused_score:.2f}"


def at_weight(
    outcomes: list[StudyOutcome], thumbnails: list[Thumbnail], weight: float
) -> tuple[list[StudyOutcome], list[Thumbnail]]:
    """The outcomes as a model with fusion weight ``weight`` would have scored them, without
    scoring again: only the patient-level fused score depends on the weight (the peaks come from
    the voxel fusion, which has none). ``thumbnails`` are the abnormals', in order."""
    # fused = G + w x the public local score (fusion.fuse_scores), so the weight can be swapped
    moved = [
        o if o.error else replace(o, fused_score=o.global_score + weight * o.local_score) for o in outcomes
    ]
    abnormal = [o for o in moved if not o.error and o.label == "abnormal"]
    titled = [replace(t, title=_thumbnail_title(o)) for t, o in zip(thumbnails, abnormal)]
    return moved, titled


def calibration_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the calibration part, stratified by label, deterministic by seed."""
    rng = np.random.default_rng(seed)
    calib = np.zeros(len(labels), bool)
    for value in (0, 1):
        idx = np.flatnonzero(labels == value)
        rng.shuffle(idx)
        calib[idx[: int(round(len(idx) * fraction))]] = True
    return calib


def metrics(outcomes: list[StudyOutcome], calib_fraction: float = 0.5, seed: int = 0) -> dict:
    ok = [o for o in outcomes if not o.error]
    y = np.array([1 if o.label == "abnormal" else 0 for o in ok])
    if len(set(y.tolist())) < 2:
        raise ValueError("evaluation needs both normal and abnormal studies in the labels")
    scores = {k: np.array([getattr(o, f"{k}_score") for o in ok]) for k in SCORES}
    out: dict = {"n_studies": len(ok), "n_normal": int((y == 0).sum()), "n_abnormal": int((y == 1).sum())}
    out["n_unreadable"] = len(outcomes) - len(ok)
    for k in SCORES:
        out[f"auc_{k}"] = float(roc_auc_score(y, scores[k]))
    calib = calibration_split(y, calib_fraction, seed)
    test = ~calib
    out["calibration_split"] = {
        "fraction": calib_fraction,
        "seed": seed,
        "n_calibration": int(calib.sum()),
        "n_test": int(test.sum()),
    }
    out["operating_points"] = {}
    for k in SCORES:
        pts = operating_points(y[calib], scores[k][calib])
        out["operating_points"][k] = {
            name: {
                "calibration": sens_spec(y[calib], scores[k][calib], t),
                "test": sens_spec(y[test], scores[k][test], t),
            }
            for name, t in pts.items()
        }
    abn = [o for o in ok if o.label == "abnormal"]
    dists = [o.peak_distance_mm for o in abn if o.peak_distance_mm is not None]
    out["localization_hit_rate"] = float(np.mean([bool(o.peak_hit) for o in abn])) if abn else None
    out["localization_top3_hit_rate"] = float(np.mean([bool(o.top3_peak_hit) for o in abn])) if abn else None
    out["localization_any_peak_hit_rate"] = (
        float(np.mean([bool(o.any_peak_hit) for o in abn])) if abn else None
    )
    for name in ("global", "local"):
        out[f"localization_{name}_map_hit_rate"] = (
            float(np.mean([bool(getattr(o, f"{name}_peak_hit")) for o in abn])) if abn else None
        )
    out["localization_mean_mm"] = float(np.mean(dists)) if dists else None
    out["localization_median_mm"] = float(np.median(dists)) if dists else None
    balanced = out["operating_points"]["fused"]["balanced"]["calibration"]["threshold"]
    out["per_lesion_type"] = _group_table(abn, "lesion_type", balanced, ok)
    out["per_lesion_site"] = _group_table(abn, "lesion_site", balanced, ok)
    return out


def _group_table(abn: list[StudyOutcome], key: str, fused_threshold: float, ok: list[StudyOutcome]) -> dict:
    normal_fused = np.array([o.fused_score for o in ok if o.label == "normal"])
    table = {}
    for value in sorted({getattr(o, key) for o in abn}):
        grp = [o for o in abn if getattr(o, key) == value]
        fused = np.array([o.fused_score for o in grp])
        y = np.r_[np.zeros(len(normal_fused)), np.ones(len(grp))]
        row = {
            "n": len(grp),
            "detected_at_balanced": float(np.mean(fused >= fused_threshold)),
            "hit_rate": float(np.mean([bool(o.peak_hit) for o in grp])),
            "mean_distance_mm": float(
                np.mean([o.peak_distance_mm for o in grp if o.peak_distance_mm is not None] or [np.nan])
            ),
        }
        for k in SCORES:
            s = np.r_[
                [getattr(o, f"{k}_score") for o in ok if o.label == "normal"],
                [getattr(o, f"{k}_score") for o in grp],
            ]
            row[f"auc_{k}_vs_normals"] = float(roc_auc_score(y, s))
        table[value or "unspecified"] = row
    return table


def plot_roc(outcomes: list[StudyOutcome], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [o for o in outcomes if not o.error]
    y = np.array([1 if o.label == "abnormal" else 0 for o in ok])
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    # The fused curve wide and underneath, the branches thinner and dashed on top of it, so a
    # branch that coincides with the fused curve stays visible; the axes reach a little past
    # 0 and 1 so that curves running along the edges are not cut in half by the frame.
    styles = {
        "global": {"color": "tab:blue", "lw": 1.8, "ls": (0, (5, 3)), "zorder": 3},
        "local": {"color": "tab:orange", "lw": 1.8, "ls": (0, (1, 2)), "zorder": 4},
        "fused": {"color": "tab:green", "lw": 4, "alpha": 0.6, "zorder": 2},
    }
    for k in SCORES:
        s = np.array([getattr(o, f"{k}_score") for o in ok])
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{k} (AUC {roc_auc_score(y, s):.3f})", **styles[k])
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", zorder=1)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("1 - specificity (FPR)")
    ax.set_ylabel("sensitivity (TPR)")
    ax.set_title(title or f"ROC, {int(y.sum())} abnormal vs {int((1 - y).sum())} normal")
    ax.legend(loc="lower right")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate(
    model: FusionModel,
    entries: list[CohortEntry],
    out_dir: Path | str,
    progress: bool = True,
    calib_fraction: float = 0.5,
    seed: int = 0,
    cache: PreparedCache | None = None,
) -> dict:
    """Score every study, write metrics.json, per_study.csv and roc.png; return the metrics."""
    thumbs: list = []
    outcomes = score_cohort(model, entries, progress, thumbs, cache)
    return write_evaluation(model, outcomes, thumbs, out_dir, calib_fraction, seed)


def write_evaluation(
    model: FusionModel,
    outcomes: list[StudyOutcome],
    thumbs: list[Thumbnail],
    out_dir: Path | str,
    calib_fraction: float = 0.5,
    seed: int = 0,
) -> dict:
    """metrics.json, per_study.csv, roc.png and the lesion montages of scored outcomes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = metrics(outcomes, calib_fraction, seed)
    m["model"] = {"saved_at": model.meta.get("saved_at"), "training": model.meta.get("training", {})}
    (out / "metrics.json").write_text(json.dumps(m, indent=2))
    with (out / "per_study.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(outcomes[0]).keys()))
        w.writeheader()
        for o in outcomes:
            w.writerow(asdict(o))
    plot_roc(outcomes, out / "roc.png")
    sigma_px = model.settings.display_sigma_mm / model.settings.working_spacing_mm
    for i in range(0, len(thumbs), 10):  # ten lesions a picture keeps them readable
        save_montage(thumbs[i : i + 10], out / f"lesions_{i // 10 + 1}.png", sigma_px)
    return m
