"""Findings and the operating point as a reader meets them (issue 14, items 1-3, 7, 8), in
headless Chromium on a phantom study with a stored result of a model whose local branch has a
score map, and a calibration with normal studies: the viewer opens at the strongest finding of
a positive study, the list reads like CAD marks, J / K step through them, the chosen one is
marked in the views, and the operating point in use is outlined in the image and changes it.
Screenshots at 1440 x 900 and 390 px wide go to var/screenshots/.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.browser.conftest import store_series
from tests.browser.test_overlay import OVERLAY_READY, rgb, stored_calibration, stored_result
from tests.browser.test_viewer import open_viewer, readout, rendered, wait_loaded

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

NORMALS = [0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.75, 0.9]  # the calibration's normal studies


def calibrated_study(site, lesion_phantom):
    """A study whose result has two described findings (the lesion's, score 0.85; another,
    0.3), of a model with a local score map (level = 0.1 + (T - 0.4) for threshold T), and a
    calibration with ten normals and the points 0.5 / 0.7 / 0.9."""
    from tests.webapp.factories import ModelVersionFactory

    folder, centre, diameter = lesion_phantom
    study = store_series(site.coordinator, site.cohort, folder)
    version = ModelVersionFactory(
        name="described-model",
        is_active=True,
        detector_settings={"fusion_weight": 1.0, "fusion_rule": "standardized"},
        meta={"local": {"realisation": "fpi", "normal_peak_mean": 0.1, "normal_peak_sd": 1.0}},
    )
    result = stored_result(study, folder, centre, diameter, version=version, fused_score=0.85)
    other = (centre + np.array([-20.0, 10.0, -15.0])).tolist()
    zone = {"lung": "left", "level": "middle", "depth": "peripheral"}
    result.peaks = [  # the detector's order: the strongest peak first
        {"center_lps_mm": centre.tolist(), "value": 1.9, "score": 0.85, "size_mm": diameter, "zone": zone},
        {
            "center_lps_mm": other,
            "value": 1.2,
            "score": 0.3,
            "size_mm": 4.0,
            "zone": {**zone, "depth": "central"},
        },
    ]
    result.save()
    calibration = stored_calibration(site.cohort, version)
    calibration.per_study = [{"label": "normal", "fused_score": s} for s in NORMALS]
    calibration.n_normal, calibration.n_abnormal = 10, 10
    calibration.operating_points["fused"]["balanced"] |= {"tp": 9, "fn": 1, "tn": 8, "fp": 2}
    calibration.save()
    return study, centre, np.array(other)


def opened_at_first_finding(page) -> None:
    """Wait for the CT, the overlay and the viewer's own jump to the first finding."""
    wait_loaded(page)
    page.wait_for_function(OVERLAY_READY, timeout=30_000)
    page.wait_for_function("() => window.fusionscreenViewer.findings.get().selected === 0", timeout=30_000)


