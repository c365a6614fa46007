"""The viewer's "Results as DICOM" card in headless Chromium: the result's SR, SEG and
Parametric Maps listed and downloadable as real DICOM files, and, for a coordinator, sent to a
DICOM node (the delivery is queued; the worker's part is tested in tests/webapp)."""

from __future__ import annotations

import pydicom
import pytest

from tests.browser.conftest import store_series
from tests.browser.test_overlay import stored_result
from tests.browser.test_viewer import wait_loaded

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


def test_the_viewer_lists_downloads_and_sends_the_results_dicom_objects(
    browser, site, lesion_phantom, viewer_bundle, screenshots, monkeypatch
):
    from webapp.celery import app
    from webapp.pacs.exports import export_result
    from webapp.pacs.models import Delivery, DicomNode

    queued = []
    monkeypatch.setattr(app, "send_task", lambda name, **k: queued.append(name))  # no worker here
    folder, centre, diameter = lesion_phantom
    study = store_series(site.coordinator, site.cohort, folder)
    result = stored_result(study, folder, centre, diameter)
    made = {o.kind for o in export_result(result)}
    DicomNode.objects.create(name="pacs", ae_title="PACS", host="127.0.0.1", port=11112)
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    try:
        path = f"/viewer/studies/{study.pk}/"
        site.login(page, "coord", next_path=path)
        page.wait_for_url(f"**{path}")
        wait_loaded(page)
        card = page.locator("[data-panel=dicom]")
        page.wait_for_function("() => document.querySelector('[data-panel=dicom]').dataset.state === 'ready'")
        links = card.locator("[data-dicom=objects] a")
        assert links.count() == len(made) >= 4
        with page.expect_download() as download:
            card.get_by_text("Measurement report (Comprehensive 3D SR)").click()
        report = pydicom.dcmread(download.value.path())
        assert report.Modality == "SR" and report.StudyInstanceUID == study.study_instance_uid
        card.get_by_role("button", name="Send").click()
        page.wait_for_function(
            "() => document.querySelector('[data-dicom=message]').textContent.includes('Queued')"
        )
        page.wait_for_function(
            "() => document.querySelector('[data-dicom=deliveries]').textContent.includes('pacs')"
        )
        card.screenshot(path=str(screenshots / "viewer-dicom-card.png"))
        assert Delivery.objects.get().requested_by == site.coordinator
        assert "pacs.deliver" in queued
    finally:
        context.close()
