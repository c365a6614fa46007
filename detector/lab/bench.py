"""``python -m detector bench``: per-stage wall time and peak memory on one full-size study.

Each device runs in its own child process so that its peak resident memory is its own.
Without ``--model`` the weights are random and the banks come from the study itself: the
arithmetic is the same as a trained model's, so the timing is representative (scores are not).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import resource
import tempfile
from pathlib import Path

import numpy as np
import torch

STAGES = ("read", "resample", "lung_mask", "global", "local", "fusion", "write")


def _timing_model(study: str, device: str):
    """Random-weight model whose banks are built from the benchmark study (timing only)."""
    from detector.cohort import CohortEntry
    from detector.model import FusionModel
    from detector.settings import ModelSettings
    from detector.train import prepare_normal

    model = FusionModel.new(ModelSettings(), device)
    normal = prepare_normal(CohortEntry(Path(study), "BENCH", "", "normal"), model, np.random.default_rng(0))
    model.global_model.fit([normal.global_features] * 4)
    model.local_model.build_reference([normal.local_input] * 4)
    return model


def _child(study: str, model_dir: str | None, device: str, repeats: int, queue) -> None:
    from detector.model import FusionModel
    from detector.score import score_study

    model = FusionModel.load(model_dir, device) if model_dir else _timing_model(study, device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        score_study(model, study, tmp)  # warm-up: allocator, cuDNN autotuning, page cache
        for _ in range(repeats):
            runs.append(score_study(model, study, tmp)["timings_s"])
    med = {k: float(np.median([r.get(k, 0.0) for r in runs])) for k in STAGES}
    med["total"] = sum(med.values())
    out = {
        "device": device,
        "device_name": torch.cuda.get_device_name(0)
        if device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "stages_s": med,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "repeats": repeats,
        "model": model_dir or "random weights (timing only)",
    }
    if device.startswith("cuda"):
        out["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 1024**3
    queue.put(out)


def run_bench(
    study: str | None,
    model_dir: str | None,
    devices: str = "all",
    size: str = "full",
    repeats: int = 2,
    out: str | None = None,
) -> list[dict]:
    tmp = None
    if study is None:
        from detector.io import write_series
        from detector.lab.phantom import make_phantom

        tmp = tempfile.TemporaryDirectory()
        ph = make_phantom(seed=4242, size=size, lesion_type="solid_nodule", lesion_site="central")
        study = str(Path(tmp.name) / "study")
        write_series(
            ph.volume,
            study,
            patient_id="BENCH",
            study_instance_uid="1.2.826.0.1.3680043.10.1.1",
            series_instance_uid="1.2.826.0.1.3680043.10.1.2",
        )
        print(
            f"benchmark study: {size} phantom, shape {ph.volume.shape}, spacing {ph.volume.geometry.spacing_zyx_mm.round(3).tolist()} mm"
        )
    wanted = ["cpu", "cuda"] if devices == "all" else [devices]
    wanted = [d for d in wanted if d == "cpu" or torch.cuda.is_available()]
    ctx = mp.get_context("spawn")
    results = []
    for dev in wanted:
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(study, model_dir, dev, repeats, q))
        p.start()
        res = q.get()
        p.join()
        results.append(res)
        print(_table(res))
    if out:
        Path(out).write_text(json.dumps(results, indent=2))
    if tmp:
        tmp.cleanup()
    return results


def _table(r: dict) -> str:
    lines = [
        f"\n{r['device']} ({r['device_name']}, {r['threads']} threads), median of {r['repeats']} runs, model: {r['model']}",
        "| stage | seconds |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in r["stages_s"].items()]
    lines.append(
        f"peak resident memory: {r['peak_rss_gb']:.2f} GB"
        + (f", peak GPU memory: {r['peak_gpu_gb']:.2f} GB" if "peak_gpu_gb" in r else "")
    )
    return "\n".join(lines)