def cyan(img: np.ndarray) -> np.ndarray:
    """The operating point's outline colour (80, 220, 255), apart from inferno and the grey CT."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return (r < 140) & (g > 170) & (b > 210)


def test_the_viewer_opens_at_the_strongest_finding_and_steps_through_described_findings(
    browser, site, lesion_phantom, viewer_bundle, screenshots
):
    study, centre, other = calibrated_study(site, lesion_phantom)
    context, page, errors = open_viewer(browser, site, study, width=1440, height=900)
    try:
        opened_at_first_finding(page)
        rendered(page)
        # Opened at the strongest finding (the lesion's: score 0.85 >= balanced 0.7), unasked.
        crosshairs = page.evaluate("() => window.fusionscreenViewer.viewer.get().crosshairs")
        assert np.allclose(crosshairs, centre, atol=2.0), crosshairs
        first = page.locator("[data-finding='0']")
        assert first.get_attribute("aria-current") == "true"
        text = first.inner_text()
        assert text.startswith("1. Left lung, middle zone, peripheral"), text
        assert "flagged" in text and "stronger than 90% of the 10 calibration normals" in text, text
        # its axial slice is the one the axial view shows now that it is there
        axial_now = readout(page, "axial").split(" / ")[0]
        assert f"axial slice {axial_now} " in text, (text, axial_now)
        assert re.search(r"· \d+ mm ·", text), text
        second = page.locator("[data-finding='1']").inner_text()
        assert second.startswith("2. Left lung, middle zone, central") and "below the point" in second, second
        # marked in the views
        assert page.locator("[data-finding-mark=axial] .vw-finding-mark").inner_text() == "F1"
        # At 1440 x 900 the findings and the operating point are above the fold; keys behind "?".
        for panel in ("findings", "operating-point"):
            box = page.locator(f"[data-panel={panel}]").bounding_box()
            assert box["y"] + box["height"] <= 900, (panel, box)
        assert page.locator("text=Mouse and keys").count() == 0
        # how far the point can be trusted: its 95 % intervals, and a warning on a small cohort
        assert page.locator("[data-op=sensitivity-ci]").inner_text() == "(95% CI 55–100%)"
        assert page.locator("[data-op=specificity-ci]").inner_text() == "(95% CI 44–97%)"
        assert (
            "Small calibration cohort (10 normal, 10 abnormal"
            in page.locator("[data-op=warning]").inner_text()
        )
        page.screenshot(path=str(screenshots / "findings-1440x900.png"))

        # J steps to the next finding, K back; the views follow.
        page.keyboard.press("j")
        page.wait_for_function("() => window.fusionscreenViewer.findings.get().selected === 1")
        rendered(page)
        crosshairs = page.evaluate("() => window.fusionscreenViewer.viewer.get().crosshairs")
        assert np.allclose(crosshairs, other, atol=2.0), crosshairs
        assert page.locator("[data-finding='1']").get_attribute("aria-current") == "true"
        page.keyboard.press("k")
        page.wait_for_function("() => window.fusionscreenViewer.findings.get().selected === 0")
        assert not errors, errors
    finally:
        context.close()


def test_the_operating_point_is_outlined_in_the_image_and_changes_it(
    browser, site, lesion_phantom, viewer_bundle, screenshots
):
    study, centre, _ = calibrated_study(site, lesion_phantom)
    context, page, errors = open_viewer(browser, site, study, width=1440, height=900)
    try:
        opened_at_first_finding(page)
        page.wait_for_function("() => window.fusionscreenViewer.overlay.get().regionLevel !== null")
        outlined = {}
        images = {}
        for preset in ("high_sensitivity", "balanced", "high_specificity"):
            page.locator(f"[data-op-preset={preset}]").click()
            page.wait_for_timeout(300)
            rendered(page)
            images[preset] = rgb(page, "axial", screenshots / f"point-{preset}.png")
            outlined[preset] = int(cyan(images[preset]).sum())
        # a lower level (more sensitive) outlines a larger region around the lesion
        assert outlined["high_sensitivity"] > outlined["balanced"] > outlined["high_specificity"] > 0, (
            outlined
        )
        assert np.abs(images["balanced"] - images["high_specificity"]).max() > 40  # not pixel-identical
        level = page.evaluate("() => window.fusionscreenViewer.overlay.get().regionLevel")
        assert level == pytest.approx(0.1 + (0.9 - 0.4))
        assert "Outlined in cyan" in page.locator("[data-op=region]").inner_text()
        # the lesion's finding (0.85) is below the high-specificity point (0.9)
        assert "below the point" in page.locator("[data-finding='0']").inner_text()
        assert not errors, errors
    finally:
        context.close()


def test_the_viewer_at_phone_width(browser, site, lesion_phantom, viewer_bundle, screenshots):
    study, _, _ = calibrated_study(site, lesion_phantom)
    context, page, errors = open_viewer(browser, site, study, width=390, height=844)
    try:
        wait_loaded(page)
        page.wait_for_function(
            "() => window.fusionscreenViewer.findings.get().items.length === 2", timeout=30_000
        )
        rendered(page)
        page.screenshot(path=str(screenshots / "findings-390.png"), full_page=True)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390 + 1, width  # nothing wider than the phone
        assert not errors, errors
    finally:
        context.close()
