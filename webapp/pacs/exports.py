"""Making a result's DICOM objects and keeping them: a Parametric Map of each anomaly map, the
findings' SEG and the measurement report, all in the CT's study and frame of reference, written
under ``MEDIA_ROOT/dicom-results/`` and recorded as ``ResultObject`` rows.

Made once per result (by the worker right after detection, or on the first download) and then
served as stored: the same SOP instances every time, so a PACS that receives them twice keeps
one copy. The active operating point is the newest calibration's balanced point at the time
they are made; the SR and the SEG say which.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from highdicom import UID
from pydicom.dataset import Dataset

from webapp.detection import maps
from webapp.detection.findings import map_level_line, map_levels
from webapp.detection.models import DetectionResult
from webapp.detection.points import DEFAULT_POINT, POINT_LABELS
from webapp.detection.selectors import latest_calibration
from webapp.pacs.equipment import Equipment
from webapp.pacs.models import ReadReport, ResultObject
from webapp.pacs.parametric_maps import parametric_map
from webapp.pacs.read_reports import read_report
from webapp.pacs.reports import Call, measurement_report
from webapp.pacs.segmentations import finding_regions, segmentation
from webapp.pacs.source_images import SourceImages, source_images
from webapp.worklists.models import Read

log = logging.getLogger(__name__)

Kind = ResultObject.Kind
MAP_KINDS = {Kind.FUSED_MAP: "fused", Kind.GLOBAL_MAP: "global", Kind.LOCAL_MAP: "local"}


def folder_of(result: DetectionResult) -> Path:
    return Path("dicom-results") / f"result-{result.pk}"


def active_call(result: DetectionResult) -> tuple[Call | None, float | None]:
    """The newest calibration's balanced point with the study's call there, and the local map's
    level at which that point flags (None without a calibration, or for a model whose local
    branch has no level)."""
    calibration = latest_calibration(result.model_version)
    if calibration is None:
        return None, None
    point = calibration.point(DEFAULT_POINT)
    if point is None:
        return None, None
    call = Call(
        name=point.name,
        label=POINT_LABELS[point.name][0],
        threshold=point.threshold,
        sensitivity=point.sensitivity,
        specificity=point.specificity,
        positive=point.is_positive(result.fused_score),
        calibration_id=calibration.pk,
    )
    level = map_levels(map_level_line(result), calibration).get(point.name)
    return call, level


def build_objects(result: DetectionResult) -> Iterator[tuple[str, Dataset]]:
    """The result's DICOM objects as (kind, dataset), made one at a time so that a full-size
    study's maps are never all in memory at once (no SEG when no finding has a region)."""
    source: SourceImages = source_images(result.series_instance_uid, result.grid)
    folder = Path(settings.MEDIA_ROOT) / result.maps_directory

    def values(name: str) -> np.ndarray:
        return maps.read_map(folder, result.maps[name], source.shape_zyx)

    equipment = Equipment(result.model_version.name, result.model_version.detector_version)
    call, level = active_call(result)
    map_series = UID()
    for number, (kind, name) in enumerate(MAP_KINDS.items(), start=1):
        if name in result.maps:
            yield kind, parametric_map(source, name, values(name), equipment, map_series, number)
    regions = finding_regions(source, values("local"), result.peaks, level) if "local" in result.maps else []
    if regions:
        where = (
            f"local map >= {level:.4g} ({call.label} point)"
            if level is not None and call
            else "half each finding's highest local value"
        )
        yield Kind.SEGMENTATION, segmentation(source, regions, equipment, UID(), where)
        del regions
    scores = {"fused": result.fused_score, "global": result.global_score, "local": result.local_score}
    yield Kind.REPORT, measurement_report(source, scores, result.peaks, call, equipment, UID())


def _write(path: Path, ds: Dataset) -> tuple[int, str]:
    tmp = path.with_suffix(".tmp")
    ds.save_as(tmp, enforce_file_format=True)
    with tmp.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    tmp.replace(path)
    return path.stat().st_size, digest


def export_result(result: DetectionResult) -> list[ResultObject]:
    """The result's stored DICOM objects, made now if they were not made before."""
    existing = list(ResultObject.objects.filter(result=result))
    if existing:
        return existing
    relative = folder_of(result) / UID()  # a folder per attempt: a lost race deletes only its own
    target = Path(settings.MEDIA_ROOT) / relative
    target.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for kind, ds in build_objects(result):
            size, digest = _write(target / f"{kind}.dcm", ds)
            rows.append(
                ResultObject(
                    result=result,
                    kind=kind,
                    sop_class_uid=str(ds.SOPClassUID),
                    sop_instance_uid=str(ds.SOPInstanceUID),
                    series_instance_uid=str(ds.SeriesInstanceUID),
                    file=(relative / f"{kind}.dcm").as_posix(),
                    size=size,
                    sha256=digest,
                )
            )
        with transaction.atomic():
            ResultObject.objects.bulk_create(rows)
    except IntegrityError:  # made at the same moment by another process: theirs stands
        shutil.rmtree(target, ignore_errors=True)
        return list(ResultObject.objects.filter(result=result))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    log.info("result %s: %s DICOM objects stored", result.pk, len(rows))
    return rows


def export_read(read: Read) -> ReadReport:
    """The read's SR, made now if it was not made before (an amendment's names its predecessor's)."""
    existing = ReadReport.objects.filter(read=read).first()
    if existing is not None:
        return existing
    result = read.result
    source = source_images(result.series_instance_uid, result.grid)
    previous = ReadReport.objects.filter(read_id=read.supersedes_id).first() if read.supersedes_id else None
    series = previous.series_instance_uid if previous else UID()  # a read's versions share a series
    ds = read_report(read, source, series, Path(settings.MEDIA_ROOT) / previous.file if previous else None)
    relative = Path("dicom-results") / f"read-{read.pk}" / UID()
    target = Path(settings.MEDIA_ROOT) / relative
    target.mkdir(parents=True, exist_ok=True)
    try:
        size, digest = _write(target / "sr.dcm", ds)
        with transaction.atomic():
            return ReadReport.objects.create(
                read=read,
                sop_instance_uid=str(ds.SOPInstanceUID),
                series_instance_uid=series,
                file=(relative / "sr.dcm").as_posix(),
                size=size,
                sha256=digest,
            )
    except IntegrityError:
        shutil.rmtree(target, ignore_errors=True)
        return ReadReport.objects.get(read=read)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
