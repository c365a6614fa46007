"""``python -m detector demo``: the whole engine on synthetic cohorts, end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

from detector.cohort import discover
from detector.lab.evaluate import evaluate
from detector.lab.phantom import generate_cohort
from detector.model import FusionModel
from detector.settings import ModelSettings
from detector.train import train

TRAIN_SEED, TEST_SEED = 1000, 2000  # disjoint seed streams: no test patient is seen in training


def run_demo(
    out: Path,
    normals: int = 24,
    test_normals: int = 20,
    abnormals: int = 20,
    epochs: int | None = None,
    device: str | None = None,
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train_dir, test_dir, model_dir = out / "train_normals", out / "test_cohort", out / "model"
    if not (train_dir / "labels.csv").exists():
        generate_cohort(train_dir, normals, 0, TRAIN_SEED, "small")
    if not (test_dir / "labels.csv").exists():
        generate_cohort(test_dir, test_normals, abnormals, TEST_SEED, "small")
    if (model_dir / "model.pt").exists():
        model = FusionModel.load(model_dir, device)
        print(f"using the existing model in {model_dir}")
    else:
        model = train(discover(train_dir), ModelSettings(), device, epochs)
        model.meta["training"]["cohort"] = str(train_dir.resolve())
        model.save(model_dir)
    m = evaluate(model, discover(test_dir), out / "evaluation")
    keys = ("auc_global", "auc_local", "auc_fused", "localization_hit_rate", "localization_mean_mm")
    print(json.dumps({k: m[k] for k in keys}, indent=2))
    print(f"\ndemo finished in {time.time() - t0:.0f} s")
    print(f"  model:    {model_dir}")
    print(f"  metrics:  {out / 'evaluation' / 'metrics.json'}")
    print(f"  ROC:      {out / 'evaluation' / 'roc.png'}")
    print(f"  lesions:  {out / 'evaluation'}/lesions_*.png (fused map over the CT at each lesion)")
    return m
