"""Command line: ``python -m detector {phantom,train,tune,score,evaluate,bench,demo} ...``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from detector.settings import ModelSettings


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise SystemExit(f"--set expects NAME=VALUE, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def cmd_phantom(a: argparse.Namespace) -> int:
    from detector.phantom import generate_cohort

    t = time.time()
    labels = generate_cohort(
        Path(a.out), a.normals, a.abnormals, a.seed, a.size, transfer_syntax=a.transfer_syntax
    )
    print(f"wrote {a.normals} normal + {a.abnormals} abnormal {a.size} studies in {time.time() - t:.0f} s")
    print(f"labels: {labels}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from detector.cohort import discover
    from detector.train import train

    entries = discover(a.normals, a.labels)
    abnormal = [e for e in entries if e.label == "abnormal"]
    if abnormal:
        print(
            f"labels list {len(abnormal)} abnormal studies: training on the {len(entries) - len(abnormal)} normals only"
        )
        entries = [e for e in entries if e.label != "abnormal"]
    settings = ModelSettings().with_overrides(_overrides(a.set))
    t = time.time()
    model = train(entries, settings, a.device, a.epochs, progress=not a.quiet)
    model.meta["training"]["cohort"] = str(Path(a.normals).resolve())
    out = model.save(a.out)
    print(
        f"model written to {out} ({time.time() - t:.0f} s, {model.meta['training']['epochs']} local epochs, device {model.device})"
    )
    return 0


def cmd_score(a: argparse.Namespace) -> int:
    from detector.model import FusionModel
    from detector.score import score_study

    model = FusionModel.load(a.model, a.device)
    res = score_study(model, a.study, a.out)
    keys = ("global_score", "local_score", "fused_score")
    print(json.dumps({k: res[k] for k in keys} | {"peaks": res["peaks"][:3], "out": str(a.out)}, indent=2))
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from detector.cohort import discover
    from detector.evaluate import evaluate
    from detector.model import FusionModel

    model = FusionModel.load(a.model, a.device)
    entries = discover(a.cohort, a.labels)
    m = evaluate(
        model, entries, a.out, progress=not a.quiet, calib_fraction=a.calibration_fraction, seed=a.seed
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
    from detector.model import FusionModel
    from detector.tune import tune_model

    model = FusionModel.load(a.model, a.device)
    record = tune_model(model, discover(a.cohort, a.labels), progress=not a.quiet)
    model.meta.setdefault("tuning", record)["cohort"] = str(Path(a.cohort).resolve())
    out = model.save(a.out or a.model)
    table = ", ".join(f"{w}: {auc:.3f}" for w, auc in record["auc_by_weight"].items())
    print(f"fusion AUC by weight on the tuning cohort: {table}")
    print(
        f"chose fusion_weight={record['fusion_weight']} (global AUC {record['auc_global']:.3f}, local {record['auc_local']:.3f}); model written to {out}"
    )
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from detector.bench import run_bench

    run_bench(study=a.study, model_dir=a.model, devices=a.device, size=a.size, repeats=a.repeats, out=a.out)
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from detector.demo import run_demo

    run_demo(
        Path(a.out),
        normals=a.normals,
        test_normals=a.test_normals,
        abnormals=a.abnormals,
        epochs=a.epochs,
        device=a.device,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m detector", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("phantom", help="generate a synthetic chest LDCT cohort (DICOM + labels.csv)")
    s.add_argument("--out", required=True)
    s.add_argument("--normals", type=int, default=4)
    s.add_argument("--abnormals", type=int, default=4)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", choices=("tiny", "small", "full"), default="small")
    s.add_argument("--transfer-syntax", default="explicit_le", help="explicit_le, implicit_le or rle")
    s.set_defaults(func=cmd_phantom)

    s = sub.add_parser("train", help="train both branches on a folder of normal series")
    s.add_argument("--normals", required=True, help="folder of normal series (labels.csv inside is honoured)")
    s.add_argument("--labels", help="labels CSV (default: NORMALS/labels.csv if present)")
    s.add_argument("--out", required=True, help="model directory to write")
    s.add_argument("--device", default="auto", help="cpu, cuda or auto")
    s.add_argument("--epochs", type=int, help="local-branch epochs (default: the setting)")
    s.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a model setting")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("score", help="score one study: result.json + three maps as NIfTI")
    s.add_argument("--model", required=True)
    s.add_argument("--study", required=True, help="DICOM folder or file, or NIfTI")
    s.add_argument("--out", required=True)
    s.add_argument("--device", default="auto")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("evaluate", help="AUCs, operating points, localization on a labelled cohort")
    s.add_argument("--model", required=True)
    s.add_argument("--cohort", required=True)
    s.add_argument("--labels", help="labels CSV (default: COHORT/labels.csv)")
    s.add_argument("--out", required=True)
    s.add_argument("--device", default="auto")
    s.add_argument("--calibration-fraction", type=float, default=0.5)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("tune", help="choose the fusion weight on a labelled tuning cohort (not the test set)")
    s.add_argument("--model", required=True)
    s.add_argument("--cohort", required=True, help="labelled cohort of held-out normals and abnormals")
    s.add_argument("--labels", help="labels CSV (default: COHORT/labels.csv)")
    s.add_argument("--out", help="write the tuned model here (default: update --model in place)")
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
