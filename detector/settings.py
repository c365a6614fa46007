"""Every tunable number of the method, with the paper's value as default and where it came from.

One :class:`ModelSettings` travels inside each model file, so a score can always be traced to the
exact choices that produced it. Choices the paper leaves open are marked "open choice".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class ModelSettings:
    # --- preprocessing (METHOD.md §0) ---
    working_spacing_mm: float = 1.0  # isotropic; the paper did not resample (deliberate fix)
    window_hu: tuple[float, float] = (-800.0, 0.0)  # paper's projection window
    lung_threshold_hu: float = -320.0  # classical lung mask threshold
    # open choice: Gaussian denoising before projections. A maximum projection through ~200
    # voxels of low-dose noise picks the noise's upper tail, lifting the whole lung.
    denoise_sigma_mm: float = 1.0
    # open choice: the outer millimetres of the lung mask are left out of projections, where
    # partial volume with the chest wall would put a bright rim into every ray's maximum.
    mask_rim_mm: float = 2.0

    # --- global branch (METHOD.md §1) ---
    global_image_px: int = 224  # paper: 224x224 inputs
    global_keep_aspect: bool = True  # open choice: pad the lung crop to square before resizing
    global_feature_pool: int = 3  # paper: 3x3 average pooling of feature maps
    # open choice (not published; 1-10% usual): a few dozen normals need no reduction, and
    # the standardisation (below) assumes the full bank
    global_coreset_ratio: float = 1.0
    global_smoothing_sigma_px: float = 4.0  # at 224 px (paper); scaled with image size
    # Always on (not options): each location's distance is standardised by the normals'
    # leave-one-out spread (floor: global_branch.SD_FLOOR) and the six view scores combine by
    # their maximum; docs/method.md says why.
    global_extractor: str = "efficientnet_lite0_imagenet"  # or "local_file:<path>"

    # --- local branch (METHOD.md §2) ---
    local_grid: int = 9  # paper: 9x9x9 patch centres over the lungs' bounding box
    local_cube_vox: int = 96  # paper: 96 voxels per side at the working spacing
    local_view_px: int = 48  # open choice: projections resized to this (96 on GPU = paper)
    local_projection: str = "max"  # open choice: max or mean intensity projection
    local_mask_outside_lung: bool = True  # open choice: tissue outside the lungs set to window min
    local_skip_outside_centres: bool = True  # METHOD: cubes centred outside the lungs may be skipped
    local_feature_dim: int = 128  # paper: head Linear(512,512)-Sigmoid-Linear(512,128)
    local_temperature: float = 0.5  # paper: NT-Xent temperature
    local_lr: float = 1e-3  # paper: peak lr after warm-up
    local_weight_decay: float = 1e-6  # paper
    local_warmup_epochs: int = 10  # paper
    local_epochs: int = 60  # paper trained 1000 on GPUs; CPU default is far shorter (see docs)
    local_bank_passes: int = 30  # paper: 30 passes, one random cube per patient per pass
    local_percentile: float = 7.0  # paper: 7th percentile of patch normality (tuned on their folds)

    # --- fusion (METHOD.md §3) ---
    fusion_weight: float = 0.7  # paper: S = G + 0.7 / L (tuned on the authors' folds)
    # "published": S = G + w / L_normality. "standardized": S = G + w * L_anomaly, for a local
    # realisation whose normality is a z-score (the global branch's always is); the reciprocal of
    # a z-score is meaningless (it changes sign at 0).
    fusion_rule: str = "published"
    fusion_local_clip_pct: float = 6.0  # paper: local map clipped from below at p6
    fusion_global_clip_pct: float = 94.0  # paper: global map clipped from above at p94
    fusion_band_pct: tuple[float, float] = (82.0, 94.0)  # paper: fused map clipped to this band
    display_sigma_mm: float = 6.0  # paper: Gaussian sigma 6 per slice, pictures only
    peak_count: int = 5
    peak_min_separation_mm: float = 20.0

    # --- speed ---
    # bf16 autocast for the networks' forward passes on CUDA (the CPU always runs fp32);
    # tests/detector/test_precision.py bounds its effect on the scores.
    cuda_bf16: bool = True

    # --- randomness ---
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSettings:
        known = {f.name: f for f in fields(cls)}
        kwargs = {}
        for k, v in d.items():
            if k in known:
                kwargs[k] = tuple(v) if isinstance(v, list) else v
        return cls(**kwargs)

    def with_overrides(self, overrides: dict[str, Any]) -> ModelSettings:
        """Copy with ``name=value`` overrides, values coerced to each field's type."""
        known = {f.name: f for f in fields(self)}
        cast: dict[str, Any] = {}
        for k, v in overrides.items():
            if k not in known:
                raise KeyError(f"unknown model setting {k!r}; known: {', '.join(sorted(known))}")
            current = getattr(self, k)
            if isinstance(v, str):
                v = _parse_like(v, current)
            cast[k] = v
        return replace(self, **cast)


def _parse_like(text: str, current: Any) -> Any:
    if isinstance(current, bool):
        return text.lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, tuple):
        return tuple(float(p) for p in text.split(","))
    return text


# Small settings for unit tests: coarse grid, tiny cubes; exercises every code path quickly.
TEST_SETTINGS = ModelSettings(
    working_spacing_mm=4.0,
    global_image_px=64,
    local_grid=4,
    local_cube_vox=16,
    local_view_px=16,
    local_epochs=2,
    local_warmup_epochs=1,
    local_bank_passes=2,
)
