"""The plan that fits what is left of scripts/gpu-check.sh's time budget: epochs, and if needed
fewer normals or test studies.

Times, on the device and with the settings that training will use, every cost of
``python -m detector train`` and ``evaluate``: start-up, preparing one study, the global banks
and the local normal bank at the cohort's size, one epoch at the cohort's size (one normal's
input repeated N times: an epoch takes one cube per patient, so its cost depends on N, not on
which patients), and scoring one study as ``evaluate`` does. Then :func:`plan` chooses.

Prints the costs and the plan as JSON (also written to ``--out``).
"""

# ruff: noqa: E402  (the clock starts before torch is imported: start-up is part of every command)
from __future__ import annotations

import time

T_START = time.time()

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from detector.cohort import discover
from detector.io import read_volume
from detector.local_slot import make_local
from detector.model import FusionModel
from detector.score import score_volume
from detector.settings import ModelSettings
from detector.train import prepare_normal

SAVE_S = 5.0  # writing model.pt (three ResNet-18s and the banks) and model.json
MIN_NORMALS = 8  # a smaller plan trains on no fewer normals ...
MIN_TEST_PER_CLASS = 5  # ... and evaluates on no fewer than 5 normals + 5 abnormals


@dataclass
class Costs:
    """Seconds measured on the device; the banks and the epoch at ``n_normals``."""

    n_normals: int
    startup_s: float
    prepare_s: float  # one training study: read, resample, lung mask, both branches' inputs
    global_s: float  # the global banks and their leave-one-out spread (grows with n squared)
    reference_s: float  # the local normal bank (grows with n)
    score_s: float  # one study as evaluate scores it
    warmup_s: float  # what the first epoch costs more than the others
    epoch_s: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: torch.device) -> tuple[object, float]:
    _sync(device)
    t = time.time()
    out = fn()
    _sync(device)
    return out, time.time() - t


def measure(normals: str, n: int, settings: ModelSettings, device: str, probe_epochs: int) -> Costs:
    """Time every cost of train and evaluate on the cohort's first studies (see the module doc)."""
    entries = [e for e in discover(normals) if e.label != "abnormal"]
    if len(entries) < 2:
        raise SystemExit(f"{normals}: the estimate needs 2 normal studies, found {len(entries)}")
    model = FusionModel.new(settings, device)
    dev = model.device
    _sync(dev)
    startup_s = time.time() - T_START
    rng = np.random.default_rng(settings.seed)
    prepare_normal(entries[0], model, rng)  # the first study also pays for kernels and caches
    normal, prepare_s = _timed(lambda: prepare_normal(entries[1], model, rng), dev)
    _, global_s = _timed(lambda: model.global_model.fit([normal.global_features] * n), dev)
    inputs = [normal.local_input] * n
    _, reference_s = _timed(lambda: model.local_model.build_reference(inputs), dev)
    study = entries[2 % len(entries)].folder
    _, score_s = _timed(lambda: score_volume(model, read_volume(study)), dev)
    # Epochs (steps for fpi, as train's --epochs): one to warm up, then a few timed, each on a
    # throw-away network.
    length = "local_epochs" if settings.local_realisation == "csi" else "fpi_steps"
    _, first_s = _timed(lambda: make_local(settings.with_overrides({length: 1}), dev).train(inputs), dev)
    probe = settings.with_overrides({length: probe_epochs})
    _, probe_s = _timed(lambda: make_local(probe, dev).train(inputs), dev)
    epoch_s = probe_s / probe_epochs
    return Costs(
        n, startup_s, prepare_s, global_s, reference_s, score_s, max(first_s - epoch_s, 0.0), epoch_s
    )


