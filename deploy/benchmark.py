"""The loopback cluster as a benchmark (docs/benchmarks.md "The site on a loopback cluster"):

    .venv/bin/python -m deploy.benchmark --model var/exp/model_k1_tuned --studies 8

In one run: detection throughput (studies per minute) with 1 worker, then with 2 workers, each
on its own freshly uploaded cohort of new phantoms of the same kind (the ratio is the figure); where a job's
time goes (stage means from the jobs' timings, and queue waits); then the worklist read by
``--readers`` concurrent clients (p50/p95/max). Prints a Markdown table and writes JSON.

Torch threads follow deploy/cluster.sh: with N workers on C cores each takes C/N.
Run it on a quiet machine: it is the only heavy thing that should run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from deploy.cluster_client import Client, Cluster, free_ports, percentile, zip_series

PASSWORD = "cluster-benchmark-password-5J"


def _when(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def detection_phase(cluster: Cluster, name: str, root: Path, series: list[Path], timeout: float) -> dict:
    """Upload the studies into a new cohort (one request) and wait until every job is done."""
    coordinator = cluster.client().sign_in("coordinator", PASSWORD)
    cohort = coordinator.post_json("/api/cohorts/", {"name": name, "purpose": "screening"}).json()["id"]
    coordinator.post_json(f"/api/cohorts/{cohort}/members/", {"username": "radiologist"})
    started = time.time()
    answer = coordinator.upload_zip(cohort, zip_series(series, root))
    if answer.status != 200:
        raise RuntimeError(f"upload: {answer.status} {answer.body[:300]!r}")
    uploaded = time.time()
    deadline = uploaded + timeout
    while True:
        jobs = coordinator.all_pages(f"/api/jobs/?cohort={cohort}")
        if [j for j in jobs if j["status"] in {"failed", "cancelled"}]:
            raise RuntimeError(f"a job failed: {jobs}")
        if len(jobs) == len(series) and all(j["status"] == "done" for j in jobs):
            break
        if time.time() > deadline:
            raise RuntimeError(f"{name}: not done after {timeout} s")
        time.sleep(1)
    first_start = min(_when(j["started_at"]) for j in jobs)
    last_end = max(_when(j["finished_at"]) for j in jobs)
    stages: dict[str, list[float]] = {}
    for job in jobs:
        for stage, seconds in (job["timings"] or {}).items():
            stages.setdefault(stage, []).append(float(seconds))
    return {
        "cohort": cohort,
        "studies": len(series),
        "upload_s": round(uploaded - started, 2),
        "detection_s": round(last_end - first_start, 2),
        "studies_per_minute": round(len(series) / (last_end - first_start) * 60, 3),
        "queue_wait_mean_s": round(
            statistics.mean(_when(j["started_at"]) - _when(j["created_at"]) for j in jobs), 2
        ),
        "stage_mean_s": {k: round(statistics.mean(v), 3) for k, v in stages.items()},
    }


def readers_phase(cluster: Cluster, cohort: int, readers: int, reads_each: int) -> dict:
    coordinator = cluster.client().sign_in("coordinator", PASSWORD)
    built = coordinator.post_json(
        "/api/worklists/", {"cohort": cohort, "name": "benchmark reading", "readers": ["radiologist"]}
    )
    if built.status != 201:
        raise RuntimeError(f"worklist: {built.status} {built.body[:300]!r}")
    worklist = built.json()["id"]
    clients = [cluster.client().sign_in("radiologist", PASSWORD) for _ in range(readers)]
    before = len(cluster.log.rows)

    def read(client: Client) -> None:
        for _ in range(reads_each):
            client.get(f"/api/worklists/{worklist}/items/")

    started = time.perf_counter()
    threads = [threading.Thread(target=read, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    rows = cluster.log.rows[before:]
    seconds = [r[3] for r in rows]
    return {
        "readers": readers,
        "requests": len(rows),
        "non_200": sum(1 for r in rows if r[2] != 200),
        "p50_ms": round(percentile(seconds, 50) * 1000, 1),
        "p95_ms": round(percentile(seconds, 95) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
        "requests_per_s": round(len(rows) / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, required=True, help="a detector model directory (python -m detector train)"
    )
    parser.add_argument("--studies", type=int, default=8, help="studies per phase (default 8)")
    parser.add_argument(
        "--size", default="small", choices=["tiny", "small", "full"], help="phantom size (default small)"
    )
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--reads-each", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per detection phase")
    parser.add_argument("--out", type=Path, default=Path("var/cluster-benchmark.json"))
    args = parser.parse_args()

    from detector.lab.phantom import generate_cohort

    work = Path(tempfile.mkdtemp(prefix="fusionscreen-bench-"))
    # Two sets of different studies of one kind: a study the model scored is not scored again.
    root = work / "phantoms"
    sets = []
    for seed in (6060, 6161):
        half = args.studies // 2
        labels = generate_cohort(root / str(seed), half, args.studies - half, seed, args.size, progress=False)
        sets.append([root / str(seed) / row["folder"] for row in csv.DictReader(labels.open())])
    ports = free_ports(3)
    report: dict = {
        "machine": {"cores": os.cpu_count(), "load_before": os.getloadavg()[0]},
        "size": args.size,
    }
    cluster = Cluster(work / "cluster", f"fs_bench_{os.getpid()}", ports, workers=1, DEMO_PASSWORD=PASSWORD)
    try:
        for workers in (1, 2):
            cluster.env["WORKERS"] = str(workers)
            cluster.env.pop("DETECTION_TORCH_THREADS", None)
            cluster.run("down")
            cluster.run("up")
            if workers == 1:
                cluster.run("manage", "create_demo_users")
                cluster.run(
                    "manage", "import_model", str(args.model.resolve()), "--name", "benchmark", "--activate"
                )
            report[f"workers_{workers}"] = detection_phase(
                cluster,
                f"bench {workers}",
                root / str((6060, 6161)[workers - 1]),
                sets[workers - 1],
                args.timeout,
            )
            print(f"{workers} worker(s): {report[f'workers_{workers}']}", flush=True)
        report["speedup_2_over_1"] = round(
            report["workers_2"]["studies_per_minute"] / report["workers_1"]["studies_per_minute"], 3
        )
        report["readers"] = readers_phase(
            cluster, report["workers_2"]["cohort"], args.readers, args.reads_each
        )
        report["server_errors"] = len(cluster.log.server_errors())
    finally:
        cluster.run("purge")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    one, two, reads = report["workers_1"], report["workers_2"], report["readers"]
    print("\n| workers | studies | detection s | studies/min | queue wait s |\n|---|---|---|---|---|")
    for n, phase in ((1, one), (2, two)):
        print(
            f"| {n} | {phase['studies']} | {phase['detection_s']} | {phase['studies_per_minute']} | {phase['queue_wait_mean_s']} |"
        )
    print(f"\nspeed-up 2 workers / 1: {report['speedup_2_over_1']}")
    print(
        f"worklist, {reads['readers']} readers x {args.reads_each}: p50 {reads['p50_ms']} ms, p95 {reads['p95_ms']} ms, "
        f"max {reads['max_ms']} ms, {reads['requests_per_s']} req/s, non-200: {reads['non_200']}"
    )
    print(f"stage means (1 worker): {one['stage_mean_s']}\nstage means (2 workers): {two['stage_mean_s']}")
    print(f"5xx answers: {report['server_errors']}; JSON: {args.out}")


if __name__ == "__main__":
    main()
