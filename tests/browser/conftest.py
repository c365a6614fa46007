"""End-to-end fixtures: the real site on a live server, phantom CT studies stored through the real
ingest, and Debian's headless Chromium driven by Playwright (never a downloaded browser).

Needs the viewer bundle (scripts/build-frontend.sh) and /usr/bin/chromium
(scripts/browser-deps.sh); scripts/test.sh runs both first.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("FUSIONSCREEN_SCREENSHOTS", REPO / "var" / "screenshots"))
PASSWORD = "viewer-test-password-1"
# Software WebGL (SwiftShader) in headless mode: no GPU on CI machines.
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the tests save what the browser showed (git-ignored; look at them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def viewer_bundle() -> Path:
    manifest = Path(django_settings.VIEWER_BUNDLE_DIR) / "manifest.json"
    if not manifest.is_file():
        pytest.fail(f"the viewer is not built ({manifest} missing): run scripts/build-frontend.sh")
    return manifest.parent


# Every page of every browser test runs under the site's Content-Security-Policy; a violation
# (Chromium reports each as a console error) fails the test that caused it.
_CSP_VIOLATIONS: list[str] = []


def _watch_csp(page) -> None:
    def on_console(msg) -> None:
        if "Content Security Policy" in msg.text:
            _CSP_VIOLATIONS.append(f"{page.url}: {msg.text}")

    page.on("console", on_console)


class _PolicyWatchingBrowser:
    """The Playwright browser, with every new context's pages watched for CSP violations."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_context(self, **kwargs):
        context = self._browser.new_context(**kwargs)
        context.on("page", _watch_csp)
        return context

    def new_page(self, **kwargs):
        page = self._browser.new_page(**kwargs)
        _watch_csp(page)
        return page

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


@pytest.fixture(autouse=True)
def _no_csp_violations() -> Iterator[None]:
    _CSP_VIOLATIONS.clear()
    yield
    assert not _CSP_VIOLATIONS, "Content-Security-Policy violations:\n" + "\n".join(_CSP_VIOLATIONS)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser-deps.sh (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the tests' ORM calls are still
    # plain synchronous code between browser calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield _PolicyWatchingBrowser(chromium)
        finally:
            chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def phantom_small(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two 'small' phantom CT series (about 192 x 192 x 120): the one with a lesion, then the
    normal one."""
    from detector.lab.phantom import generate_cohort

    root = tmp_path_factory.mktemp("viewer-phantoms")
    labels = generate_cohort(root, 1, 1, 4242, "small", progress=False)
    rows = sorted(csv.DictReader(labels.open()), key=lambda r: r["label"] != "abnormal")
    return [root / r["folder"] for r in rows]


@pytest.fixture(scope="session")
def phantom_full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full-size phantom CT series (512 x 512 x about 300 slices) for the speed benchmark."""
    from detector.lab.phantom import generate_cohort

    root = tmp_path_factory.mktemp("viewer-phantom-full")
    generate_cohort(root, 1, 0, 4343, "full", progress=False)
    [folder] = sorted({p.parent for p in root.rglob("*.dcm")})
    yield folder
    shutil.rmtree(root, ignore_errors=True)


def store_series(user, cohort, folder: Path):
    """Ingest a series folder into a cohort with the site's upload service; returns the Study."""
    from tests.webapp.factories import ingest_files

    return ingest_files(user, cohort, sorted(folder.glob("*.dcm")))


@dataclass
class Site:
    url: str
    radiologist: object
    cohort: object
    other_cohort: object

    def login(self, page, username: str = "rad", next_path: str = "/") -> None:
        page.goto(f"{self.url}/accounts/login/?next={next_path}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit], input[type=submit]")


@pytest.fixture
def site(live_server, transactional_db) -> Site:
    """A radiologist who is a member of cohort A; cohort B belongs to another coordinator."""
    from tests.webapp.factories import CohortFactory, CohortMemberFactory, UserFactory
    from webapp.accounts import roles

    radiologist = UserFactory(username="rad", role=roles.RADIOLOGIST, password=PASSWORD)
    coordinator = UserFactory(username="coord", role=roles.COORDINATOR, password=PASSWORD)
    other = UserFactory(username="coord-b", role=roles.COORDINATOR, password=PASSWORD)
    cohort = CohortFactory(name="A", created_by=coordinator, purpose="normal_reference")
    other_cohort = CohortFactory(name="B", created_by=other, purpose="normal_reference")
    for user in (coordinator, radiologist):
        CohortMemberFactory(cohort=cohort, user=user)
    CohortMemberFactory(cohort=other_cohort, user=other)
    site = Site(live_server.url, radiologist, cohort, other_cohort)
    site.coordinator, site.other_coordinator = coordinator, other
    return site


@pytest.fixture(scope="session")
def lesion_phantom(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, float]:
    """One small phantom with a lesion: (series folder, lesion centre LPS mm, diameter mm)."""
    from detector.lab.phantom import generate_cohort

    root = tmp_path_factory.mktemp("overlay-phantom")
    labels = generate_cohort(root, 0, 1, 5151, "small", progress=False)
    [row] = list(csv.DictReader(labels.open()))
    centre = np.array([float(row[f"lesion_center_{a}_mm"]) for a in "xyz"])
    return root / row["folder"], centre, float(row["lesion_diameter_mm"])
