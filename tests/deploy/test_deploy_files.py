"""The deploy files, each checked by its own tool where that runs here: gunicorn --check-config,
nginx -t, systemd-analyze verify; the compose file's topology; the worker wrapper's refusal of
an unknown queue."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def test_gunicorn_config_loads_the_app():
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.run(
        [str(gunicorn), "--check-config", "-c", "deploy/gunicorn.conf.py", "webapp.wsgi"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(
    not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists(),
    reason="scripts/deploy-deps.sh installs nginx",
)
def test_nginx_accepts_the_shipped_site_with_only_its_paths_moved(tmp_path):
    """The site file and snippet as shipped; only the absolute paths (certificates, snippets,
    data, logs) point into a temporary folder, because nginx -t opens them."""
    (tmp_path / "tls").mkdir()
    (tmp_path / "data" / "tmp").mkdir(parents=True)  # deploy/README.md's layout creates it
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
         "-keyout", str(tmp_path / "tls" / "privkey.pem"), "-out", str(tmp_path / "tls" / "fullchain.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    moves = {
        "/etc/ssl/fusionscreen": str(tmp_path / "tls"),
        "/etc/nginx/snippets/": f"{tmp_path}/",
        "/srv/fusionscreen/data": str(tmp_path / "data"),
        "/var/log/nginx/": f"{tmp_path}/",
    }
    for name in ("fusionscreen.conf", "fusionscreen-app.conf"):
        text = (DEPLOY / "nginx" / name).read_text()
        for old, new in moves.items():
            text = text.replace(old, new)
        (tmp_path / name).write_text(text)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n include /etc/nginx/mime.types;\n include {tmp_path}/fusionscreen.conf;\n}}\n"
    )
    proc = subprocess.run(
        [
            "nginx",
            "-t",
            "-c",
            str(tmp_path / "nginx.conf"),
            "-p",
            str(tmp_path),
            "-e",
            str(tmp_path / "error.log"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "syntax is ok" in proc.stderr, proc.stderr


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd here")
def test_systemd_units_verify(tmp_path):
    """Each unit with its install path pointed at this checkout (verify checks the commands exist)."""
    venv = Path(sys.executable).parent.parent
    units = []
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        text = (
            unit.read_text()
            .replace("/srv/fusionscreen/app/.venv", str(venv))
            .replace("/srv/fusionscreen/app", str(REPO))
        )
        name = unit.name.replace("@.service", "@cpu-1.service")  # a template is verified as an instance
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    assert len(units) == 4
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if "fusionscreen" in line]
    assert proc.returncode == 0 and not problems, proc.stdout + proc.stderr


def test_compose_runs_the_documented_topology():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "init", "web", "worker-cpu", "beat", "dicom", "nginx"}
    assert services["worker-cpu"]["command"] == ["deploy/worker.sh", "cpu"]
    assert "gunicorn" in " ".join(services["web"]["command"]) and "beat" in services["beat"]["command"]
    assert "dicom_receiver" in services["dicom"]["command"]
    for role in ("web", "worker-cpu", "beat", "dicom"):
        assert services[role]["depends_on"]["init"]["condition"] == "service_completed_successfully"


def test_worker_wrapper_refuses_an_unknown_queue():
    proc = subprocess.run(["bash", str(DEPLOY / "worker.sh"), "fast-1"], capture_output=True, text=True)
    assert proc.returncode == 2 and "the queue is cpu or gpu, not 'fast'" in proc.stderr


def test_every_setting_read_from_the_environment_is_documented():
    import re

    sources = [
        REPO / "webapp" / "settings.py",
        REPO / "webapp" / "settings_operations.py",
        REPO / "webapp" / "settings_pacs.py",
        DEPLOY / "gunicorn.conf.py",
    ]
    names = set()
    for source in sources:
        text = source.read_text()
        names |= set(re.findall(r'env_(?:str|bool|int|float|list|bytes)\(\s*"([A-Z0-9_]+)"', text))
        names |= set(re.findall(r'(?:os\.environ\.get|_int)\(\s*"([A-Z0-9_]+)"', text))
    assert len(names) > 60
    readme = (DEPLOY / "README.md").read_text()
    assert sorted(n for n in names if f"`{n}`" not in readme) == []
