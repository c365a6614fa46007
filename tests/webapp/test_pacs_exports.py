"""Results as DICOM (issue 16): the Parametric Maps, the findings' SEG and the measurement SR
made from a real detection of a phantom study with the tiny model. Each object reads back with
highdicom, survives pydicom's strict validation, references the CT it came from, and lines up
with it voxel for voxel."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom import config as pydicom_config

from tests.webapp.conftest import zip_folder
from webapp.detection import maps, runner
from webapp.detection.models import DetectionJob, DetectionResult
from webapp.pacs.exports import active_call, export_result
from webapp.pacs.models import ResultObject
from webapp.pacs.segmentations import finding_regions
from webapp.pacs.source_images import source_images

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning")]


def detect(world, api, phantoms, cohort, indices, monkeypatch) -> list[DetectionResult]:
    from webapp.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)  # the jobs run here, in this process
    archive = SimpleUploadedFile(
        "cohort.zip", zip_folder([phantoms.series_dirs[i] for i in indices], phantoms.root)
    )
    r = api(world.admin).post(f"/api/cohorts/{cohort.pk}/upload/", {"file": [archive]}, format="multipart")
    assert r.status_code == 200, r.content
    results = []
    for job in DetectionJob.objects.filter(study_id__in=r.json()["study_ids"]).order_by("pk"):
        assert runner.run_detection(job.pk, "test") == "done"
        results.append(DetectionResult.objects.get(job=job))
    return results


@pytest.fixture
def result(world, api, phantoms, model_version, monkeypatch) -> DetectionResult:
    """The abnormal phantom's result."""
    return detect(world, api, phantoms, world.cohort_a, [0], monkeypatch)[0]


def stored(obj: ResultObject) -> pydicom.Dataset:
    return pydicom.dcmread(Path(settings.MEDIA_ROOT) / obj.file)


def strictly_valid(ds: pydicom.Dataset, tmp_path: Path) -> None:
    """pydicom's own validation: every value written must be valid for its VR."""
    old = pydicom_config.settings.writing_validation_mode
    pydicom_config.settings.writing_validation_mode = pydicom_config.RAISE
    try:
        ds.save_as(tmp_path / "check.dcm", enforce_file_format=True)
    finally:
        pydicom_config.settings.writing_validation_mode = old


def test_every_kind_is_made_once_and_reads_back(result, tmp_path):
    objects = {o.kind: o for o in export_result(result)}
    assert set(objects) >= {"sr", "pm-fused", "pm-global", "pm-local"}
    assert [o.pk for o in export_result(result)] == [o.pk for o in ResultObject.objects.filter(result=result)]
    ct = source_images(result.series_instance_uid, result.grid).datasets[0]
    for kind, obj in objects.items():
        ds = stored(obj)
        strictly_valid(ds, tmp_path)
        assert ds.StudyInstanceUID == result.study.study_instance_uid
        assert ds.PatientID == result.study.patient.patient_id
        assert ds.SOPInstanceUID == obj.sop_instance_uid and ds.SOPClassUID == obj.sop_class_uid
        if kind != "sr":
            assert ds.FrameOfReferenceUID == ct.FrameOfReferenceUID
    hd.sr.srread(Path(settings.MEDIA_ROOT) / objects["sr"].file)
    for kind in ("pm-fused", "pm-global", "pm-local"):
        hd.pm.ParametricMap.from_dataset(stored(objects[kind]))


def test_the_parametric_maps_hold_the_maps_on_the_ct_frames(result):
    objects = {o.kind: o for o in export_result(result)}
    source = source_images(result.series_instance_uid, result.grid)
    folder = Path(settings.MEDIA_ROOT) / result.maps_directory
    for name in ("fused", "local"):
        pm = hd.pm.ParametricMap.from_dataset(stored(objects[f"pm-{name}"]))
        mapping = pm.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
        slope, intercept = float(mapping.RealWorldValueSlope), float(mapping.RealWorldValueIntercept)
        expected = maps.read_map(folder, result.maps[name], source.shape_zyx)
        # Frame by frame, through the frame's own reference to its CT image.
        for frame in range(1, pm.NumberOfFrames + 1, 7):
            groups = pm.PerFrameFunctionalGroupsSequence[frame - 1]
            sop = groups.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
            z = [str(d.SOPInstanceUID) for d in source.datasets].index(sop)
            values = pm.pixel_array[frame - 1] * slope + intercept
            assert np.allclose(values, expected[z], atol=slope)


