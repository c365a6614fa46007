"""A blinded read in headless Chromium (issue 14, item 9): the viewer shows no overlay, findings or
call until the read is submitted; then "Show the AI's result" brings them."""

from __future__ import annotations

import pytest

from tests.browser.conftest import store_series
from tests.browser.test_overlay import stored_result
from tests.browser.test_read import READ_READY, SUBMITTED, open_item
from tests.browser.test_viewer import rendered, wait_loaded

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


def test_a_blinded_read_shows_the_ai_only_after_submission(
    browser, site, lesion_phantom, viewer_bundle, screenshots
):
    from tests.webapp.factories import ModelVersionFactory
    from webapp.worklists import services
    from webapp.worklists.models import Read

    folder, centre, diameter = lesion_phantom
    version = ModelVersionFactory(name="blind-model", is_active=True)
    study = store_series(site.coordinator, site.cohort, folder)
    stored_result(study, folder, centre, diameter, version=version, fused_score=0.9)
    built = services.build_worklist(
        site.coordinator,
        site.cohort,
        name="Blinded round",
        model_version=version,
        readers=["rad"],
        blinded=True,
    )
    item = built.items.get()
    context, page, errors = open_item(browser, site, item)
    try:
        wait_loaded(page)
        page.wait_for_function(READ_READY, timeout=15_000)
        rendered(page)
        assert page.evaluate("() => window.fusionscreenViewer.result") is None
        assert "Blinded read" in page.locator("[data-findings=message]").inner_text()
        assert "Blinded read" in page.locator("[data-overlay=message]").inner_text()
        assert "Blinded read" in page.locator("[data-op=message]").inner_text()
        assert page.locator("[data-finding]").count() == 0
        assert page.locator("[data-read=facts]").inner_text().startswith("Blinded: the AI is hidden")
        assert page.locator("[data-read=reveal]").is_hidden()
        page.screenshot(path=str(screenshots / "blinded-before-read.png"))

        page.locator("[data-verdict][value=abnormal]").check()
        page.keyboard.press("Control+Enter")
        page.wait_for_function(SUBMITTED, timeout=15_000)
        assert Read.objects.get(item=item, reader=site.radiologist).blinded is True
        page.locator("[data-read=reveal]").click()
        page.wait_for_load_state()
        page.wait_for_function(
            "() => window.fusionscreenViewer.overlay.get().status === 'ready'", timeout=60_000
        )
        assert page.locator("[data-finding]").count() == 1
        page.screenshot(path=str(screenshots / "blinded-after-read.png"))
        assert not errors, errors
    finally:
        context.close()
