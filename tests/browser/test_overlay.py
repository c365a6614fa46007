"""The anomaly overlay and findings in headless Chromium on a phantom study with a known lesion
and a stored detection result whose fused map peaks at the lesion: coloured pixels at the lesion
and hardly anywhere else, a higher display threshold clears them, a finding moves the
crosshairs, and a study without a result says so. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image

from tests.browser.conftest import store_series
from tests.browser.test_viewer import open_viewer, rendered, wait_loaded

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

OVERLAY_READY = "() => window.fusionscreenViewer.overlay.get().status === 'ready'"


def stored_result(study, folder: Path, centre: np.ndarray, diameter: float, *, version=None, fused_score=0.8):
    """A finished detection result whose maps are a blob at the lesion over low noise (of a new
    active model version unless ``version`` is given)."""
    from detector.io import read_volume
    from tests.webapp.factories import ModelVersionFactory
    from webapp.detection import maps
    from webapp.detection.models import DetectionJob, DetectionResult

    volume = read_volume(folder)
    geometry = volume.geometry
    shape = volume.hu.shape
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    lps = geometry.index_to_lps(np.stack([zz, yy, xx], axis=-1).astype(float))
    distance = np.linalg.norm(lps - centre, axis=-1)
    rng = np.random.default_rng(7)
    sigma = max(diameter / 2, 4.0)
    fused = np.exp(-0.5 * (distance / sigma) ** 2) + 0.15 * rng.random(shape)
    version = version or ModelVersionFactory(name="overlay-model", is_active=True)
    job = DetectionJob.objects.create(
        study=study, model_version=version, status="done", progress=1.0, attempts=1, queue="cpu"
    )
    relative = Path("results") / f"job-{job.pk}" / "attempt-1"
    out = Path(settings.MEDIA_ROOT) / relative
    out.mkdir(parents=True)
    kinds = {"fused": fused, "global": 0.5 * fused, "local": fused**2}
    stored = {kind: maps.write_map(out, kind, arr.astype(np.float32)) for kind, arr in kinds.items()}
    return DetectionResult.objects.create(
        job=job,
        study=study,
        model_version=version,
        series_instance_uid=study.series.get().series_instance_uid,
        global_score=0.4,
        local_score=1.2,
        fused_score=fused_score,
        peaks=[
            {"center_lps_mm": centre.tolist(), "value": 1.1, "extent_mm": diameter, "side": "?"},
        ],
        grid={"shape_zyx": list(shape), **geometry.to_dict()},
        maps_directory=relative.as_posix(),
        maps=stored,
    )


def rgb(page, plane: str, path: Path) -> np.ndarray:
    png = page.locator(f'[data-viewport="{plane}"]').screenshot()
    path.write_bytes(png)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)


PLANES = ("axial", "coronal", "sagittal")


def coloured(img: np.ndarray) -> np.ndarray:
    """Pixels with colour: the CT is grey (r = g = b)."""
    return (img.max(axis=-1) - img.min(axis=-1)) > 40


def test_overlay_colours_the_lesion_threshold_clears_it_and_a_finding_moves_the_crosshairs(
    browser, site, lesion_phantom, viewer_bundle, screenshots
):
    folder, centre, diameter = lesion_phantom
    study = store_series(site.coordinator, site.cohort, folder)
    stored_result(study, folder, centre, diameter)
    context, page, errors = open_viewer(browser, site, study)
    try:
        console: list[str] = []
        page.on("console", lambda msg: console.append(msg.text))
        wait_loaded(page)
        try:
            page.wait_for_function(OVERLAY_READY, timeout=30_000)
        except Exception:
            state = page.evaluate("() => window.fusionscreenViewer.overlay.get()")
            pytest.fail(f"overlay not ready: {state}; console: {console[-10:]}; errors: {errors}")
        assert page.locator("[data-overlay-kind=fused]").get_attribute("aria-pressed") == "true"

        # The finding moves the crosshairs (and every view) to the lesion.
        page.locator("[data-finding='0']").click()
        page.wait_for_timeout(500)
        crosshairs = page.evaluate("() => window.fusionscreenViewer.viewer.get().crosshairs")
        assert crosshairs is not None and np.allclose(crosshairs, centre, atol=2.0), crosshairs
        for plane in PLANES:
            focal = page.evaluate(f"() => window.fusionscreenViewer.views.focalPoint('{plane}')")
            normal_axis = {"axial": 2, "coronal": 1, "sagittal": 0}[plane]
            assert abs(focal[normal_axis] - centre[normal_axis]) < 2.0, (plane, focal, centre)

        page.screenshot(path=str(screenshots / "overlay-fused.png"))
        probe = page.evaluate("(c) => window.fusionscreenViewer.views.overlayProbe(c)", centre.tolist())
        print("overlay probe at the lesion", probe)
        assert probe["value"] is not None and probe["value"] > 0.9, probe
        # Overlay pixels: what differs in colour from the same view with the overlay hidden
        # (the crosshair lines are coloured too).
        page.locator("[data-overlay=opacity]").fill("0")
        page.wait_for_timeout(400)
        bare = {
            plane: coloured(rgb(page, plane, screenshots / f"overlay-{plane}-hidden.png")) for plane in PLANES
        }
        page.locator("[data-overlay=opacity]").fill("100")
        page.wait_for_timeout(400)
        page.screenshot(path=str(screenshots / "overlay-fused.png"))
        for plane in PLANES:
            img = rgb(page, plane, screenshots / f"overlay-{plane}.png")
            px, py = page.evaluate(
                "([p, c]) => window.fusionscreenViewer.views.worldToCanvas(p, c)", [plane, centre.tolist()]
            )
            scale = img.shape[1] / page.locator(f'[data-viewport="{plane}"]').bounding_box()["width"]
            h, w = img.shape[:2]
            yy, xx = np.mgrid[:h, :w]
            r_px = np.hypot(xx - px * scale, yy - py * scale)
            mask = coloured(img) & ~bare[plane]
            near = r_px < 4 * scale
            assert mask[near].mean() > 0.6, f"{plane}: lesion not coloured ({mask[near].mean():.2f})"
            far = r_px > 60 * scale
            assert mask[far].mean() < 0.02, f"{plane}: {mask[far].mean():.3f} coloured away from the lesion"
        axial_bare = bare["axial"]

        # Raising the display threshold to the top clears the overlay.
        page.locator("[data-overlay=threshold]").fill("1000")
        page.wait_for_timeout(400)
        img = rgb(page, "axial", screenshots / "overlay-axial-threshold-max.png")
        assert (coloured(img) & ~axial_bare).mean() < 0.001, (coloured(img) & ~axial_bare).mean()
        page.screenshot(path=str(screenshots / "overlay-threshold-max.png"))

        # Switching to the local map keeps the overlay on screen.
        page.locator("[data-overlay-kind=local]").click()
        page.wait_for_function(
            "() => window.fusionscreenViewer.overlay.get().kind === 'local' && "
            "window.fusionscreenViewer.overlay.get().status === 'ready'",
            timeout=15_000,
        )
        # the panel renders on the next animation frame, which a busy software renderer delays
        page.wait_for_function(
            "() => document.querySelector('[data-overlay=legend-kind]').textContent.includes('local map')",
            timeout=10_000,
        )
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.parametrize("job", [None, "failed", "queued", "running"])
def test_a_study_without_a_result_says_why(browser, site, phantom_small, viewer_bundle, screenshots, job):
    """No job: not run yet. Failed: the job's error. Queued / running: still processing, with
    progress. And no calibration yet: the operating-point card says so."""
    from tests.webapp.factories import ModelVersionFactory
    from webapp.detection.models import DetectionJob

    study = store_series(site.coordinator, site.cohort, phantom_small[0])
    error = "CT series 1.2.3 has 12 slices; the detector needs at least 32"
    if job is not None:
        DetectionJob.objects.create(
            study=study,
            model_version=ModelVersionFactory(name="screening-v1", is_active=True),
            status=job,
            progress={"failed": 0.35, "queued": 0.0, "running": 0.4}[job],
            stage="local branch" if job == "running" else "",
            error=error if job == "failed" else "",
            attempts=1,
            queue="cpu",
        )
    expected = {
        None: ("none", "detection has not been run on this study"),
        "failed": ("failed", f"Detection failed (model screening-v1): {error}."),
        "queued": ("processing", "Study still processing: detection is queued (model screening-v1)"),
        "running": ("processing", "detection is running (model screening-v1), local branch, 40% done"),
    }[job]
    context, page, errors = open_viewer(browser, site, study)
    try:
        page.wait_for_function(
            f"() => window.fusionscreenViewer && window.fusionscreenViewer.overlay.get().status === '{expected[0]}'",
            timeout=30_000,
        )
        rendered(page)
        text = page.locator("[data-overlay=message]").inner_text()
        assert expected[1] in text, text
        assert text in page.locator("[data-findings=message]").inner_text()
        progress = page.locator("[data-overlay=progress]")
        assert progress.is_visible() == (expected[0] == "processing")
        page.wait_for_function("() => window.fusionscreenViewer.operatingPoint.get().status === 'none'")
        rendered(page)
        assert "No calibration yet" in page.locator("[data-op=message]").inner_text()
        wait_loaded(page)
        page.screenshot(path=str(screenshots / f"overlay-no-result-{job or 'no-job'}.png"))
        if job == "running":
            # The job finishes: the viewer notices (it polls) and the message moves on.
            DetectionJob.objects.filter(study=study).update(status="failed", error="worker lost")
            page.wait_for_function(
                "() => window.fusionscreenViewer.overlay.get().status === 'failed'", timeout=15_000
            )
            rendered(page)
            assert "worker lost" in page.locator("[data-overlay=message]").inner_text()
        assert not errors, errors
    finally:
        context.close()


def stored_calibration(cohort, version):
    """A finished calibration of ``version`` with a fused ROC and its three operating points."""
    from django.utils import timezone

    from webapp.detection.models import Calibration

    thresholds = [None, 1.2, 0.9, 0.7, 0.5, 0.3, 0.1]
    tpr = [0.0, 0.3, 0.6, 0.9, 0.95, 1.0, 1.0]
    fpr = [0.0, 0.0, 0.05, 0.2, 0.4, 0.7, 1.0]

    def point(i):
        return {"threshold": thresholds[i], "sensitivity": tpr[i], "specificity": 1 - fpr[i]}

    return Calibration.objects.create(
        cohort=cohort,
        model_version=version,
        status="done",
        progress=1.0,
        finished_at=timezone.now(),
        auc={"global": 0.8, "local": 0.7, "fused": 0.9},
        roc={"fused": {"fpr": fpr, "tpr": tpr, "thresholds": thresholds}},
        operating_points={
            "fused": {"high_sensitivity": point(4), "balanced": point(3), "high_specificity": point(2)}
        },
    )


def test_operating_point_readout_matches_the_calibration_and_is_remembered(
    browser, site, lesion_phantom, viewer_bundle, screenshots
):
    folder, centre, diameter = lesion_phantom
    study = store_series(site.coordinator, site.cohort, folder)
    result = stored_result(study, folder, centre, diameter)  # fused score 0.8
    calibration = stored_calibration(site.cohort, result.model_version)
    points = calibration.operating_points["fused"]
    context, page, errors = open_viewer(browser, site, study)
    try:
        wait_loaded(page)
        page.wait_for_function("() => window.fusionscreenViewer.operatingPoint.get().status === 'ready'")
        page.wait_for_function("() => window.fusionscreenViewer.operatingPoint.get().fusedScore !== null")
        rendered(page)

        def readout() -> dict:
            return {
                name: page.locator(f"[data-op={name}]").inner_text()
                for name in ("threshold", "sensitivity", "specificity", "call")
            }

        # Balanced by default: threshold 0.7, sens 90%, spec 80%; fused 0.8 is positive there.
        for preset in ("balanced", "high_specificity", "high_sensitivity"):
            page.locator(f"[data-op-preset={preset}]").click()
            rendered(page)
            shown, p = readout(), points[preset]
            assert shown["threshold"] == f"{p['threshold']:.3f}", (preset, shown)
            assert shown["sensitivity"] == f"{100 * p['sensitivity']:.1f}%", (preset, shown)
            assert shown["specificity"] == f"{100 * p['specificity']:.1f}%", (preset, shown)
            expected = "Positive" if p["threshold"] <= 0.8 else "Negative"
            assert shown["call"].startswith(expected), (preset, shown)
        # The slider walks the ROC from more sensitive (left) to more specific (right): its
        # right end is the highest finite threshold (1.2), its left end the lowest.
        slider = page.locator("[data-op=slider]")
        slider.fill("0")
        rendered(page)
        assert readout()["specificity"] == "0.0%"
        slider.fill(slider.get_attribute("max"))
        rendered(page)
        shown = readout()
        assert shown == {
            "threshold": "1.200",
            "sensitivity": "30.0%",
            "specificity": "100.0%",
            "call": shown["call"],
        }, shown
        assert shown["call"].startswith("Negative"), shown
        page.screenshot(path=str(screenshots / "operating-point.png"))

        # Remembered for this user: a reload comes back at the same custom point.
        page.reload()
        wait_loaded(page)
        page.wait_for_function("() => window.fusionscreenViewer.operatingPoint.get().status === 'ready'")
        rendered(page)
        assert readout()["threshold"] == "1.200"
        assert page.evaluate("() => window.fusionscreenViewer.operatingPoint.get().preset") is None
        assert not errors, errors
    finally:
        context.close()


def test_overlay_opacity_looks_proportional(browser, site, lesion_phantom, viewer_bundle, screenshots):
    """The share of the overlay's colour on screen follows the opacity slider (within 0.12)."""
    folder, centre, diameter = lesion_phantom
    study = store_series(site.coordinator, site.cohort, folder)
    stored_result(study, folder, centre, diameter)
    context, page, errors = open_viewer(browser, site, study)
    try:
        wait_loaded(page)
        page.wait_for_function(OVERLAY_READY, timeout=30_000)
        page.locator("[data-finding='0']").click()
        page.locator("[data-overlay=threshold]").fill("200")
        # A lung pixel inside the coloured area, medial to the nodule.
        probe = (centre + np.array([-9.0, -5.0, 0.0])).tolist()  # off the crosshair lines
        px, py = page.evaluate("(c) => window.fusionscreenViewer.views.worldToCanvas('axial', c)", probe)
        box = page.locator('[data-viewport="axial"]').bounding_box()

        def colour(opacity: int) -> np.ndarray:
            page.locator("[data-overlay=opacity]").fill(str(opacity))
            page.wait_for_timeout(300)
            img = rgb(page, "axial", screenshots / f"overlay-opacity-{opacity}.png")
            s = img.shape[1] / box["width"]
            x, y = int(px * s), int(py * s)
            return img[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).mean(axis=0)

        bare, full = colour(0), colour(100)
        span = np.linalg.norm(full - bare)
        assert span > 40, (bare, full)
        shares = {o: float(np.dot(colour(o) - bare, full - bare) / span**2) for o in (25, 50, 75)}
        print("visible share of the overlay colour per opacity:", shares)
        for o, share in shares.items():
            assert abs(share - o / 100) < 0.12, shares
        assert not errors, errors
    finally:
        context.close()


