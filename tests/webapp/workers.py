"""Real ``celery -A webapp worker`` processes for tests: start, wait until ready, stop, kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings as django_settings

REPO = Path(__file__).resolve().parents[2]

# Settings the test process may carry that a worker must not inherit unless given explicitly.
SETTINGS_VARS = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_BROKER_KEY_PREFIX",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ENV",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DEBUG",
    "MEDIA_ROOT",
    "STATIC_ROOT",
    "FUSIONSCREEN_VAR_DIR",
    "FS_TEST_PAUSE_DIR",
)


def worker_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARS}
    env["FUSIONSCREEN_VAR_DIR"] = str(var_dir)
    env["PYTHONUNBUFFERED"] = "1"
    # One heartbeat at start (tests that look for it find it), none while other tests flush the
    # shared test database: a beat racing a TRUNCATE can deadlock it.
    env["WORKER_HEARTBEAT_EVERY"] = "3600"
    env.update(extra)
    return env


class Process:
    """A process of the project's beside the test process, its output in ``log``: started in a
    session of its own, ready once ``ready_marker`` shows in the log, stopped with SIGTERM."""

    ready_marker = ""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out = log.open("a")
        self.proc = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_marker in self.output():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.output()}")
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acknowledgement, nothing written."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._out.close()

    def stop(self, timeout: float = 60) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.output()


class Worker(Process):
    """One worker process (solo pool: one job at a time, in the worker process itself)."""

    ready_marker = " ready."

    def __init__(self, name: str, env: dict[str, str], log: Path, queues: str = "cpu", hooks: bool = False):
        name = f"{name}-{uuid.uuid4().hex[:6]}"
        args = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", queues, "--pool", "solo"]
        args += ["-n", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        if hooks:
            args += ["--include", "tests.webapp.worker_hooks"]
        super().__init__(name, args, env, log)


def database_url() -> str:
    """The test database as a URL for another process (PostgreSQL only: SQLite's test database
    lives in the test process's memory)."""
    db = django_settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("these tests share the test database with another process: PostgreSQL only")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def wait_for(check: Callable[[], object], timeout: float = 240, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