def test_the_seg_marks_the_voxels_of_the_map_region_on_the_same_ct_pixels(result):
    objects = {o.kind: o for o in export_result(result)}
    assert "seg" in objects, "the abnormal phantom has findings with regions"
    seg = hd.seg.segread(Path(settings.MEDIA_ROOT) / objects["seg"].file)
    source = source_images(result.series_instance_uid, result.grid)
    local = maps.read_map(
        Path(settings.MEDIA_ROOT) / result.maps_directory, result.maps["local"], source.shape_zyx
    )
    _, level = active_call(result)
    regions = finding_regions(source, local, result.peaks, level)
    assert seg.number_of_segments == len(regions) >= 1
    uids = [str(d.SOPInstanceUID) for d in source.datasets]
    for number, region in enumerate(regions, start=1):
        zs = sorted(set(np.nonzero(region.mask_zyx)[0]))
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[uids[z] for z in zs],
            segment_numbers=[number],
            ignore_spatial_locations=True,
        )[..., 0]
        assert np.array_equal(pixels.astype(bool), region.mask_zyx[zs]), (
            f"segment {number} is off the map region"
        )
        # and a voxel of the map region is inside the map's anomaly level
        z, y, x = np.argwhere(region.mask_zyx)[0]
        assert local[z, y, x] >= (level if level is not None else 0)


def test_the_report_has_the_scores_and_each_finding_as_a_point(result):
    objects = {o.kind: o for o in export_result(result)}
    sr = hd.sr.srread(Path(settings.MEDIA_ROOT) / objects["sr"].file)
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == len(result.peaks)
    for group, peak in zip(groups, result.peaks):
        region = group.roi
        assert region.graphic_type == hd.sr.GraphicTypeValues3D.POINT
        assert np.allclose(region.value, [peak["center_lps_mm"]], atol=0.01)
        names = {m.name.meaning: m.value for m in group.get_measurements()}
        if "size_mm" in peak:
            assert names["Diameter"] == pytest.approx(peak["size_mm"])
        if "score" in peak:
            assert names["Finding anomaly score"] == pytest.approx(peak["score"])
    [study] = sr.content.get_image_measurement_groups()
    scores = {m.name.meaning: m.value for m in study.get_measurements()}
    assert scores["Fused anomaly score"] == pytest.approx(result.fused_score)
    assert scores["Global-branch anomaly score"] == pytest.approx(result.global_score)


