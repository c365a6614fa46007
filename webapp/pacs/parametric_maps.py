"""Anomaly maps as DICOM Parametric Map objects (PS3.3 A.75): one per map kind, on the CT's own
frames and frame of reference, with the real-world value mapping that turns the stored 16-bit
values back into anomaly values (the same quantisation as our own map files: value = offset +
stored x scale), compressed losslessly with JPEG-LS."""

from __future__ import annotations

import numpy as np
from highdicom import UID, VOILUTTransformation
from highdicom.pm import ParametricMap, RealWorldValueMapping
from pydicom.sr.coding import Code
from pydicom.uid import JPEGLSLossless

from webapp.detection.maps import quantise
from webapp.pacs.equipment import SCHEME, Equipment
from webapp.pacs.source_images import SourceImages

UNIT = Code("1", "UCUM", "no units")
MEANINGS = {
    "fused": "Fused anomaly (global and local branches)",
    "global": "Global-branch anomaly (slice views)",
    "local": "Local-branch anomaly (3-D patches)",
}
QUANTITY = {kind: Code(f"FS-MAP-{kind.upper()}", SCHEME, f"{kind.capitalize()} anomaly") for kind in MEANINGS}


def parametric_map(
    source: SourceImages,
    kind: str,
    values_zyx: np.ndarray,
    equipment: Equipment,
    series_instance_uid: str,
    instance_number: int,
) -> ParametricMap:
    """One anomaly map (float, on the CT grid) as a Parametric Map instance."""
    if values_zyx.shape != source.shape_zyx:
        raise ValueError(f"{kind} map has shape {values_zyx.shape}; the CT grid is {source.shape_zyx}")
    stored, offset, scale = quantise(values_zyx)
    mapping = RealWorldValueMapping(
        lut_label=kind.upper()[:16],
        lut_explanation=MEANINGS[kind][:64],
        unit=UNIT,
        value_range=(int(stored.min()), int(stored.max())),
        slope=float(scale) if scale > 0 else 1.0,
        intercept=float(offset),
        quantity_definition=QUANTITY[kind],
    )
    high = float(values_zyx.max())
    low = float(values_zyx.min())
    return ParametricMap(
        source_images=source.datasets,
        pixel_array=stored,
        series_instance_uid=series_instance_uid,
        series_number=9101,
        sop_instance_uid=UID(),
        instance_number=instance_number,
        **equipment.kwargs,
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        # A viewer's first window: the map's whole stored range.
        voi_lut_transformations=[
            VOILUTTransformation(
                window_center=(int(stored.max()) + int(stored.min())) / 2,
                window_width=max(int(stored.max()) - int(stored.min()), 1),
                window_explanation="whole map",
            )
        ],
        transfer_syntax_uid=JPEGLSLossless,
        content_label=f"{kind.upper()}_ANOMALY"[:16],
        content_description=f"{MEANINGS[kind]}; range {low:.3g} to {high:.3g}"[:64],
        series_description="FusionScreen anomaly maps",
    )
