"""The site's layers, one way (issue 13; docs/architecture.md).

Each app may import the apps of its own layer's predecessors, never one above it; the core
imports no app. Imports inside functions count too (a late import is still a dependency).
Second, the web process (settings and URLconf) does not load torch: the detector's engine is
the workers' business.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEBAPP = REPO / "webapp"

# Bottom to top. An app may import apps in earlier layers (and its own).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core", "env"),  # what every app uses
    ("accounts",),  # users, roles, the audit trail
    ("studies",),  # DICOM objects, ingest, de-identification
    ("cohorts",),  # cohorts, membership, which studies a user may see
    ("detection",),  # model versions, jobs, results, maps, calibration
    ("worklists",),  # reading: worklists, reads, the AI-versus-reader review
    ("dicomweb", "viewer", "pacs"),  # the standard interfaces, the viewer, the DICOM network
    ("api", "site", "operations"),  # the API's URLconf; the site-wide demo; health, logs, backups
)
LAYER_OF = {app: n for n, apps in enumerate(LAYERS) for app in apps}
# Modules of the project itself (settings, URLconf, Celery, WSGI): above every app.
PROJECT_MODULES = {"settings", "urls", "celery", "wsgi", "asgi", "views", "__init__"}


def webapp_imports(source: str) -> set[str]:
    """The first component after ``webapp.`` of every module this source imports."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "webapp" and len(parts) > 1:
                out.add(parts[1])
    return out


def violations(rel: Path, source: str) -> list[str]:
    """What the module at ``webapp/<rel>`` breaks of the rule, given its source."""
    app = rel.parts[0]
    assert app in LAYER_OF, f"webapp/{app}/ is in no layer: add it to LAYERS (and docs/architecture.md)"
    found = []
    for target in webapp_imports(source):
        if target in PROJECT_MODULES and target != "__init__":
            found.append(f"webapp/{rel} imports the project module webapp.{target}")
        elif target in LAYER_OF and LAYER_OF[target] > LAYER_OF[app]:
            found.append(f"webapp/{rel} ({app}) imports {target}, a layer above it")
        elif target in LAYER_OF and LAYER_OF[target] == LAYER_OF[app] and target != app:
            found.append(f"webapp/{rel} ({app}) imports {target}, beside it in its layer")
    return found


def upward_imports() -> list[str]:
    found = []
    for path in sorted(WEBAPP.rglob("*.py")):
        rel = path.relative_to(WEBAPP)
        if "migrations" in rel.parts or len(rel.parts) == 1:
            continue  # migrations are Django's history; project modules sit above every app
        found += violations(rel, path.read_text())
    return found


def test_no_app_imports_one_above_it():
    assert upward_imports() == []


def test_the_rule_sees_an_upward_import():
    """The check itself can fail: an import of worklists from studies is caught."""
    probe = violations(Path("studies/_layer_probe.py"), "from webapp.worklists.models import Worklist\n")
    assert any("imports worklists, a layer above it" in f for f in probe)


def test_the_web_process_does_not_load_torch():
    code = (
        "import sys, django; django.setup(); "
        "from django.urls import get_resolver; get_resolver().url_patterns; "
        "import webapp.wsgi; "
        "print(sorted(m for m in ('torch', 'monai', 'detector.model') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_no_source_file_over_450_lines():
    """Small modules (issue 13): a file past this has more than one thing to own; split it."""
    sources = [
        *(p for p in WEBAPP.rglob("*.py") if "migrations" not in p.parts),
        *(REPO / "detector").rglob("*.py"),
        *(REPO / "frontend" / "src").rglob("*.js"),
    ]
    long = {str(p.relative_to(REPO)): n for p in sources if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}
