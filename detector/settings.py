"""Every tunable number of the method, with the paper's value as default and where it came from.

One :class:`ModelSettings` travels inside each model file, so a score can always be traced to the
exact choices that produced it. Choices the paper leaves open are marked "open choice".
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

# The allowed values of every string "mode" setting (global_extractor is checked on its own:
# the ImageNet network or "local_file:<path>").
CHOICES: dict[str, tuple[str, ...]] = {
    "local_realisation": ("fpi", "csi"),
    "local_projection": ("max", "mean"),
}
DEFAULT_EXTRACTOR = "efficientnet_lite0_imagenet"
LOCAL_FILE_PREFIX = "local_file:"
_POSITIVE = (
    "working_spacing_mm",
    "global_image_px",
    "global_feature_pool",
    "local_grid",
    "local_cube_vox",
    "local_view_px",
    "local_feature_dim",
    "local_temperature",
    "local_lr",
    "local_bank_passes",
    "peak_count",
    "fpi_spacing_mm",
    "fpi_slices",
    "fpi_width",
    "fpi_levels",
    "fpi_crop_px",
    "fpi_steps",
    "fpi_batch",
    "fpi_lr",
)
_NON_NEGATIVE = (
    "denoise_sigma_mm",
    "mask_rim_mm",
    "global_smoothing_sigma_px",
    "local_weight_decay",
    "local_warmup_epochs",
    "local_epochs",
    "fusion_weight",
    "display_sigma_mm",
    "peak_min_separation_mm",
    "seed",
    "fpi_intensity_shift",
)
_PERCENTILES = ("local_percentile", "fusion_local_clip_pct", "fusion_global_clip_pct", "fusion_band_pct")


@dataclass(frozen=True)
class ModelSettings:
    # --- preprocessing (docs/method.md, "resample") ---
    working_spacing_mm: float = 1.0  # isotropic; the paper did not resample (deliberate fix)
    window_hu: tuple[float, float] = (-800.0, 0.0)  # paper's projection window
    lung_threshold_hu: float = -320.0  # classical lung mask threshold
    # open choice: Gaussian denoising before projections. A maximum projection through ~200
    # voxels of low-dose noise picks the noise's upper tail, lifting the whole lung.
    denoise_sigma_mm: float = 1.0
    # open choice: the outer millimetres of the lung mask are left out of projections, where
    # partial volume with the chest wall would put a bright rim into every ray's maximum.
    mask_rim_mm: float = 2.0

    # --- global branch (docs/method.md, "global") ---
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

    # --- local branch: a slot with two realisations (detector/local_slot.py) ---
    # "fpi": foreign-patch segmentation, learns within the CPU budget (docs/method.md, "local, fpi"; the
    # default, chosen under the protocol of docs/results.md, session 6). "csi": the paper's
    # contrastive cube encoders (§2), for GPUs: on two CPU cores they do not learn.
    local_realisation: str = "fpi"

    # --- local branch, "fpi" realisation (docs/method.md, "local, fpi") ---
    fpi_spacing_mm: float = 2.0  # the coarse grid it works on (a multiple of working_spacing_mm)
    fpi_slices: int = 9  # slab depth: 2k+1 neighbouring slices in, the centre one marked
    fpi_width: int = 16  # U-Net channels at the first level, doubling per level
    fpi_levels: int = 3
    fpi_crop_px: int = 64  # training crops (128 mm at 2 mm)
    fpi_steps: int = 6000  # Adam steps, cosine schedule (about 10 minutes on 2 cores)
    fpi_batch: int = 16
    fpi_lr: float = 1e-3
    # training anomalies: ellipsoids of another normal scan, diameters in this range (mm) ...
    fpi_patch_mm: tuple[float, float] = (4.0, 40.0)  # ... drawn log-uniformly, axes x 0.67-1.5
    fpi_body_share: float = 0.5  # ... taken from any body tissue (else from lung) this often
    fpi_intensity_shift: float = 0.1  # ... shifted by up to this (input units: 0.1 = 100 HU)
    # ... laid against a vessel in the lungs this often (else anywhere near the lungs): V, adopted
    # in session 18 under the two-seed rule (docs/results.md, sessions 15, 17 and 18)
    fpi_vessel_share: float = 0.5

    # --- local branch, "csi" realisation (docs/method.md, "local, csi") ---
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

    # --- fusion (docs/method.md, "fusion") ---
    fusion_weight: float = 0.7  # paper: S = G + 0.7 / L (tuned on the authors' folds)
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

    def __post_init__(self) -> None:
        """Check every value; each problem is a ValueError naming the setting.

        Ints are accepted for float settings and lists for tuples (JSON has neither floats
        without a point nor tuples) and stored as the field's type, so JSON round trips are exact.
        """
        for f in fields(self):
            object.__setattr__(self, f.name, _typed(f.name, getattr(self, f.name), f.default))
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"{name}: {value!r} is not allowed; allowed: {', '.join(repr(a) for a in allowed)}"
                )
        ext = self.global_extractor
        if ext != DEFAULT_EXTRACTOR and not (ext.startswith(LOCAL_FILE_PREFIX) and ext != LOCAL_FILE_PREFIX):
            raise ValueError(
                f"global_extractor: {ext!r} is not allowed; allowed: {DEFAULT_EXTRACTOR!r} or "
                f"'{LOCAL_FILE_PREFIX}<path>'"
            )
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: {getattr(self, name)!r} must be positive")
        for name in _NON_NEGATIVE:
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}: {getattr(self, name)!r} must not be negative")
        for name in _PERCENTILES:
            value = getattr(self, name)
            if not all(0.0 <= v <= 100.0 for v in (value if isinstance(value, tuple) else (value,))):
                raise ValueError(f"{name}: {value!r} must be a percentile in [0, 100]")
        ratio = self.fpi_spacing_mm / self.working_spacing_mm
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-6:
            raise ValueError(
                f"fpi_spacing_mm: {self.fpi_spacing_mm!r} must be a whole multiple of working_spacing_mm "
                f"({self.working_spacing_mm!r})"
            )
        if not 0.0 < self.fpi_patch_mm[0] <= self.fpi_patch_mm[1]:
            raise ValueError(f"fpi_patch_mm {self.fpi_patch_mm!r} must be (low, high)")
        for name in ("fpi_body_share", "fpi_vessel_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: {getattr(self, name)!r} must be a share in [0, 1]")
        if self.fpi_slices % 2 == 0 or self.fpi_crop_px % 2 ** (self.fpi_levels - 1):
            raise ValueError(
                f"fpi_slices ({self.fpi_slices}) must be odd and fpi_crop_px ({self.fpi_crop_px}) a "
                f"multiple of 2**(fpi_levels - 1)"
            )
        if not 0.0 < self.global_coreset_ratio <= 1.0:
            raise ValueError(f"global_coreset_ratio: {self.global_coreset_ratio!r} must be in (0, 1]")
        if not self.window_hu[0] < self.window_hu[1]:
            raise ValueError(f"window_hu: {self.window_hu!r} must be (low, high) with low < high")
        if not self.fusion_band_pct[0] <= self.fusion_band_pct[1]:
            raise ValueError(
                f"fusion_band_pct: {self.fusion_band_pct!r} must be (low, high) with low <= high"
            )

    @property
    def fusion_rule(self) -> str:
        """How the local score enters S (follows from the realisation, so not a setting).

        "published" (csi): S = G + w / L_normality. "standardized" (fpi): S = G + w x L_z, since
        its local score is a z-score, whose reciprocal is meaningless (it changes sign at 0)."""
        return "published" if self.local_realisation == "csi" else "standardized"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSettings:
        """Settings from a dict of every (or some) setting; unknown keys are refused, not dropped."""
        if not isinstance(d, dict):
            raise ValueError(f"model settings must be a mapping of name to value, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = [k for k in d if k not in known]
        if unknown:
            raise ValueError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelSettings:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"model settings are not valid JSON: {e}") from None
        return cls.from_dict(d)

    @classmethod
    def checked_overrides(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        """``name: value`` overrides checked against the settings (KeyError / ValueError naming
        the setting) and given back as JSON values, tuples as lists: what a training job stores
        and later hands to ``with_overrides`` again. The one place that converts them."""
        settings = cls().with_overrides(overrides)
        checked = {k: getattr(settings, k) for k in overrides}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in checked.items()}

    def with_overrides(self, overrides: dict[str, Any]) -> ModelSettings:
        """Copy with ``name=value`` overrides, text values parsed as each field's type."""
        known = {f.name: f for f in fields(self)}
        cast: dict[str, Any] = {}
        for k, v in overrides.items():
            if k not in known:
                raise KeyError(f"unknown model setting {k!r}; known: {', '.join(sorted(known))}")
            current = getattr(self, k)
            if isinstance(v, str):
                try:
                    v = _parse_like(v, current)
                except ValueError:
                    raise ValueError(f"{k}: {v!r} is not a {_kind(current)}") from None
            cast[k] = v
        return replace(self, **cast)


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return "boolean (true or false)"
    if isinstance(default, int):
        return "whole number"
    if isinstance(default, float):
        return "number"
    if isinstance(default, tuple):
        return f"list of {len(default)} numbers"
    return "text"


def _typed(name: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``, or a ValueError naming the setting."""
    ok = True
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        ok = (
            isinstance(value, tuple | list)
            and len(value) == len(default)
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
            )
        )
        value = tuple(float(v) for v in value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(f"{name}: {value!r} is not a {_kind(default)}")
    return value


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _parse_like(text: str, current: Any) -> Any:
    if isinstance(current, bool):
        if text.strip().lower() not in _TRUE | _FALSE:
            raise ValueError(text)
        return text.strip().lower() in _TRUE
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
    fpi_spacing_mm=4.0,
    fpi_slices=3,
    fpi_width=4,
    fpi_levels=2,
    fpi_crop_px=16,
    fpi_steps=3,
    fpi_batch=2,
)