def plan(
    c: Costs,
    seconds: float,
    test_per_class: int,
    bench_s: float,
    min_epochs: int,
    max_epochs: int,
    shrink: bool,
) -> dict:
    """Normals, test studies and epochs that fit in ``seconds``: the whole plan with bench if
    ``min_epochs`` still fit, else without bench, else (``shrink``) fewer normals, then fewer
    test studies, down to MIN_NORMALS and MIN_TEST_PER_CLASS per class. The epochs are then as
    many as fit, within [min_epochs, max_epochs]."""

    def fixed_s(n: int, k: int, bench: bool) -> float:
        r = n / c.n_normals
        train = c.startup_s + n * c.prepare_s + c.global_s * r * r + c.reference_s * r + c.warmup_s + SAVE_S
        evaluate = c.startup_s + 2 * k * c.score_s * 1.1 + 5.0  # + the lesion pictures and the ROC
        return train + evaluate + (bench_s if bench else 0.0)

    def epochs_that_fit(n: int, k: int, bench: bool) -> int:
        # epoch_s stays that of the full cohort: an epoch on fewer normals costs no more
        return max(math.floor((seconds - fixed_s(n, k, bench)) / c.epoch_s), 0)

    n, k = c.n_normals, test_per_class
    options = [(n, k, True), (n, k, False)]
    if shrink:
        floor_n = min(MIN_NORMALS, n)
        options += [(m, k, False) for m in range(n - 1, floor_n - 1, -1)]
        options += [(floor_n, j, False) for j in range(k - 1, min(MIN_TEST_PER_CLASS, k) - 1, -1)]
    fits = False
    for n_used, k_used, bench in options:
        if epochs_that_fit(n_used, k_used, bench) >= min_epochs:
            fits = True
            break
    fit = epochs_that_fit(n_used, k_used, bench)
    epochs = max(min_epochs, min(max_epochs, fit))
    return {
        "normals": n_used,
        "test_per_class": k_used,
        "bench": bench,
        "epochs_that_fit": fit,
        "epochs": epochs,
        "predicted_s": round(fixed_s(n_used, k_used, bench) + epochs * c.epoch_s, 1),
        "fits": fits,
        "shrunk": (n_used, k_used) != (n, k),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--normals", required=True, help="the training cohort (labels.csv inside)")
    p.add_argument("--n-normals", type=int, required=True, help="normals that training would use")
    p.add_argument("--test-per-class", type=int, required=True, help="test normals (= abnormals)")
    p.add_argument(
        "--seconds", type=float, required=True, help="time left for this estimate, train, evaluate and bench"
    )
    p.add_argument("--bench-s", type=float, default=90.0, help="time kept for bench if the epochs allow")
    p.add_argument("--margin", type=float, default=20.0, help="seconds kept free")
    p.add_argument("--min-epochs", type=int, default=20)
    p.add_argument("--max-epochs", type=int, default=1000, help="the paper trained 1000")
    p.add_argument("--probe-epochs", type=int, default=10)
    p.add_argument("--no-shrink", action="store_true", help="never plan fewer normals or test studies")
    p.add_argument("--device", default="cuda")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="model setting, as for train")
    p.add_argument("--out", help="write the costs and the plan here as JSON")
    a = p.parse_args(argv)
    settings = ModelSettings().with_overrides(dict(s.split("=", 1) for s in a.set or []))
    costs = measure(a.normals, a.n_normals, settings, a.device, a.probe_epochs)
    left = a.seconds - (time.time() - T_START) - a.margin  # once this estimate is done
    chosen = plan(costs, left, a.test_per_class, a.bench_s, a.min_epochs, a.max_epochs, not a.no_shrink)
    dev = torch.device(a.device)
    out = {
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "seconds_left": round(left, 1),
        "costs_s": {k: round(v, 4) for k, v in asdict(costs).items()},
        **chosen,
    }
    print(json.dumps(out, indent=2))
    if chosen["shrunk"]:
        print(
            f"warning: the protocol's plan ({a.n_normals} normals, {a.test_per_class} + {a.test_per_class} test "
            f"studies) does not fit the {left:.0f} s left: {chosen['normals']} normals, "
            f"{chosen['test_per_class']} + {chosen['test_per_class']} test studies"
        )
    if not chosen["fits"]:
        print(
            f"warning: even the smallest plan needs about {chosen['predicted_s']:.0f} s: expect a stop at the budget"
        )
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