def test_keyboard_shortcuts_and_the_threshold_rerender_time(
    browser, site, lesion_phantom, viewer_bundle, screenshots
):
    """Keys drive the overlay, the operating point and the window; "?" lists them. Benchmark,
    printed: the time from a display-threshold change to all three views drawn with it."""
    folder, centre, diameter = lesion_phantom
    study = store_series(site.coordinator, site.cohort, folder)
    result = stored_result(study, folder, centre, diameter)
    stored_calibration(site.cohort, result.model_version)
    context, page, errors = open_viewer(browser, site, study)
    state = "(name) => window.fusionscreenViewer[name].get()"
    try:
        wait_loaded(page)
        page.wait_for_function(OVERLAY_READY, timeout=30_000)
        page.wait_for_function("() => window.fusionscreenViewer.operatingPoint.get().status === 'ready'")
        page.locator("[data-finding='0']").click()
        page.mouse.move(5, 5)

        page.keyboard.press("?")
        help_box = page.locator("[data-role=help]")
        assert help_box.is_visible() and help_box.locator("dt").count() >= 12
        assert "Mark lesion mode" in help_box.inner_text()
        page.screenshot(path=str(screenshots / "viewer-keys-help.png"))
        page.keyboard.press("Escape")
        assert not help_box.is_visible()
        page.locator("[data-action=help]").click()
        assert help_box.is_visible()
        page.mouse.click(20, 500)  # the backdrop closes it
        assert not help_box.is_visible()

        page.keyboard.press("o")
        assert page.evaluate(state, "overlay")["visible"] is False
        page.wait_for_function("() => !document.querySelector('[data-overlay=visible]').checked")
        page.keyboard.press("o")
        assert page.evaluate(state, "overlay")["visible"] is True
        page.keyboard.press("s")
        page.wait_for_function(
            "() => window.fusionscreenViewer.overlay.get().kind === 'global' && "
            "window.fusionscreenViewer.overlay.get().status === 'ready'",
            timeout=15_000,
        )
        page.keyboard.press("f")
        page.wait_for_function("() => window.fusionscreenViewer.overlay.get().kind === 'fused'")
        page.keyboard.press("3")
        assert page.evaluate(state, "operatingPoint")["preset"] == "high_specificity"
        page.keyboard.press("1")
        assert page.evaluate(state, "operatingPoint")["preset"] == "high_sensitivity"
        page.keyboard.press("t")
        page.wait_for_function("() => window.fusionscreenViewer.viewer.get().preset === 'mediastinum'")
        page.keyboard.press("l")
        page.wait_for_function("() => window.fusionscreenViewer.viewer.get().preset === 'lung'")

        # Threshold: + and - step it (a fiftieth of the map's range); the slider sets it.
        page.wait_for_timeout(500)
        start = page.evaluate(state, "overlay")["threshold"]
        page.evaluate("() => window.fusionscreenViewer.timings.overlayUpdatesMs.splice(0)")
        # One change at a time: the next only once every view has drawn the last one.
        recorded = "(n) => window.fusionscreenViewer.timings.overlayUpdatesMs.length > n"
        for n, key in enumerate(["+"] * 10 + ["-"] * 10):
            page.keyboard.press(key)
            page.wait_for_function(recorded, arg=n, timeout=10_000)
            page.wait_for_timeout(100)
        assert abs(page.evaluate(state, "overlay")["threshold"] - start) < 1e-9
        for n, position in enumerate((100, 300, 500, 700, 900, 800, 600, 400, 200, 500), start=20):
            page.locator("[data-overlay=threshold]").fill(str(position))
            page.wait_for_function(recorded, arg=n, timeout=10_000)
            page.wait_for_timeout(100)
        times = page.evaluate("() => [...window.fusionscreenViewer.timings.overlayUpdatesMs]")
        assert len(times) >= 25, times
        print(
            f"\nBENCHMARK viewer, threshold re-render (three views, small phantom, {len(times)} changes): "
            f"median {np.median(times):.0f} ms, max {max(times):.0f} ms; all: {times}"
        )
        applied = page.evaluate("() => window.fusionscreenViewer.timings.overlayApplyMs")
        print(
            f"  of which re-colouring and drawing the overlay canvases: median {np.median(applied):.0f} ms, max {max(applied):.0f} ms"
        )
        page.screenshot(path=str(screenshots / "viewer-keys-after.png"))

        # What was timed is what is seen: a recorded change has redrawn every view. A low display
        # threshold colours far more of each view than a high one (the map's noise is about 13 %
        # of its range; the crosshair lines are coloured at both); each view is captured once
        # its change has been recorded.
        def coloured_after(position: int, n: int) -> dict[str, int]:
            page.locator("[data-overlay=threshold]").fill(str(position))
            page.wait_for_function(recorded, arg=n, timeout=10_000)
            return {
                plane: int(
                    coloured(
                        rgb(page, plane, screenshots / f"overlay-threshold-{position}-{plane}.png")
                    ).sum()
                )
                for plane in PLANES
            }

        n = len(page.evaluate("() => window.fusionscreenViewer.timings.overlayUpdatesMs"))
        low, high = coloured_after(50, n), coloured_after(950, n + 1)
        print(f"  coloured pixels per view, threshold at 5 % vs 95 % of the range: {low} vs {high}")
        for plane in PLANES:
            assert low[plane] > 1.5 * high[plane] + 500, (plane, low, high)
        assert not errors, errors
    finally:
        context.close()
