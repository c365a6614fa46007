"""Command line: ``python -m detector {train,score,phantom,evaluate,tune,bench,demo} ...``.

train and score are the engine's; phantom, evaluate, tune, bench and demo come from the lab
(``detector.lab.cli``). This module is the only part of ``detector`` outside the lab that
imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from detector.lab.cli import add_cache_argument, add_lab_commands, cache_from_args
from detector.settings import ModelSettings


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise SystemExit(f"--set expects NAME=VALUE, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def cmd_train(a: argparse.Namespace) -> int:
    from detector.cohort import discover
    from detector.train import train

    settings = ModelSettings().with_overrides(_overrides(a.set))  # before reading anything
    entries = discover(a.normals, a.labels)
    abnormal = [e for e in entries if e.label == "abnormal"]
    if abnormal:
        print(
            f"labels list {len(abnormal)} abnormal studies: training on the {len(entries) - len(abnormal)} normals only"
        )
        entries = [e for e in entries if e.label != "abnormal"]
    cache = cache_from_args(a)
    t = time.time()
    model = train(
        entries,
        settings,
        a.device,
        a.epochs,
        progress=not a.quiet,
        prepared=cache.prepared if cache else None,
    )
    model.meta["training"]["cohort"] = str(Path(a.normals).resolve())
    out = model.save(a.out)
    print(
        f"model written to {out} ({time.time() - t:.0f} s, {model.meta['training']['epochs']} local training {'steps' if settings.local_realisation == 'fpi' else 'epochs'}, device {model.device})"
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m detector", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("train", help="train both branches on a folder of normal series")
    s.add_argument("--normals", required=True, help="folder of normal series (labels.csv inside is honoured)")
    s.add_argument("--labels", help="labels CSV (default: NORMALS/labels.csv if present)")
    s.add_argument("--out", required=True, help="model directory to write")
    s.add_argument("--device", default="auto", help="cpu, cuda or auto")
    s.add_argument(
        "--epochs",
        type=int,
        help="local-branch training length: fpi steps or csi epochs (default: the setting)",
    )
    s.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a model setting")
    add_cache_argument(s)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("score", help="score one study: result.json + three maps as NIfTI")
    s.add_argument("--model", required=True)
    s.add_argument("--study", required=True, help="DICOM folder or file, or NIfTI")
    s.add_argument("--out", required=True)
    s.add_argument("--device", default="auto")
    s.set_defaults(func=cmd_score)

    add_lab_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyError as e:  # an unknown --set name: its message lists the known ones
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