def test_after_calibration_the_seg_is_cut_at_the_balanced_point_and_the_report_says_so(
    world, api, phantoms, model_version, monkeypatch
):
    from webapp.detection.models import Calibration

    results = detect(world, api, phantoms, world.cohort_a, [0, 1, 2], monkeypatch)
    admin = api(world.admin)
    archive = SimpleUploadedFile("cohort.zip", zip_folder(phantoms.series_dirs, phantoms.root))
    assert (
        admin.post(
            f"/api/cohorts/{world.cohort_b.pk}/upload/", {"file": [archive]}, format="multipart"
        ).status_code
        == 200
    )
    labels = SimpleUploadedFile("labels.csv", phantoms.labels_csv.read_bytes())
    assert (
        admin.post(
            f"/api/cohorts/{world.cohort_b.pk}/labels/", {"file": labels}, format="multipart"
        ).status_code
        == 200
    )
    r = admin.post(f"/api/cohorts/{world.cohort_b.pk}/calibrate/", {}, format="json")
    assert runner.run_calibration(r.json()["id"], "test") == "done"
    calibration = Calibration.objects.get(pk=r.json()["id"])
    result = results[0]
    call, level = active_call(result)
    point = calibration.point("balanced")
    assert call.threshold == point.threshold and call.positive == (result.fused_score >= point.threshold)
    objects = {o.kind: o for o in export_result(result)}
    sr = hd.sr.srread(Path(settings.MEDIA_ROOT) / objects["sr"].file)
    [study] = sr.content.get_image_measurement_groups()
    values = {m.name.meaning: m.value for m in study.get_measurements()}
    assert values["Operating point threshold"] == pytest.approx(point.threshold)
    assert values["Calibrated sensitivity"] == pytest.approx(100 * point.sensitivity)
    evaluations = {e.name.meaning: e.value.meaning for e in study.get_qualitative_evaluations()}
    assert evaluations["Operating point"] == "Balanced"
    assert evaluations["Anomaly at operating point"].startswith(
        "Anomalous" if call.positive else "Not anomalous"
    )
    # The SEG holds the findings' regions at the point's level on the local map, and is left out
    # when none reaches it (the tiny model's local branch barely varies: its level sits at the
    # map's top, away from the findings, so this is the case seen here).
    source = source_images(result.series_instance_uid, result.grid)
    local = maps.read_map(
        Path(settings.MEDIA_ROOT) / result.maps_directory, result.maps["local"], source.shape_zyx
    )
    assert level is not None and level <= float(local.max())
    regions = finding_regions(source, local, result.peaks, level)
    assert ("seg" in objects) == bool(regions)
    if regions:
        assert f"{level:.4g}" in stored(objects["seg"]).ContentDescription


def test_a_read_and_its_amendment_become_reports_that_name_the_reader_marks_and_history(
    world, result, django_capture_on_commit_callbacks
):
    from webapp.pacs.exports import export_read
    from webapp.worklists import services
    from webapp.worklists.models import WorklistItem
    from webapp.worklists.reads import record_read

    world.radiologist.first_name, world.radiologist.last_name = "Ada", "Reader"
    world.radiologist.save()
    services.build_worklist(world.coordinator, world.cohort_a, name="w", readers=["rad"], blinded=False)
    item = WorklistItem.objects.get(study=result.study)
    mark = {"center_lps_mm": result.peaks[0]["center_lps_mm"], "diameter_mm": 12.5}
    first = record_read(
        world.radiologist,
        item.pk,
        verdict="abnormal",
        reading_seconds=42.0,
        operating_point="balanced",
        lesion_marks=[mark],
    )
    report = export_read(first)
    sr = hd.sr.srread(Path(settings.MEDIA_ROOT) / report.file)
    assert sr.StudyInstanceUID == result.study.study_instance_uid
    [read_group] = sr.content.get_image_measurement_groups()
    evaluations = {e.name.meaning: e.value.meaning for e in read_group.get_qualitative_evaluations()}
    assert (
        evaluations["Reader's verdict"] == "Abnormal"
        and evaluations["AI result shown to the reader"] == "Yes"
    )
    assert {m.name.meaning: m.value for m in read_group.get_measurements()}["Reading time"] == 42.0
    [marked] = sr.content.get_planar_roi_measurement_groups()
    assert np.allclose(marked.roi.value, [mark["center_lps_mm"]], atol=0.01)
    assert [m.value for m in marked.get_measurements()] == [12.5]
    names = [str(i.PersonName) for i in sr.ContentSequence if i.ValueType == "PNAME"]
    assert names == ["Reader^Ada"]

    amended = record_read(
        world.radiologist,
        item.pk,
        verdict="normal",
        reading_seconds=5.0,
        operating_point="balanced",
        amend_reason="wrong study",
    )
    second = hd.sr.srread(Path(settings.MEDIA_ROOT) / export_read(amended).file)
    assert second.SeriesInstanceUID == sr.SeriesInstanceUID and second.InstanceNumber == 2
    predecessor = second.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert predecessor.ReferencedSOPInstanceUID == sr.SOPInstanceUID
