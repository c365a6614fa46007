"""The read flow in headless Chromium against the live site: a radiologist opens an assigned
worklist item in the viewer (?item=), marks the lesion by clicking in the axial view, chooses a
verdict, comments and submits with Ctrl+Enter; the read is in the database with the mark where
they clicked (LPS mm); next / previous follow the worklist; reopening shows the read, and an
amendment becomes version 2. A radiologist the item is not assigned to sees why they cannot read
it. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.browser.conftest import PASSWORD, store_series
from tests.browser.test_overlay import stored_calibration, stored_result
from tests.browser.test_viewer import open_signed_in, wait_loaded

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

READ_READY = "() => window.fusionscreenViewer && window.fusionscreenViewer.readForm.get().status === 'ready'"
SUBMITTED = "() => window.fusionscreenViewer.readForm.get().status === 'submitted'"


@pytest.fixture
def worklist(site, lesion_phantom, phantom_small):
    """A worklist of two studies assigned to the radiologist: the lesion study first (fused 0.9),
    then a normal one (fused 0.3)."""
    from tests.webapp.factories import ModelVersionFactory
    from webapp.worklists import services

    folder, centre, diameter = lesion_phantom
    version = ModelVersionFactory(name="read-model", is_active=True)
    lesion = store_series(site.coordinator, site.cohort, folder)
    normal = store_series(site.coordinator, site.cohort, phantom_small[0])
    stored_result(lesion, folder, centre, diameter, version=version, fused_score=0.9)
    stored_result(normal, phantom_small[0], centre, diameter, version=version, fused_score=0.3)
    built = services.build_worklist(
        site.coordinator, site.cohort, name="Screening round 1", model_version=version, readers=["rad"]
    )
    first, second = built.items.order_by("-fused_score")
    assert (first.study_id, second.study_id) == (lesion.pk, normal.pk)
    return built, first, second, centre


def open_item(browser, site, item, *, width=1600, height=1000):
    path = f"/viewer/studies/{item.study_id}/?item={item.pk}"
    return open_signed_in(browser, site, path, width=width, height=height)


def test_radiologist_marks_a_lesion_submits_the_read_and_moves_through_the_worklist(
    browser, site, worklist, viewer_bundle, screenshots
):
    from webapp.worklists.models import ItemProgress, Read

    built, first, second, centre = worklist
    context, page, errors = open_item(browser, site, first)
    try:
        wait_loaded(page)
        page.wait_for_function(READ_READY, timeout=15_000)
        assert page.evaluate("() => window.fusionscreenViewer.readForm.get().canRead") is True
        assert ItemProgress.objects.get(item=first, reader=site.radiologist).status == "in_progress"
        assert "item 1 · Screening round 1" in page.locator("[data-read=title]").text_content()
        assert page.locator("[data-read=previous]").is_disabled()
        assert page.locator("[data-read=next]").is_enabled()

        # Go to the lesion (the finding), then mark it with a click in the axial view.
        page.wait_for_function(
            "() => window.fusionscreenViewer.overlay.get().status === 'ready'", timeout=30_000
        )
        page.locator("[data-finding='0']").click()
        page.wait_for_timeout(300)
        page.keyboard.press("m")
        assert page.evaluate("() => window.fusionscreenViewer.readForm.get().marking") is True
        # A point 6 mm to the patient's left of the lesion centre, so the click is off the
        # crosshair lines (which go through the centre).
        target = (centre + np.array([6.0, 4.0, 0.0])).tolist()
        px, py = page.evaluate("(c) => window.fusionscreenViewer.views.worldToCanvas('axial', c)", target)
        box = page.locator('[data-viewport="axial"]').bounding_box()
        expected = page.evaluate(
            "(xy) => window.fusionscreenViewer.views.canvasToWorld('axial', xy)", [round(px), round(py)]
        )
        slice_z = page.evaluate("() => window.fusionscreenViewer.views.focalPoint('axial')")[2]
        page.mouse.click(box["x"] + round(px), box["y"] + round(py))
        page.wait_for_function("() => window.fusionscreenViewer.readForm.get().marks.length === 1")
        page.keyboard.press("m")  # leave mark mode
        marks = page.evaluate("() => window.fusionscreenViewer.readForm.get().marks")
        assert np.allclose(marks[0]["center_lps_mm"], expected, atol=0.05), (marks, expected)
        page.wait_for_selector("[data-marks=axial] .vw-mark", timeout=5_000)  # drawn on its slice
        assert page.locator("[data-marks=axial] .vw-mark").count() == 1
        assert page.locator("[data-read=marks] li").count() == 1
        # Its diameter, as measured: typed into the mark's field (digits are not shortcuts there).
        preset = page.evaluate("() => window.fusionscreenViewer.operatingPoint.get().preset")
        page.locator("[data-mark-diameter='0']").fill("12.5")
        page.locator("[data-mark-diameter='0']").press("Tab")
        page.wait_for_function("() => window.fusionscreenViewer.readForm.get().marks[0].diameter_mm === 12.5")
        assert page.evaluate("() => window.fusionscreenViewer.operatingPoint.get().preset") == preset

        # Keys do nothing while typing: 'm' and 'n' go into the comment, not to the viewer.
        page.locator("[data-read=abnormal], [data-verdict][value=abnormal]").check()
        page.locator("[data-read=comment]").fill("")
        page.locator("[data-read=comment]").type("Solid nodule, left lung; CT follow-up in 3 months.")
        assert page.evaluate("() => window.fusionscreenViewer.readForm.get().marking") is False
        page.screenshot(path=str(screenshots / "read-before-submit.png"))
        page.keyboard.press("Control+Enter")
        page.wait_for_function(SUBMITTED, timeout=15_000)
        page.wait_for_function("() => !document.querySelector('[data-read=confirmation]').hidden")
        confirmation = page.locator("[data-read=confirmation]").inner_text()
        assert "Read saved" in confirmation and "Abnormal" in confirmation, confirmation
        page.screenshot(path=str(screenshots / "read-submitted.png"))

        read = Read.objects.get(item=first, reader=site.radiologist)
        assert (read.verdict, read.version, read.is_current) == ("abnormal", 1, True)
        assert read.comment == "Solid nodule, left lung; CT follow-up in 3 months."
        assert read.reading_seconds > 0 and read.server_seconds is not None
        assert read.operating_point == "balanced" and read.result.study_id == first.study_id
        [mark] = read.lesion_marks
        assert mark["diameter_mm"] == 12.5
        lps = np.array(mark["center_lps_mm"])
        assert np.allclose(lps, expected, atol=0.05), (lps, expected)
        assert abs(lps[2] - slice_z) < 0.05, "the mark lies on the axial slice shown"
        assert np.linalg.norm(lps[:2] - np.array(target[:2])) < 1.5, (lps, target)
        assert np.linalg.norm(lps - centre) < 10, "the mark is at the lesion"
        assert ItemProgress.objects.get(item=first, reader=site.radiologist).status == "read"

        # Next item: the worklist's second study, its own read card.
        page.locator("[data-read=next]").click()
        page.wait_for_url(f"**/viewer/studies/{second.study_id}/?item={second.pk}")
        page.wait_for_function(READ_READY, timeout=30_000)
        assert "item 2 · Screening round 1" in page.locator("[data-read=title]").text_content()
        assert page.locator("[data-read=next]").is_disabled()
        assert page.locator("[data-read=previous]").is_enabled()
        wait_loaded(page)
        page.screenshot(path=str(screenshots / "read-next-item.png"))

        page.set_viewport_size({"width": 1000, "height": 900})
        page.wait_for_timeout(500)
        page.screenshot(path=str(screenshots / "read-next-item-1000px.png"), full_page=True)

        # Leaving an unsubmitted read asks once; the second '[' leaves.
        page.locator("[data-verdict][value=normal]").check()
        page.keyboard.press("[")
        page.wait_for_function(
            "() => window.fusionscreenViewer.readForm.get().message.includes('not submitted')", timeout=5_000
        )
        assert f"item={second.pk}" in page.url
        # Back with '[': the read is shown; amending it needs a reason and makes version 2. The
        # model is calibrated meanwhile: the amendment records the operating point chosen (key 3).
        calibration = stored_calibration(site.cohort, read.model_version)
        page.keyboard.press("[")
        page.wait_for_url(f"**/viewer/studies/{first.study_id}/?item={first.pk}")
        page.wait_for_function(READ_READY, timeout=30_000)
        assert "You read this item" in page.locator("[data-read=existing]").inner_text()
        assert page.locator("[data-verdict][value=abnormal]").is_checked()
        assert page.locator("[data-read=marks] li").count() == 1
        # Its diameter, as measured: typed into the mark's field (digits are not shortcuts there).
        preset = page.evaluate("() => window.fusionscreenViewer.operatingPoint.get().preset")
        page.locator("[data-mark-diameter='0']").fill("12.5")
        page.locator("[data-mark-diameter='0']").press("Tab")
        page.wait_for_function("() => window.fusionscreenViewer.readForm.get().marks[0].diameter_mm === 12.5")
        assert page.evaluate("() => window.fusionscreenViewer.operatingPoint.get().preset") == preset
        assert "Amend" in page.locator("[data-read=submit]").inner_text()
        wait_loaded(page)
        page.locator("[data-mark-lps]").click()  # the views go to the mark
        page.wait_for_timeout(300)
        crosshairs = page.evaluate("() => window.fusionscreenViewer.viewer.get().crosshairs")
        assert crosshairs is not None and np.allclose(crosshairs, lps, atol=1.0), (crosshairs, lps)
        page.wait_for_function("() => window.fusionscreenViewer.operatingPoint.get().status === 'ready'")
        page.keyboard.press("3")
        page.locator("[data-verdict][value=uncertain]").check()
        page.locator("[data-read=submit]").click()
        page.wait_for_function(
            "() => window.fusionscreenViewer.readForm.get().message.includes('reason')", timeout=5_000
        )
        page.locator("[data-read=amend-reason]").fill("Second look: could be a vessel")
        page.locator("[data-read=submit]").click()
        page.wait_for_function(SUBMITTED, timeout=15_000)
        page.wait_for_function(
            "() => document.querySelector('[data-read=confirmation]').textContent.includes('Amendment saved')"
        )
        current = Read.objects.get(item=first, reader=site.radiologist, is_current=True)
        assert (current.version, current.verdict, current.amend_reason) == (
            2,
            "uncertain",
            "Second look: could be a vessel",
        )
        assert current.lesion_marks == read.lesion_marks
        assert (current.operating_point, current.calibration_id) == ("high_specificity", calibration.pk)
        assert current.threshold == calibration.operating_points["fused"]["high_specificity"]["threshold"]
        assert current.ai_call == "positive"  # fused 0.9 >= 0.9
        page.screenshot(path=str(screenshots / "read-amended.png"))
        assert errors == [], errors
    finally:
        context.close()


@pytest.mark.parametrize(
    ("username", "says"),
    [
        ("rad-2", "does not exist or is not on a worklist of yours"),  # not assigned: the API's 404
        ("coord", "Only the radiologists this worklist is assigned to"),  # the API's 403, explained
    ],
)
def test_who_may_not_read_an_item_is_told_why(
    browser, site, worklist, viewer_bundle, screenshots, username, says
):
    from tests.webapp.factories import CohortMemberFactory, UserFactory
    from webapp.accounts import roles
    from webapp.worklists.models import ItemProgress

    built, first, second, centre = worklist
    other = UserFactory(username="rad-2", role=roles.RADIOLOGIST, password=PASSWORD)
    CohortMemberFactory(cohort=site.cohort, user=other)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        site.login(page, username=username, next_path=f"/viewer/studies/{first.study_id}/?item={first.pk}")
        page.wait_for_function(
            "() => window.fusionscreenViewer && ['ready', 'error'].includes("
            "window.fusionscreenViewer.readForm.get().status)",
            timeout=30_000,
        )
        assert page.evaluate("() => window.fusionscreenViewer.readForm.get().canRead") is False
        message = page.locator("[data-read=message]").inner_text()
        assert says in message, message
        submit = page.locator("[data-read=submit]")
        assert not submit.is_visible() or submit.is_disabled()
        assert not ItemProgress.objects.filter(item=first).exists()
        # Let the CT finish loading: a frame request still being served when the test's database
        # is flushed can deadlock the flush (seen once on a loaded machine).
        wait_loaded(page)
        page.screenshot(path=str(screenshots / f"read-refused-{username}.png"))
    finally:
        context.close()
