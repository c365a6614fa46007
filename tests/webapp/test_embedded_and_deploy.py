"""The site with nothing configured (SQLite + file-system broker under var/), the Celery worker on
each broker this machine runs, and the production settings, each in real subprocesses."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.webapp.conftest import zip_folder
from tests.webapp.workers import worker_env

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
pytestmark = pytest.mark.slow

# The subprocesses start clean of the test process's settings, as the workers do.
clean_env = worker_env


def manage(
    env: dict[str, str], *args: str, check: bool = True, timeout: int = 120
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [PY, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def start_site(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """``manage.py runserver`` on a free port, once it answers the login page; (process, base URL)."""
    port = free_port()
    server = subprocess.Popen(
        [PY, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            status, _ = http("GET", f"{base}/accounts/login/")
            break
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    else:
        stop(server)
        pytest.fail("runserver did not answer")
    assert status == 200
    return server, base


def token_auth(base: str, username: str, password: str) -> dict[str, str]:
    """The Authorization header of a user's API token."""
    status, body = http(
        "POST",
        f"{base}/api/auth/token/",
        json.dumps({"username": username, "password": password}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, body
    return {"Authorization": f"Token {json.loads(body)['token']}"}


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = b""
    for name, data in files:
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read() if proc.stdout else ""


def test_embedded_default_runs_the_site_on_sqlite(tmp_path, phantoms):
    var = tmp_path / "var"
    env = clean_env(var, DEMO_PASSWORD="embedded-demo-1")
    manage(env, "migrate", "--noinput")
    assert (var / "db.sqlite3").is_file()
    out = manage(env, "create_demo_users").stdout
    assert "coordinator" in out and "embedded-demo-1" in out
    server, base = start_site(env)
    try:
        assert http("GET", f"{base}/static/webapp/site.css")[0] == 200
        auth = token_auth(base, "coordinator", "embedded-demo-1")
        status, body = http(
            "POST",
            f"{base}/api/cohorts/",
            json.dumps({"name": "embedded", "purpose": "screening"}).encode(),
            {**auth, "Content-Type": "application/json"},
        )
        assert status == 201, body
        cohort = json.loads(body)["id"]
        data, content_type = multipart([("cohort.zip", zip_folder(phantoms.series_dirs, phantoms.root))])
        status, body = http(
            "POST", f"{base}/api/cohorts/{cohort}/upload/", data, {**auth, "Content-Type": content_type}
        )
        assert status == 200, body
        result = json.loads(body)
        assert result["rejected"] == 0 and len(result["study_ids"]) == 3
        status, body = http("GET", f"{base}/api/studies/?cohort={cohort}", headers=auth)
        assert status == 200 and json.loads(body)["count"] == 3
        assert len(list((var / "media" / "dicom").rglob("*.dcm"))) == result["accepted"]
    finally:
        log = stop(server)
    assert "Traceback" not in log, log


BROKERS = {
    "filesystem": {},
    "redis": {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/15"},
    "rabbitmq": {"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"},
}


@pytest.mark.parametrize("broker", list(BROKERS))
def test_celery_worker_round_trip(tmp_path, broker):
    """`celery -A webapp worker` starts on the broker and answers a task sent by another process."""
    env = clean_env(tmp_path / "var", **BROKERS[broker])
    worker = subprocess.Popen(
        [
            PY,
            "-m",
            "celery",
            "-A",
            "webapp",
            "worker",
            "-Q",
            "cpu,gpu",
            "--pool",
            "solo",
            "-n",
            f"t-{uuid.uuid4().hex[:6]}@%h",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        send = subprocess.run(
            [
                PY,
                "-c",
                "import django, os; django.setup(); from webapp.celery import app, ping; "
                "c = app.conf; "
                "print(c.task_acks_late, c.worker_prefetch_multiplier, sorted(q.name for q in c.task_queues)); "
                "print(ping.apply_async(queue='cpu').get(timeout=90), ping.apply_async(queue='gpu').get(timeout=90))",
            ],
            cwd=REPO,
            env={**env, "DJANGO_SETTINGS_MODULE": "webapp.settings"},
            capture_output=True,
            text=True,
            timeout=150,
        )
    finally:
        log = stop(worker)
    assert send.returncode == 0, send.stdout + send.stderr + log
    assert send.stdout.split("\n")[:2] == ["True 1 ['cpu', 'gpu']", "pong pong"], send.stdout
    assert ".> cpu              exchange=cpu(direct) key=cpu" in log
    assert ".> gpu              exchange=gpu(direct) key=gpu" in log


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        tmp_path / "var",
        DJANGO_ENV="production",
        SECRET_KEY="k" + uuid.uuid4().hex + uuid.uuid4().hex,
        ALLOWED_HOSTS="fusionscreen.example.org",
        **extra,
    )


def test_production_settings_pass_check_deploy(tmp_path):
    proc = manage(_production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert "System check identified no issues" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("drop", "message"), [("SECRET_KEY", "needs SECRET_KEY"), ("ALLOWED_HOSTS", "needs ALLOWED_HOSTS")]
)
def test_production_refuses_to_start_half_configured(tmp_path, drop, message):
    env = _production_env(tmp_path)
    del env[drop]
    proc = manage(env, "check", check=False)
    assert proc.returncode != 0 and message in proc.stderr


def test_demo_users_need_an_explicit_password_in_production(tmp_path):
    env = _production_env(tmp_path)
    manage(env, "migrate", "--noinput")
    proc = manage(env, "create_demo_users", check=False)
    assert proc.returncode != 0 and "set DEMO_PASSWORD" in proc.stderr
