"""Scoring one study and writing ``result.json`` plus the three maps as NIfTI on the CT grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from detector.geometry import CTVolume
from detector.io import read_volume, write_nifti
from detector.model import FusionModel
from detector.pipeline import StudyResult, Timer, prepare_for_model, score_prepared


def score_volume(model: FusionModel, volume: CTVolume, timer: Timer | None = None) -> StudyResult:
    """Scores and maps for one CT volume."""
    timer = timer or Timer()
    return score_prepared(model, prepare_for_model(volume, model.settings, timer), timer)


def write_maps(
    result: StudyResult, volume: CTVolume, out_dir: Path, timer: Timer | None = None
) -> dict[str, str]:
    """Global, local and fused maps resampled to the CT grid, stored compactly (uint16 + scale)."""
    timer = timer or Timer()
    files = {}
    with timer.stage("write"):
        for name, arr in result.maps_on_ct_grid(volume).items():
            path = out_dir / f"{name}_map.nii.gz"
            write_nifti(arr.astype(np.float32), volume.geometry, path, quantize=True)
            files[name] = path.name
    return files


def score_study(model: FusionModel, study: Path | str, out_dir: Path | str) -> dict:
    """Read a study (DICOM folder/file or NIfTI), score it, write result.json and the maps."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timer = Timer()
    with timer.stage("read"):
        volume = read_volume(study)
    result = score_volume(model, volume, timer)
    files = write_maps(result, volume, out, timer)
    payload = {
        **result.summary(),
        "timings_s": {k: round(v, 3) for k, v in timer.seconds.items()},
        "maps": files,
        "higher_is_more_anomalous": True,
        "study": {
            "source": str(study),
            "patient_id": volume.meta.get("patient_id", ""),
            "study_instance_uid": volume.meta.get("study_instance_uid", ""),
            "series_instance_uid": volume.meta.get("series_instance_uid", ""),
            "shape_zyx": list(volume.shape),
            "geometry": volume.geometry.to_dict(),
        },
        "model": {
            "saved_at": model.meta.get("saved_at"),
            "training": {k: model.meta.get("training", {}).get(k) for k in ("n_normals", "epochs")},
            "fusion_weight": model.settings.fusion_weight,
        },
    }
    (out / "result.json").write_text(json.dumps(payload, indent=2))
    return payload
