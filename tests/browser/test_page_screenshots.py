"""The main server-rendered pages in headless Chromium, signed in as each role, on the live site
with worklists, reads, jobs and a calibration with its ROC plot: every page answers 200, shows
its heading, styled, with no error, and is saved to var/screenshots/pages/ (look at them)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

ERROR_TEXT = ("Server Error", "Traceback", "Page not found", "Forbidden", "TemplateSyntaxError", "None None")


@pytest.fixture
def filled(site):
    """Cohort A with three scored studies in a worklist assigned to the radiologist (one read),
    queued and failed jobs, and a finished calibration of the model with its ROC plot."""
    from django.conf import settings

    from tests.webapp.conftest import World
    from tests.webapp.factories import UserFactory, study_in_cohort
    from tests.webapp.reading import make_reading, read_body
    from webapp.accounts import roles
    from webapp.detection.calibration import calibration_metrics, write_roc_plot
    from webapp.detection.models import DetectionJob
    from webapp.worklists import reads, services

    admin = UserFactory(username="boss", role=roles.ADMIN, password=PASSWORD)
    world = World(
        site.radiologist,
        site.coordinator,
        admin,
        site.other_coordinator,
        site.cohort,
        site.other_cohort,
        study_in_cohort(site.cohort),
        study_in_cohort(site.other_cohort),
    )
    reading = make_reading(world)
    services.start_item(site.radiologist, reading.items_a[0].pk)
    reads.record_read(site.radiologist, reading.items_a[0].pk, **read_body())
    DetectionJob.objects.create(
        study=study_in_cohort(site.cohort),
        model_version=reading.version,
        cohort=site.cohort,
        status="queued",
        queue="cpu",
    )
    failed_study = study_in_cohort(site.cohort)
    DetectionJob.objects.create(
        study=failed_study,
        model_version=reading.version,
        cohort=site.cohort,
        status="failed",
        queue="cpu",
        attempts=1,
        worker="cpu-1@host",
        error=f"study {failed_study.study_instance_uid} has no CT series: detection reads chest CT only",
    )
    rng = np.random.default_rng(5)
    rows = [
        {
            "patient_id": f"P{i:02d}",
            "label": "abnormal" if i % 2 else "normal",
            "global_score": float(rng.normal(0.5 + 0.2 * (i % 2), 0.15)),
            "local_score": float(rng.normal(0.5 + 0.1 * (i % 2), 0.2)),
            "fused_score": float(rng.normal(0.45 + 0.3 * (i % 2), 0.12)),
        }
        for i in range(24)
    ]
    figures = calibration_metrics(rows)
    calibration = reading.calibration
    relative = f"calibrations/calibration-{calibration.pk}/attempt-1/roc.png"
    write_roc_plot(
        rows, settings.MEDIA_ROOT / relative, f"{reading.version.name} on {calibration.cohort.name}"
    )
    for field in ("n_normal", "n_abnormal", "auc", "roc", "operating_points"):
        setattr(calibration, field, figures[field])
    calibration.per_study, calibration.roc_plot = rows, relative
    calibration.save()
    site.admin = admin
    return reading


def pages_of(site, reading) -> dict[str, list[tuple[str, str, str]]]:
    """Per role: (screenshot name, path, heading)."""
    worklist = reading.worklist_a
    return {
        "radiologist": [
            ("radiologist-dashboard", "/", "My worklists"),
            ("radiologist-worklist", f"/worklists/{worklist.pk}/", worklist.name),
        ],
        "coordinator": [
            ("coordinator-dashboard", "/", "My cohorts"),
            ("cohort-list", "/cohorts/", "Cohorts"),
            ("cohort-detail-upload", f"/cohorts/{site.cohort.pk}/", site.cohort.name),
            ("job-monitor", "/jobs/", "Detection jobs"),
            ("coordinator-worklists", "/worklists/", "Worklists"),
        ],
        "admin": [
            ("admin-dashboard", "/", "Administration"),
            ("model-versions", "/models/", "Model versions"),
            ("model-version", f"/models/{reading.version.pk}/", reading.version.name),
            ("calibration-roc", f"/calibrations/{reading.calibration.pk}/", "Calibration of reading-model"),
            ("admin-review", "/review/", "AI versus readers"),
            ("audit-browser", "/audit/", "Audit trail"),
        ],
    }


def check_page(page, response, heading: str) -> None:
    assert response is not None and response.status == 200, (page.url, response and response.status)
    h1 = page.locator("h1").first
    assert heading in h1.inner_text(), (page.url, h1.inner_text())
    text = page.locator("body").inner_text()
    assert not [e for e in ERROR_TEXT if e in text], (page.url, text[:2000])
    # The site's stylesheet applied: the header is laid out by it, not the browser's defaults.
    styled = page.evaluate(
        "() => [...document.styleSheets].some(s => (s.href || '').includes('site.css') && s.cssRules.length > 0)"
    )
    assert styled, page.url
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow} px"


def visit_pages(browser, site, filled, viewport: dict, errors: list[str]) -> Iterator[tuple[str, object]]:
    """Sign in as each role and open each of its main pages, checked by ``check_page``; yields
    (screenshot name, page) with the page loaded. Page errors go into ``errors``."""
    users = {"radiologist": "rad", "coordinator": "coord", "admin": "boss"}
    for role, pages in pages_of(site, filled).items():
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        site.login(page, users[role])
        page.wait_for_url(f"{site.url}/")
        for name, path, heading in pages:
            response = page.goto(site.url + path)
            page.wait_for_load_state("networkidle")
            check_page(page, response, heading)
            yield name, page
        context.close()


def test_main_pages_of_each_role_load_styled_and_are_saved(browser, site, filled, screenshots):
    out = screenshots / "pages"
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(f"{site.url}/accounts/login/")
    check_page(page, response, "Log in")
    page.screenshot(path=str(out / "login.png"), full_page=True)
    context.close()

    for name, page in visit_pages(browser, site, filled, {"width": 1360, "height": 860}, errors):
        current = page.locator("nav.sections a[aria-current=page]").all_inner_texts()
        assert len(current) == 1, (page.url, current)  # one section marked as where you are
        if name == "admin-dashboard":  # a job queued a moment ago is no reason for alarm
            assert "is a worker running?" not in page.locator("main").inner_text()
        if name == "audit-browser":
            objects = page.locator("table tbody td:nth-child(4)").all_inner_texts()
            assert objects and not [o for o in objects if o.endswith(":")], objects
        if name == "cohort-detail-upload":
            page.wait_for_selector("text=has no CT series")
            assert "– study" not in page.locator("main").inner_text()
        if name == "calibration-roc":
            loaded = page.eval_on_selector("img.roc", "img => img.complete && img.naturalWidth > 0")
            assert loaded, "the ROC plot did not load"
        if name == "cohort-detail-upload":
            assert page.locator("form[data-upload-form] input[type=file]").count() >= 1
        if name == "radiologist-worklist":
            scores = page.locator("table tbody tr").all_inner_texts()
            assert len(scores) == 3, scores
            # choosing an operating point applies at once (pages.js; no inline handler)
            other = page.eval_on_selector("#id_point", "s => [...s.options].find(o => !o.selected).value")
            with page.expect_navigation():
                page.select_option("#id_point", other)
            assert f"point={other}" in page.url, page.url
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    assert not errors, errors
    saved = sorted(p.name for p in out.glob("*.png"))
    assert len(saved) >= 12, saved


def test_main_pages_fit_a_phone_screen(browser, site, filled, screenshots):
    """The same pages 390 px wide: nothing scrolls sideways (wide tables scroll in their box)."""
    out = screenshots / "pages"
    out.mkdir(parents=True, exist_ok=True)
    for name, page in visit_pages(browser, site, filled, {"width": 390, "height": 844}, []):
        page.screenshot(path=str(out / f"narrow-{name}.png"), full_page=True)
