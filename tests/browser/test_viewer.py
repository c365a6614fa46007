"""The study viewer in headless Chromium against the live site: the CT renders in all three views,
presets and scrolling work, orientation follows the radiological convention, errors are
understandable, and DICOMweb refuses another cohort's study. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import store_series

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

PLANES = ("axial", "coronal", "sagittal")
READY = "() => window.fusionscreenViewer && window.fusionscreenViewer.viewer.get().phase === 'ready'"
LOADED = "() => window.fusionscreenViewer && window.fusionscreenViewer.timings.volumeLoaded !== undefined"


def open_signed_in(browser, site, path: str, *, width=1600, height=1000):
    """A new browser context signed in as the site's default user and at ``path``; page errors
    are collected in the returned list."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    site.login(page, next_path=path)
    page.wait_for_url(f"**{path}")
    return context, page, errors


def open_viewer(browser, site, study, *, width=1600, height=1000):
    return open_signed_in(browser, site, f"/viewer/studies/{study.pk}/", width=width, height=height)


def wait_loaded(page, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(READY, timeout=timeout_ms)
    page.wait_for_function(LOADED, timeout=timeout_ms)
    page.wait_for_timeout(300)  # the last render after the last slice


def rendered(page) -> None:
    """Wait until the panels have drawn the latest state: they render on the next animation
    frame (renderOnNextFrame), which a busy software renderer can delay well past 100 ms."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def pixels(page, plane: str, screenshots: Path, name: str) -> np.ndarray:
    png = page.locator(f'[data-viewport="{plane}"]').screenshot()
    (screenshots / f"{name}.png").write_bytes(png)
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)


def readout(page, name: str) -> str:
    return page.locator(f'[data-readout="{name}"]').inner_text()


def test_ct_renders_in_three_views_with_presets_scroll_and_orientation(
    browser, site, phantom_small, viewer_bundle, screenshots
):
    study = store_series(site.coordinator, site.cohort, phantom_small[0])
    context, page, errors = open_viewer(browser, site, study)
    try:
        wait_loaded(page)
        page.screenshot(path=str(screenshots / "viewer-lung.png"))
        timings = page.evaluate("() => window.fusionscreenViewer.timings")
        print(f"\nviewer timings (small phantom, {study.series.get().instances.count()} slices): {timings}")

        # The CT is in all three views: not blank, and each view shows something different.
        lung = {plane: pixels(page, plane, screenshots, f"viewer-{plane}-lung") for plane in PLANES}
        for plane, img in lung.items():
            assert img.std() > 20, f"{plane} view looks blank (std {img.std():.1f})"
            assert (img > 40).mean() > 0.15, f"{plane} view has almost nothing bright"
        for a, b in (("axial", "coronal"), ("axial", "sagittal"), ("coronal", "sagittal")):
            h, w = min(lung[a].shape[0], lung[b].shape[0]), min(lung[a].shape[1], lung[b].shape[1])
            assert np.abs(lung[a][:h, :w] - lung[b][:h, :w]).mean() > 10, f"{a} and {b} look the same"
        assert "W 1500 / L -600 (Lung)" in readout(page, "voi")
        assert page.locator("[data-preset=lung]").get_attribute("aria-pressed") == "true"

        # Radiological convention: patient's left (+x) to the image's right, anterior (-y) up in
        # axial, superior (+z) up in coronal and sagittal, anterior to the left in sagittal.
        check = """([plane, a, b]) => {
            const v = window.fusionscreenViewer.views;
            const c = v.focalPoint(plane);
            const p = v.worldToCanvas(plane, c.map((x, i) => x + a[i]));
            const q = v.worldToCanvas(plane, c.map((x, i) => x + b[i]));
            return [q[0] - p[0], q[1] - p[1]];
        }"""
        dx, _ = page.evaluate(check, ["axial", [0, 0, 0], [10, 0, 0]])
        _, dy = page.evaluate(check, ["axial", [0, 0, 0], [0, -10, 0]])
        assert dx > 0 and dy < 0, "axial: patient left must be on the right, anterior up"
        dx, _ = page.evaluate(check, ["coronal", [0, 0, 0], [10, 0, 0]])
        _, dy = page.evaluate(check, ["coronal", [0, 0, 0], [0, 0, 10]])
        assert dx > 0 and dy < 0, "coronal: patient left on the right, superior up"
        dx, _ = page.evaluate(check, ["sagittal", [0, 0, 0], [0, -10, 0]])
        _, dy = page.evaluate(check, ["sagittal", [0, 0, 0], [0, 0, 10]])
        assert dx < 0 and dy < 0, "sagittal: anterior on the left, superior up"

        # The mediastinal preset changes the picture: lungs go black, soft tissue gets contrast.
        page.click("[data-preset=mediastinum]")
        page.wait_for_function(
            "() => document.querySelector('[data-readout=voi]').textContent.includes('W 400')"
        )
        page.wait_for_timeout(300)
        mediastinal = pixels(page, "axial", screenshots, "viewer-axial-mediastinum")
        assert np.abs(mediastinal - lung["axial"]).mean() > 8, "the preset did not change the rendering"
        assert (mediastinal < 10).mean() > (lung["axial"] < 10).mean() + 0.05, "lungs should turn black"
        assert "W 400 / L 40 (Mediastinum)" in readout(page, "voi")
        page.screenshot(path=str(screenshots / "viewer-mediastinum.png"))
        page.keyboard.press("l")
        page.wait_for_function(
            "() => document.querySelector('[data-readout=voi]').textContent.includes('W 1500')"
        )

        # Scrolling the axial view moves to another slice: the readout follows.
        before = readout(page, "axial")
        box = page.locator('[data-viewport="axial"]').bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(5):
            page.mouse.wheel(0, 120)
            page.wait_for_timeout(50)
        page.wait_for_function(
            "(before) => document.querySelector('[data-readout=axial]').textContent !== before", arg=before
        )
        after = readout(page, "axial")
        assert after != before and "/" in after and "mm" in after
        page.keyboard.press("ArrowDown")
        page.wait_for_function(
            "(prev) => document.querySelector('[data-readout=axial]').textContent !== prev", arg=after
        )
        assert page.locator('[data-readout="hu"]').inner_text().endswith("HU")  # value under the cursor

        # Crosshairs: a click in the axial view moves the other two views' slices there.
        coronal_before = readout(page, "coronal")
        page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.35)
        page.wait_for_function(
            "(prev) => document.querySelector('[data-readout=coronal]').textContent !== prev",
            arg=coronal_before,
        )
        assert readout(page, "crosshairs") != "–"
        page.screenshot(path=str(screenshots / "viewer-crosshairs.png"))

        # A narrow window: the side column goes below the views, then the views stack.
        for width in (1000, 640):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(500)
            for plane in PLANES:
                box = page.locator(f'[data-viewport="{plane}"]').bounding_box()
                assert box["width"] > 200 and box["height"] > 150, (width, plane, box)
            page.screenshot(path=str(screenshots / f"viewer-{width}px.png"), full_page=True)
        assert errors == [], errors
    finally:
        context.close()


def test_dicomweb_and_viewer_refuse_another_cohorts_study(
    browser, site, phantom_small, viewer_bundle, screenshots
):
    ours = store_series(site.coordinator, site.cohort, phantom_small[0])
    theirs = store_series(site.other_coordinator, site.other_cohort, phantom_small[1])
    series_b = theirs.series.get().series_instance_uid
    context = browser.new_context()
    page = context.new_page()
    try:
        site.login(page)
        page.wait_for_url(f"{site.url}/")
        fetch = """async (url) => {
            const r = await fetch(url, { headers: { Accept: 'application/dicom+json' } });
            return [r.status, r.status === 200 ? await r.json() : null];
        }"""
        status, studies = page.evaluate(fetch, f"{site.url}/dicomweb/studies")
        uids = {s["0020000D"]["Value"][0] for s in studies}
        assert status == 200 and uids == {ours.study_instance_uid}
        base_b = f"{site.url}/dicomweb/studies/{theirs.study_instance_uid}"
        for url in (f"{base_b}/series", f"{base_b}/series/{series_b}/metadata"):
            assert page.evaluate(fetch, url)[0] == 404, url
        page.goto(f"{site.url}/viewer/studies/{theirs.pk}/")
        assert page.locator("h1").inner_text() == "Study not available"
        page.screenshot(path=str(screenshots / "viewer-not-available.png"))
        # Signed out: 401 from DICOMweb, a redirect to the login page from the viewer.
        page.context.clear_cookies()
        assert page.evaluate(fetch, f"{site.url}/dicomweb/studies")[0] == 401
        page.goto(f"{site.url}/viewer/studies/{ours.pk}/")
        assert "/accounts/login/" in page.url
    finally:
        context.close()


@pytest.mark.parametrize(
    ("status", "title", "action"),
    [(500, "Failed to load", "Try again"), (401, "Signed out", "Sign in"), (404, "Study not found", None)],
)
def test_loading_errors_are_explained(
    browser, site, phantom_small, viewer_bundle, screenshots, status, title, action
):
    study = store_series(site.coordinator, site.cohort, phantom_small[0])
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.route("**/metadata", lambda route: route.fulfill(status=status, body="{}"))
        site.login(page, next_path=f"/viewer/studies/{study.pk}/")
        page.wait_for_function("() => document.querySelector('[data-role=status]').dataset.state === 'error'")
        assert page.locator("[data-role=status-title]").inner_text() == title
        assert page.locator("[data-role=status-detail]").inner_text()
        links = page.locator("[data-role=status-actions] a")
        if action:
            assert links.inner_text() == action
        else:
            assert links.count() == 0
        page.wait_for_function(
            "() => document.querySelector('[data-overlay=message]').textContent.includes('could not be loaded')"
        )
        page.screenshot(path=str(screenshots / f"viewer-error-{status}.png"))
    finally:
        context.close()


def test_bundle_assets_are_served_with_the_right_types(browser, site, viewer_bundle):
    manifest = json.loads((viewer_bundle / "manifest.json").read_text())
    wasm = sorted((viewer_bundle / "assets").glob("*.wasm"))
    assert wasm, "the build should carry the image decoders' WebAssembly"
    context = browser.new_context()
    try:
        request = context.request
        script = request.get(f"{site.url}/static/viewer/{manifest['src/main.js']['file']}")
        assert script.status == 200 and "javascript" in script.headers["content-type"]
        binary = request.get(f"{site.url}/static/viewer/assets/{wasm[0].name}")
        assert binary.status == 200 and binary.headers["content-type"] == "application/wasm"
    finally:
        context.close()


def test_time_to_first_ct_image_full_size_study(browser, site, phantom_full, viewer_bundle, screenshots):
    """Benchmark, printed (not asserted): a 512 x 512 x ~300-slice study on localhost."""
    study = store_series(site.coordinator, site.cohort, phantom_full)
    slices = study.series.get().instances.count()
    results = []
    for attempt in ("cold", "warm"):
        context, page, errors = open_viewer(browser, site, study)
        try:
            if attempt == "warm":
                page.reload()
            wait_loaded(page, timeout_ms=120_000)
            timings = page.evaluate("() => window.fusionscreenViewer.timings")
            results.append((attempt, timings))
            if attempt == "cold":
                page.screenshot(path=str(screenshots / "viewer-full-size.png"))
                assert timings.get("firstPreview", 0) < timings["firstImage"], timings
            assert errors == [], errors
        finally:
            context.close()
    for attempt, t in results:
        print(
            f"\nBENCHMARK viewer, full-size phantom ({slices} slices of 512x512), {attempt} page: "
            f"metadata {t['metadata']} ms, middle slice preview {t.get('firstPreview', 'none')} ms, "
            f"first CT image {t['firstImage']} ms, "
            f"all slices {t['volumeLoaded']} ms after navigation start"
        )
        print(f"  milestones (ms): { {k: v for k, v in t.items() if isinstance(v, int | float)} }")


def test_the_middle_slice_preview_lines_up_with_the_rendered_slice(
    browser, site, phantom_small, viewer_bundle, screenshots
):
    """While the volume loads, the axial view shows the middle slice drawn from one frame; it
    must look like, and sit where, Cornerstone's own rendering of that view will."""
    study = store_series(site.coordinator, site.cohort, phantom_small[0])
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    try:
        site.login(page, next_path="/")
        page.wait_for_url(f"{site.url}/")
        # Let exactly one frame through (the preview's, asked for first); hold the volume's.
        passed: list[str] = []

        def one_frame(route) -> None:
            if not passed:
                passed.append(route.request.url)
                route.continue_()

        page.route("**/frames/**", one_frame)
        page.goto(f"{site.url}/viewer/studies/{study.pk}/")
        page.wait_for_function(
            "() => window.fusionscreenViewer && window.fusionscreenViewer.timings.firstPreview",
            timeout=30_000,
        )
        page.wait_for_timeout(300)
        assert page.locator("[data-preview=axial]").is_visible()
        assert page.locator("[data-role=status]").get_attribute("data-preview") == "true"
        page.screenshot(path=str(screenshots / "viewer-preview.png"))
        preview = pixels(page, "axial", screenshots, "viewer-preview-axial")
    finally:
        context.close()
    context, page, errors = open_viewer(browser, site, study)
    try:
        wait_loaded(page)
        assert not page.locator("[data-preview=axial]").is_visible()
        rendered = pixels(page, "axial", screenshots, "viewer-preview-axial-rendered")
        difference = np.abs(preview - rendered)
        print(
            f"\npreview vs rendered axial view: grey difference median {np.median(difference):.1f}, mean {difference.mean():.1f}"
        )
        assert preview.std() > 20, "the preview is blank"
        assert np.median(difference) < 6 and difference.mean() < 12, "the preview does not line up"
        assert errors == [], errors
    finally:
        context.close()
