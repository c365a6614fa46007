"""scripts/gpu-check.sh end to end on the CPU at tiny sizes, so that a lent GPU's first minute is
not spent on a typo: every step (phantoms, estimate, train, evaluate, bench, results) runs; and
the plan its estimate chooses when the budget is short."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the script's own parameters: a value left in the environment must not change this run
PARAMETERS = {
    *("BUDGET_S", "NORMALS", "SIZE", "EPOCHS", "MIN_EPOCHS", "MAX_EPOCHS", "VIEW_PX", "EXTRA_SET", "SHRINK"),
    *("BENCH", "BENCH_DEVICE", "BENCH_SIZE", "BENCH_REPEATS", "BENCH_RESERVE_S", "INSTALL", "JOBS"),
}


def _estimate_module():
    spec = importlib.util.spec_from_file_location(
        "gpu_check_estimate", ROOT / "scripts" / "gpu_check_estimate.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def est():
    return _estimate_module()


def _costs(est):
    # 24 normals at 5 s each, 8 s a test study: without epochs the whole plan needs about 509 s
    return est.Costs(
        24, startup_s=10, prepare_s=5, global_s=2, reference_s=2, score_s=8, warmup_s=3, epoch_s=0.2
    )


def test_plan_keeps_the_protocol_and_bench_when_they_fit(est):
    p = est.plan(_costs(est), 1000, 20, bench_s=90, min_epochs=20, max_epochs=1000, shrink=True)
    assert (p["normals"], p["test_per_class"], p["bench"], p["epochs"]) == (24, 20, True, 1000)
    assert p["fits"] and not p["shrunk"] and p["epochs_that_fit"] > 1000


def test_plan_drops_bench_before_the_epochs_go_below_the_minimum(est):
    p = est.plan(_costs(est), 600, 20, bench_s=90, min_epochs=20, max_epochs=1000, shrink=True)
    assert (p["normals"], p["test_per_class"], p["bench"]) == (24, 20, False)
    assert 20 <= p["epochs"] == p["epochs_that_fit"] < 1000 and p["predicted_s"] <= 600


def test_plan_trains_on_fewer_normals_then_evaluates_on_fewer_studies(est):
    p = est.plan(_costs(est), 450, 20, bench_s=90, min_epochs=20, max_epochs=1000, shrink=True)
    assert p["shrunk"] and p["fits"] and 8 <= p["normals"] < 24 and p["test_per_class"] == 20
    assert p["predicted_s"] <= 450
    q = est.plan(_costs(est), 300, 20, bench_s=90, min_epochs=20, max_epochs=1000, shrink=True)
    assert q["fits"] and q["normals"] == est.MIN_NORMALS and 5 <= q["test_per_class"] < 20
    assert q["predicted_s"] <= 300


def test_plan_says_when_nothing_fits(est):
    p = est.plan(_costs(est), 100, 20, bench_s=90, min_epochs=20, max_epochs=1000, shrink=True)
    assert not p["fits"] and p["epochs"] == 20
    assert (p["normals"], p["test_per_class"]) == (est.MIN_NORMALS, est.MIN_TEST_PER_CLASS)
    q = est.plan(_costs(est), 450, 20, bench_s=90, min_epochs=20, max_epochs=1000, shrink=False)
    assert not q["fits"] and (q["normals"], q["test_per_class"], q["epochs"]) == (24, 20, 20)


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_on_the_cpu_at_tiny_sizes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in PARAMETERS}
    out = tmp_path / "out"
    env |= {
        "GPU_CHECK_TINY": "1",
        "DEVICE": "cpu",
        "OUT": str(out),
        "WORK": str(tmp_path / "work"),
        "PYTHON": sys.executable,
    }
    run = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu-check.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]

    metrics = json.loads((out / "metrics.json").read_text())
    assert {"auc_global", "auc_local", "auc_fused"} <= metrics.keys()
    assert metrics["n_normal"] == 2 and metrics["n_abnormal"] == 2
    model = json.loads((out / "model.json").read_text())
    assert model["settings"]["local_realisation"] == "csi"
    assert model["settings"]["working_spacing_mm"] == 4.0  # TEST_SETTINGS reached train
    assert model["training"]["epochs"] == 2 and model["training"]["n_normals"] == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "done"
    assert summary["estimate"]["epochs"] == 2 and summary["estimate"]["costs_s"]["epoch_s"] > 0
    assert set(summary["auc"]) == {"global", "local", "fused"}
    assert json.loads((out / "bench.json").read_text())[0]["device"] == "cpu"
    log = (out / "gpu-check.log").read_text()
    for name in ("imports", "test cohort", "estimate", "train", "evaluate", "bench"):
        assert re.search(rf"^\[\d\d:\d\d:\d\d \+ *\d+s\] {name}: done in \d+ s$", log, re.M), name
    assert "AUC on the test cohort: global" in log
