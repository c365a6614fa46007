"""A small HTTPS client for the loopback cluster (deploy/cluster.sh): what the cluster test and
the cluster benchmark do through nginx, with the standard library only.

Every answer is recorded (method, path, status, seconds), so a caller can assert that no
request got a 5xx and report latency percentiles.
"""

from __future__ import annotations

import io
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from http.client import HTTPSConnection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLUSTER = REPO / "deploy" / "cluster.sh"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Log:
    """Every request any client of one cluster made: (method, path, status, seconds)."""

    rows: list[tuple[str, str, int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, row: tuple[str, str, int, float]) -> None:
        with self.lock:
            self.rows.append(row)

    def server_errors(self) -> list[tuple[str, str, int, float]]:
        return [r for r in self.rows if r[2] >= 500]


class Cluster:
    """One cluster's processes, driven through deploy/cluster.sh with its own environment."""

    def __init__(self, directory: Path, name: str, ports: tuple[int, int, int], workers: int = 2, **env: str):
        https, http, web = ports
        self.directory, self.name, self.https_port = directory, name, https
        self.env = {
            **os.environ,
            "CLUSTER_DIR": str(directory),
            "CLUSTER_NAME": name,
            "HTTPS_PORT": str(https),
            "HTTP_PORT": str(http),
            "WEB_PORT": str(web),
            "WORKERS": str(workers),
            **env,
        }
        # The test process's own settings must not leak into the cluster's processes.
        for key in (
            "DJANGO_SETTINGS_MODULE",
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "CELERY_BROKER_KEY_PREFIX",
            "FUSIONSCREEN_VAR_DIR",
            "MEDIA_ROOT",
            "STATIC_ROOT",
            "CACHE_URL",
        ):
            self.env.pop(key, None)
        self.log = Log()

    def run(self, *args: str, timeout: float = 300) -> str:
        proc = subprocess.run(
            ["bash", str(CLUSTER), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def pid(self, process: str) -> int | None:
        path = self.directory / "run" / f"{process}.pid"
        return int(path.read_text()) if path.exists() else None

    def client(self) -> Client:
        return Client(self)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Client:
    """One user agent: its own connection (HTTP/1.1 keep-alive over TLS) and token."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        context = ssl.create_default_context(cafile=str(cluster.directory / "tls" / "fullchain.pem"))
        self.connection = HTTPSConnection("localhost", cluster.https_port, context=context, timeout=600)
        self.token = ""

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Answer:
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (ConnectionError, OSError):
                # A keep-alive connection the server closed between requests: open a new one.
                self.connection.close()
                if attempt == 2:
                    raise
        seconds = time.perf_counter() - started
        self.cluster.log.add((method, path.split("?", 1)[0], response.status, seconds))
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def post_json(self, path: str, payload: dict) -> Answer:
        return self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def sign_in(self, username: str, password: str) -> Client:
        answer = self.post_json("/api/auth/token/", {"username": username, "password": password})
        if answer.status != 200:
            raise RuntimeError(f"sign-in of {username}: {answer.status} {answer.body[:300]!r}")
        self.token = answer.json()["token"]
        return self

    def upload_zip(self, cohort_id: int, archive: bytes) -> Answer:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="studies.zip"\r\n'
                "Content-Type: application/zip\r\n\r\n"
            ).encode()
            + archive
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return self.request(
            "POST",
            f"/api/cohorts/{cohort_id}/upload/",
            body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )

    def all_pages(self, path: str) -> list[dict]:
        rows: list[dict] = []
        page = 1
        while True:
            sep = "&" if "?" in path else "?"
            answer = self.get(f"{path}{sep}page={page}")
            if answer.status != 200:
                raise RuntimeError(f"GET {path}: {answer.status} {answer.body[:300]!r}")
            data = answer.json()
            rows += data["results"]
            if not data.get("next"):
                return rows
            page += 1


def zip_series(folders: list[Path], root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for folder in folders:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def free_ports(n: int) -> tuple[int, ...]:
    """``n`` TCP ports free on 127.0.0.1 right now (for the cluster's nginx and gunicorn)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = tuple(s.getsockname()[1] for s in sockets)
    for s in sockets:
        s.close()
    return ports


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
