#!/usr/bin/env python
"""Worklist API load test: a radiologist's worklist of 10,000 studies on PostgreSQL.

Creates a throw-away database (``fusionscreen_load`` on the server of ``--server``; dropped at
the end unless ``--keep``), migrates it, inserts the studies and their detection results in bulk
(one cohort, one active model version), builds the worklist and assigns it through the worklists
service as a coordinator would, serves the site with ``manage.py runserver`` (threaded; no WSGI
server is pinned in requirements.txt) and times, over real HTTP with the radiologist's token:

- ``GET /api/worklists/{id}/items/?page=P&page_size=50``: a random page of the triage list;
- ``GET /api/worklist-items/{id}/``: a random item's detail (neighbours, position, interpretation).

Requests are sequential (one reader); prints p50/p95/p99 in ms per endpoint and the number of SQL
queries each endpoint makes. Usage::

    .venv/bin/python scripts/loadtest_worklist.py [--studies 10000] [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DB_NAME = "fusionscreen_load"
PAGE_SIZE = 50


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--studies", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    p.add_argument("--warmup", type=int, default=20, help="untimed requests per endpoint first")
    p.add_argument("--server", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return p.parse_args()


def recreate_database(server: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database(server: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def populate(n_studies: int) -> tuple[int, str]:
    """The rows, as the site would hold them after detection of a 10k cohort; returns the
    worklist id and the radiologist's API token."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from knox.models import AuthToken

    from webapp.accounts import roles
    from webapp.accounts.services import set_role
    from webapp.cohorts import services as cohort_services
    from webapp.cohorts.models import CohortStudy
    from webapp.detection.models import Calibration, DetectionJob, DetectionResult, ModelVersion
    from webapp.studies.models import Patient, Study
    from webapp.worklists import services as worklist_services

    users = get_user_model().objects
    coordinator = users.create_user("load-coordinator", password="load-test-password-1")
    radiologist = users.create_user("load-radiologist", password="load-test-password-1")
    set_role(None, coordinator, roles.COORDINATOR)
    set_role(None, radiologist, roles.RADIOLOGIST)
    cohort = cohort_services.create_cohort(coordinator, name="Load screening", purpose="screening")
    cohort_services.add_member(coordinator, cohort, radiologist.get_username())
    version = ModelVersion.objects.create(
        name="load", source=ModelVersion.Source.IMPORTED, is_active=True, directory="models/none"
    )
    rng = random.Random(3)
    batch = 2000
    patients = Patient.objects.bulk_create(
        [Patient(patient_id=f"LOAD{i:06d}", patient_name=f"LOAD^{i}") for i in range(n_studies)], batch
    )
    studies = Study.objects.bulk_create(
        [
            Study(study_instance_uid=f"1.2.826.0.1.3680043.10.9.{i}", patient=p, study_description="LDCT")
            for i, p in enumerate(patients)
        ],
        batch,
    )
    CohortStudy.objects.bulk_create([CohortStudy(cohort=cohort, study=s) for s in studies], batch)
    now = timezone.now()
    jobs = DetectionJob.objects.bulk_create(
        [
            DetectionJob(
                study=s,
                model_version=version,
                cohort=cohort,
                status="done",
                progress=1.0,
                attempts=1,
                queue="cpu",
                finished_at=now,
            )
            for s in studies
        ],
        batch,
    )
    grid = {
        "shape_zyx": [300, 512, 512],
        "spacing_zyx_mm": [1.0, 0.7, 0.7],
        "origin_lps_mm": [-180.0, -180.0, -300.0],
        "direction_zyx": [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]],
    }
    results = []
    for job in jobs:
        fused = rng.random()
        peaks = [
            {
                "center_lps_mm": [rng.uniform(-150, 150), rng.uniform(-150, 150), rng.uniform(-280, -20)],
                "value": fused,
                "extent_mm": 12.0,
                "side": "left",
            }
            for _ in range(5)
        ]
        results.append(
            DetectionResult(
                job=job,
                study_id=job.study_id,
                model_version=version,
                series_instance_uid=f"{job.pk}.1",
                global_score=fused - 0.5,
                local_score=fused + 0.2,
                fused_score=fused,
                peaks=peaks,
                grid=grid,
                maps_directory=f"results/job-{job.pk}/attempt-1",
                maps={},
            )
        )
    DetectionResult.objects.bulk_create(results, batch)
    point = {"sensitivity": 0.9, "specificity": 0.8, "tp": 9, "fn": 1, "tn": 8, "fp": 2}
    Calibration.objects.create(  # so every item carries its calls at the operating points
        cohort=cohort,
        model_version=version,
        status="done",
        progress=1.0,
        finished_at=now,
        auc={"fused": 0.85},
        operating_points={
            "fused": {
                name: {**point, "threshold": t}
                for name, t in (("balanced", 0.5), ("high_sensitivity", 0.3), ("high_specificity", 0.7))
            }
        },
    )
    worklist = worklist_services.build_worklist(
        coordinator, cohort, name="Load triage", readers=[radiologist.get_username()]
    )
    _, token = AuthToken.objects.create(user=radiologist)
    return worklist.pk, token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str) -> tuple[float, dict]:
    req = urllib.request.Request(
        url, headers={"Authorization": f"Token {token}", "Accept": "application/json"}
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = resp.read()
    ms = (time.perf_counter() - t0) * 1000
    return ms, json.loads(body)


def percentiles(ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms (n={len(ms)}, max {max(ms):.1f})"


def count_queries(worklist_id: int, item_id: int, token: str) -> dict[str, int]:
    """SQL queries per request, through Django's test client on the same database."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
    out = {}
    for name, path in (
        ("items page", f"/api/worklists/{worklist_id}/items/?page=3&page_size={PAGE_SIZE}"),
        ("item detail", f"/api/worklist-items/{item_id}/"),
    ):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        out[name] = len(ctx.captured_queries)
    return out


def main() -> None:
    args = parse_args()
    var = Path(tempfile.mkdtemp(prefix="fusionscreen-load-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.server}/{DB_NAME}",
        "FUSIONSCREEN_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "DEBUG": "0",  # no query log, no debug pages: as served for real
    }
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    recreate_database(args.server)
    server = None
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        t0 = time.perf_counter()
        worklist_id, token = populate(args.studies)
        print(f"{args.studies} studies, results and worklist items in {time.perf_counter() - t0:.0f} s")
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("ANALYZE")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--nothreading", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                get(f"{base}/api/worklists/", token)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        first = get(f"{base}/api/worklists/{worklist_id}/items/?page_size={PAGE_SIZE}", token)[1]
        assert first["count"] == args.studies, first["count"]
        scores = [r["fused_score"] for r in first["results"]]
        assert scores == sorted(scores, reverse=True)
        from webapp.worklists.models import WorklistItem

        item_ids = list(WorklistItem.objects.filter(worklist_id=worklist_id).values_list("pk", flat=True))
        pages = (args.studies + PAGE_SIZE - 1) // PAGE_SIZE
        rng = random.Random(7)
        endpoints = {
            "items page (50, random page)": lambda: (
                f"{base}/api/worklists/{worklist_id}/items/"
                f"?page={rng.randint(1, pages)}&page_size={PAGE_SIZE}"
            ),
            "item detail (random item)": lambda: f"{base}/api/worklist-items/{rng.choice(item_ids)}/",
        }
        for name, url in endpoints.items():
            for _ in range(args.warmup):
                get(url(), token)
            timings = [get(url(), token)[0] for _ in range(args.requests)]
            print(f"{name}: {percentiles(timings)}")
        print(f"SQL queries per request: {count_queries(worklist_id, item_ids[len(item_ids) // 2], token)}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(args.server)


if __name__ == "__main__":
    main()
