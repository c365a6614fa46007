"""The lab's commands of ``python -m detector``: phantom, evaluate, tune, bench, demo.

``detector.cli`` (the top-level entry) adds them beside the engine's train and score; each
command imports its module only when it runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def cmd_phantom(a: argparse.Namespace) -> int:
    from detector.lab.phantom import generate_cohort

    t = time.time()
    labels = generate_cohort(
        Path(a.out), a.normals, a.abnormals, a.seed, a.size, transfer_syntax=a.transfer_syntax
    )
    print(f"wrote {a.normals} normal + {a.abnormals} abnormal {a.size} studies in {time.time() - t:.0f} s")
    print(f"labels: {labels}")
    return 0


def cache_from_args(a: argparse.Namespace):
    """The prepared-study cache named by ``--cache``, or None."""
    if not a.cache:
        return None
    from detector.lab.prepared_cache import PreparedCache

    return PreparedCache(a.cache)


def add_cache_argument(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--cache",
        metavar="DIR",
        help="keep each study's working grid and lung mask here between runs (lab experiments)",
    )


def cmd_evaluate(a: argparse.Namespace) -> int:
    from detector.cohort import discover
    from detector.lab.evaluate import evaluate
    from detector.model import FusionModel

    model = FusionModel.load(a.model, a.device)
    entries = discover(a.cohort, a.labels)
    m = evaluate(
        model,
        entries,
        a.out,
        progress=not a.quiet,
        calib_fraction=a.calibration_fraction,
        seed=a.seed,
        cache=cache_from_args(a),
    )
    print(
        json.dumps(
            {
                k: m[k]
                for k in (
                    "auc_global",
                    "auc_local",
                    "auc_fused",
                    "localization_hit_rate",
                    "localization_top3_hit_rate",
                    "localization_mean_mm",
                )
            },
            indent=2,
        )
    )
    print(f"metrics: {Path(a.out) / 'metrics.json'}  ROC: {Path(a.out) / 'roc.png'}")
    return 0


def cmd_tune(a: argparse.Namespace) -> int:
    from detector.cohort import discover
    from detector.lab.tune import tune_model
    from detector.model import FusionModel

    model = FusionModel.load(a.model, a.device)
    record = tune_model(
        model,
        discover(a.cohort, a.labels),
        progress=not a.quiet,
        evaluate_out=a.evaluate_out,
        cache=cache_from_args(a),
    )
    model.meta.setdefault("tuning", record)["cohort"] = str(Path(a.cohort).resolve())
    out = model.save(a.out or a.model)
    table = ", ".join(f"{w}: {auc:.3f}" for w, auc in record["auc_by_weight"].items())
    print(f"fusion AUC by weight on the tuning cohort: {table}")
    print(
        f"chose fusion_weight={record['fusion_weight']} (global AUC {record['auc_global']:.3f}, local {record['auc_local']:.3f}); model written to {out}"
    )
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from detector.lab.bench import run_bench

    run_bench(study=a.study, model_dir=a.model, devices=a.device, size=a.size, repeats=a.repeats, out=a.out)
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from detector.lab.demo import run_demo

    run_demo(
        Path(a.out),
        normals=a.normals,
        test_normals=a.test_normals,
        abnormals=a.abnormals,
        epochs=a.epochs,
        device=a.device,
    )
    return 0


def add_lab_commands(sub: argparse._SubParsersAction) -> None:
    """Add phantom, evaluate, tune, bench and demo to the ``python -m detector`` parser."""
    s = sub.add_parser("phantom", help="generate a synthetic chest LDCT cohort (DICOM + labels.csv)")
    s.add_argument("--out", required=True)
    s.add_argument("--normals", type=int, default=4)
    s.add_argument("--abnormals", type=int, default=4)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", choices=("tiny", "small", "full"), default="small")
    s.add_argument("--transfer-syntax", default="explicit_le", help="explicit_le, implicit_le or rle")
    s.set_defaults(func=cmd_phantom)

    s = sub.add_parser("evaluate", help="AUCs, operating points, localization on a labelled cohort")
    s.add_argument("--model", required=True)
    s.add_argument("--cohort", required=True)
    s.add_argument("--labels", help="labels CSV (default: COHORT/labels.csv)")
    s.add_argument("--out", required=True)
    s.add_argument("--device", default="auto")
    add_cache_argument(s)
    s.add_argument("--calibration-fraction", type=float, default=0.5)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("tune", help="choose the fusion weight on a labelled tuning cohort (not the test set)")
    s.add_argument("--model", required=True)
    s.add_argument("--cohort", required=True, help="labelled cohort of held-out normals and abnormals")
    s.add_argument("--labels", help="labels CSV (default: COHORT/labels.csv)")
    s.add_argument("--out", help="write the tuned model here (default: update --model in place)")
    s.add_argument(
        "--evaluate-out",
        help="also write here what `evaluate` of the tuned model on this cohort would, from the same scoring",
    )
    add_cache_argument(s)
    s.add_argument("--device", default="auto")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_tune)

    s = sub.add_parser("bench", help="time every stage on one full-size study; peak memory")
    s.add_argument("--study", help="DICOM folder (default: generate a full-size phantom)")
    s.add_argument("--model", help="model directory (default: random weights, timing only)")
    s.add_argument("--device", default="all", help="cpu, cuda or all (cuda when present)")
    s.add_argument("--size", default="full", choices=("tiny", "small", "full"))
    s.add_argument("--repeats", type=int, default=2)
    s.add_argument("--out", help="write the figures as JSON here")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("demo", help="generate cohorts, train, evaluate; print where the pictures are")
    s.add_argument("--out", default="var/demo")
    s.add_argument("--normals", type=int, default=24)
    s.add_argument("--test-normals", type=int, default=20)
    s.add_argument("--abnormals", type=int, default=20)
    s.add_argument("--epochs", type=int)
    s.add_argument("--device", default="auto")
    s.set_defaults(func=cmd_demo)
