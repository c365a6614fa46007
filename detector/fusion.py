"""Fusion of the two branches (docs/method.md, "fusion"), at patient level and voxel level."""

from __future__ import annotations

import numpy as np

# Below this the local normality is treated as this value: the reciprocal must stay finite.
MIN_NORMALITY = 1e-3


def local_anomaly_score(l_normality: float, rule: str = "published") -> float:
    """Public local score (higher = more anomalous).

    "published": the reciprocal of the patient normality (a cosine-scaled similarity).
    "standardized": the normality is a z-score (negative = unusual), so its negative.
    """
    if rule == "standardized":
        return -float(l_normality)
    if rule != "published":
        raise ValueError(f"unknown fusion rule {rule!r}")
    return 1.0 / max(float(l_normality), MIN_NORMALITY)


def fuse_scores(g: float, l_normality: float, weight: float = 0.7, rule: str = "published") -> float:
    """S = G + weight x local anomaly: weight / L as published, or weight x (-L) for z-scores."""
    return float(g) + float(weight) * local_anomaly_score(l_normality, rule)


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-12:
        return np.zeros_like(x)
    return (x - lo) / (hi - lo)


def fuse_maps(
    global_map: np.ndarray,
    local_normality: np.ndarray,
    lung: np.ndarray,
    local_clip_pct: float = 6.0,
    global_clip_pct: float = 94.0,
    band_pct: tuple[float, float] = (82.0, 94.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Voxel fusion as published; returns (fused map in [0, 1], unclipped sum for peaks).

    The unclipped sum min-maxes the raw maps without any percentile clip, so its argmax is a
    single voxel rather than a plateau of ties (which the clipped sum would be).

    Local (normality-high) clipped from below at its p6, global (anomaly-high) clipped from
    above at its p94, both min-maxed, local inverted, summed, clipped to the p82-p94 band,
    min-maxed, zero outside the lungs. Percentiles are over in-lung voxels.
    """
    inside = lung.astype(bool)
    fused = np.zeros(lung.shape, np.float32)
    raw_sum = np.zeros(lung.shape, np.float32)
    if not inside.any():
        return fused, raw_sum
    g = global_map[inside].astype(np.float64)
    loc = local_normality[inside].astype(np.float64)
    raw_sum[inside] = _minmax(g) + (1.0 - _minmax(loc))
    loc = np.maximum(loc, np.percentile(loc, local_clip_pct))
    g = np.minimum(g, np.percentile(g, global_clip_pct))
    s = _minmax(g) + (1.0 - _minmax(loc))
    lo, hi = np.percentile(s, band_pct)
    fused[inside] = _minmax(np.clip(s, lo, hi))
    return fused, raw_sum


def local_level_for(
    threshold: float, global_score: float, weight: float, peak_mean: float, peak_sd: float
) -> float:
    """The local map value (probability) at which a study's fused score G + weight x z reaches
    ``threshold`` under the standardised rule, z being (smoothed local peak - mean) / sd of the
    training normals' peaks: the regions of the local map above it are those that make the study
    positive at that threshold."""
    if weight <= 0:
        return float("inf") if global_score < threshold else float("-inf")
    return float(peak_mean) + float(peak_sd) * (float(threshold) - float(global_score)) / float(weight)
