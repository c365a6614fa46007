"""Operations (issue 15): /healthz and /readyz, request ids and the JSON log lines, worker
heartbeats, error reports only when a DSN is set."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from tests.webapp.conftest import api_client
from tests.webapp.workers import worker_env
from webapp.error_reports import scrub
from webapp.logs import JsonFormatter, bound
from webapp.operations import heartbeat
from webapp.operations.models import WorkerHeartbeat

REPO = Path(__file__).resolve().parents[2]
ROLES = ["anonymous", "radiologist", "coordinator", "admin"]


def live_worker(queues: str = "cpu", age_s: float = 0, stopped: bool = False) -> WorkerHeartbeat:
    seen = timezone.now() - timedelta(seconds=age_s)
    return WorkerHeartbeat.objects.create(
        name=f"w-{queues}-{age_s}@host", queues=queues, pid=1, seen_at=seen, stopped=stopped
    )


@pytest.mark.parametrize("role", ROLES)
def test_healthz_answers_anyone_without_data(world, role):
    r = api_client(world.user(role)).get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert "no-cache" in r["Cache-Control"]
    assert api_client(world.user(role)).post("/healthz").status_code == 405


@pytest.mark.parametrize("role", ROLES)
def test_readyz_names_what_is_missing_and_shows_no_patient_data(world, role):
    r = api_client(world.user(role)).get("/readyz")
    assert r.status_code == 503, r.content
    body = r.json()
    checks = body["checks"]
    assert body["status"] == "unavailable"
    assert checks["database"]["ok"] and checks["broker"]["ok"] and checks["media"]["ok"]
    assert not checks["worker"]["ok"] and "no worker on queue cpu" in checks["worker"]["detail"]
    assert not checks["model"]["ok"] and checks["model"]["detail"] == "no active model version"
    text = r.content.decode()
    for study in (world.study_a, world.study_b):
        assert study.patient.patient_id not in text and study.study_instance_uid not in text


def test_readyz_is_ready_with_a_fresh_worker_and_a_sound_model(world, model_version):
    live_worker("cpu,gpu")
    r = api_client().get("/readyz")
    assert r.status_code == 200, r.json()
    assert r.json()["checks"]["model"]["detail"] == f"model version {model_version.pk}"


@pytest.mark.parametrize(
    "worker, why",
    [
        ({"age_s": 600}, "stale"),
        ({"queues": "gpu"}, "another queue"),
        ({"stopped": True}, "stopped cleanly"),
    ],
)
def test_readyz_wants_a_live_worker_on_the_detection_queue(world, model_version, worker, why):
    live_worker(**worker)
    checks = api_client().get("/readyz").json()["checks"]
    assert not checks["worker"]["ok"], why and checks["model"]["ok"]


def test_readyz_notices_a_changed_model_file(world, model_version):
    live_worker()
    weights = model_version.path / "model.pt"
    data = weights.read_bytes()
    weights.unlink()  # the media copy may be a hard link to the session's model: never write through it
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    r = api_client().get("/readyz")
    assert r.status_code == 503 and "checksum differs" in r.json()["checks"]["model"]["detail"]
    weights.unlink()
    assert "model.pt missing" in api_client().get("/readyz").json()["checks"]["model"]["detail"]


def test_heartbeat_writes_and_refreshes_its_row(db):
    heartbeat.beat("cpu-1@host", ["gpu", "cpu"])
    first = WorkerHeartbeat.objects.get(name="cpu-1@host")
    assert first.queues == "cpu,gpu" and not first.stopped
    heartbeat.beat("cpu-1@host", ["cpu", "gpu"])
    again = WorkerHeartbeat.objects.get(name="cpu-1@host")
    assert again.seen_at >= first.seen_at and again.started_at == first.started_at


def test_each_request_gets_an_id_and_one_log_line_without_its_query(world, caplog):
    client = api_client(world.radiologist)
    with caplog.at_level(logging.INFO, logger="webapp.requests"):
        r = client.get("/dicomweb/studies?PatientName=Secret*")
        offered = client.get("/api/cohorts/", HTTP_X_REQUEST_ID="nginx-0123456789abcdef")
        forged = client.get("/api/cohorts/", HTTP_X_REQUEST_ID="<script>")
    assert len(r["X-Request-ID"]) == 32
    assert offered["X-Request-ID"] == "nginx-0123456789abcdef"
    assert forged["X-Request-ID"] != "<script>" and len(forged["X-Request-ID"]) == 32
    lines = [rec for rec in caplog.records if rec.name == "webapp.requests"]
    assert [rec.path for rec in lines] == ["/dicomweb/studies", "/api/cohorts/", "/api/cohorts/"]
    assert all(rec.user_id == world.radiologist.pk and rec.status == 200 for rec in lines)
    assert "Secret" not in caplog.text


def test_json_lines_carry_the_bound_context_and_the_extras():
    record = logging.makeLogRecord(
        {"name": "webapp.jobs", "msg": "job step", "levelname": "INFO", "stage": "global"}
    )
    with bound(request_id="abc123", job_id=7):
        line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "job step" and entry["level"] == "INFO" and entry["logger"] == "webapp.jobs"
    assert entry["request_id"] == "abc123" and entry["job_id"] == 7 and entry["stage"] == "global"
    assert "request_id" not in json.loads(JsonFormatter().format(record))  # the context ended with the block


def test_error_reports_are_scrubbed_of_request_data():
    event = {
        "request": {
            "method": "GET",
            "url": "https://site/dicomweb/studies?PatientName=Doe",
            "cookies": {"sessionid": "s"},
            "data": {"PatientName": "Doe"},
            "headers": {"Cookie": "sessionid=s"},
        },
        "user": {"username": "rad"},
        "exception": {"values": [{"stacktrace": {"frames": [{"function": "f", "vars": {"name": "Doe"}}]}}]},
    }
    assert "Doe" not in json.dumps(scrub(event))
    assert event["request"] == {"method": "GET", "url": "https://site/dicomweb/studies"}


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Collector.received.append(
            gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.mark.slow
def test_an_error_reaches_the_dsn_only_when_one_is_set(tmp_path):
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = (
        "import django, logging, sentry_sdk; django.setup();"
        "print('active', sentry_sdk.get_client().is_active());"
        "\ntry:\n    raise RuntimeError('report me')\nexcept RuntimeError:\n"
        "    logging.getLogger('webapp.test').exception('failed')\n"
        "sentry_sdk.flush(5)"
    )
    try:
        for dsn, active in ((f"http://public@127.0.0.1:{server.server_port}/1", True), ("", False)):
            _Collector.received.clear()
            env = worker_env(tmp_path / "var", DJANGO_SETTINGS_MODULE="webapp.settings", SENTRY_DSN=dsn)
            proc = subprocess.run(
                [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
            )
            assert proc.returncode == 0, proc.stderr
            assert f"active {active}" in proc.stdout
            got = b"".join(_Collector.received)
            assert (b"report me" in got) is active
    finally:
        server.shutdown()


def test_media_files_go_to_nginx_only_when_a_sendfile_location_is_set(settings, tmp_path):
    from webapp.core.sendfile import file_response

    settings.MEDIA_ROOT = tmp_path / "media"
    inside = settings.MEDIA_ROOT / "studies" / "a b.dcm"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"DICM")
    outside = tmp_path / "elsewhere.dcm"
    outside.write_bytes(b"DICM")
    settings.SENDFILE_URL_PREFIX = ""
    assert b"".join(file_response(inside, "application/dicom").streaming_content) == b"DICM"
    settings.SENDFILE_URL_PREFIX = "/_protected/media/"
    handed = file_response(inside, "application/dicom")
    assert handed["X-Accel-Redirect"] == "/_protected/media/studies/a%20b.dcm" and handed.content == b""
    assert "X-Accel-Redirect" not in file_response(outside, "application/dicom")  # never outside media
