"""Findings as a DICOM Segmentation (PS3.3 A.51): one binary segment per finding that reaches
the active operating point's level on the local anomaly map. A segment is the finding's own
spot (the local map at half its highest value: the region whose diameter is the finding's size)
cut at that level; without a calibrated level, the spot alone. Frames with nothing in them are
left out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from highdicom import UID
from highdicom.seg import (
    SegmentAlgorithmTypeValues,
    Segmentation,
    SegmentationTypeValues,
    SegmentDescription,
)
from pydicom.sr.codedict import codes

from detector.findings import finding_region
from webapp.pacs.equipment import Equipment
from webapp.pacs.source_images import SourceImages


@dataclass(frozen=True)
class Region:
    finding: int  # 1-based, the order of the result's findings
    mask_zyx: np.ndarray  # bool, on the CT grid
    label: str


def finding_regions(
    source: SourceImages, local_zyx: np.ndarray, peaks: list[dict], level: float | None
) -> list[Region]:
    """The region of each finding (empty ones left out: a finding below the level has none)."""
    regions = []
    for n, peak in enumerate(peaks, start=1):
        index = np.rint(source.geometry.lps_to_index(np.asarray(peak["center_lps_mm"], float))).astype(int)
        index = np.clip(index, 0, np.array(local_zyx.shape) - 1)
        # The whole volume: a region is the map's, however large, never cut to a window.
        window, inside = finding_region(local_zyx, index, source.geometry, level, window_mm=None)
        if not inside.any():
            continue
        mask = np.zeros(local_zyx.shape, bool)
        mask[window] = inside
        score = peak.get("score")
        what = f"score {float(score):.3g}" if score is not None else f"peak {float(peak.get('value', 0)):.3g}"
        regions.append(Region(n, mask, f"Finding {n} ({what})"))
    return regions


def segmentation(
    source: SourceImages,
    regions: list[Region],
    equipment: Equipment,
    series_instance_uid: str,
    level_description: str,
) -> Segmentation:
    if not regions:
        raise ValueError("no finding has a region to segment")
    masks = np.stack([r.mask_zyx for r in regions], axis=-1).astype(np.uint8)  # (z, y, x, segments)
    descriptions = [
        SegmentDescription(
            segment_number=i,
            segment_label=region.label[:64],
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Lesion,
            algorithm_type=SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=equipment.algorithm_sequence(),
            tracking_uid=UID(),
            tracking_id=f"finding-{region.finding}",
        )
        for i, region in enumerate(regions, start=1)
    ]
    return Segmentation(
        source_images=source.datasets,
        pixel_array=masks,
        segmentation_type=SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_instance_uid,
        series_number=9102,
        sop_instance_uid=UID(),
        instance_number=1,
        **equipment.kwargs,
        omit_empty_frames=True,
        content_label="FINDINGS",
        content_description=level_description[:64],
        series_description="FusionScreen findings",
    )
