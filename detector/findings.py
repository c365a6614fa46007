"""What a reader is told about a finding (a peak of the fused map): where it lies in reading
terms, how large the anomalous region around it is, and how strong it is on the patient score's
own scale.

- Zone: the lung it lies in; upper / middle / lower by thirds of that lung's craniocaudal
  extent; peripheral when it lies in the outer third of the lung's depth on its axial slice
  (depth = distance from the chest wall, i.e. from the border of the convex hull of both lungs
  on that slice), else central.
- Size: the longest diameter (mm) of the connected region of the local anomaly map at or above
  half its highest value near the finding: the local branch marks what does not fit its
  surroundings, so its spot is the finding's extent.
- Score: the local branch's standardised score had the study only this finding (the highest
  value of the local score map within ``SEARCH_RADIUS_MM``), and from it the fused score the
  study would have. The strongest finding's score is the study's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull, QhullError

from detector.geometry import Geometry
from detector.lungmask import LungMask

# A finding's score looks this far around its peak: the fused map's peak and the local map's
# own spot need not be the same voxel (the hit criterion of docs/results.md allows 10 mm too).
SEARCH_RADIUS_MM = 10.0
# A finding's region is traced this far around its highest voxel (sizes up to twice this are exact).
SIZE_WINDOW_MM = 60.0
# Regions larger than this many voxels are measured on a random subset of their voxels (the
# longest diameter of a region of a hundred thousand voxels does not need all of them).
_MAX_POINTS = 20_000


@dataclass(frozen=True)
class Zone:
    lung: str  # "left" | "right"
    level: str  # "upper" | "middle" | "lower"
    depth: str  # "central" | "peripheral"

    def to_dict(self) -> dict[str, str]:
        return {"lung": self.lung, "level": self.level, "depth": self.depth}


def finding_zone(index: np.ndarray, lungs: LungMask, geometry: Geometry) -> Zone:
    """Lung, craniocaudal third and central / peripheral of a working-grid voxel in the lungs."""
    z, y, x = (int(v) for v in index)
    side = "left" if lungs.left[z, y, x] else "right"
    lung = lungs.side(side)
    # craniocaudal thirds, in patient S (+z of LPS), whatever the grid's slice order
    slices = np.flatnonzero(lung.any(axis=(1, 2)))
    heights = [float(geometry.index_to_lps(np.array([s, y, x]))[2]) for s in (slices[0], slices[-1])]
    low, high = min(heights), max(heights)
    here = float(geometry.index_to_lps(np.array([z, y, x]))[2])
    third = (here - low) / max(high - low, 1e-6)
    level = "upper" if third >= 2 / 3 else "middle" if third >= 1 / 3 else "lower"
    # depth from the chest wall on this axial slice
    hull = _convex_hull_2d(lungs.both[z])
    dy, dx = (float(s) for s in geometry.spacing_zyx_mm[1:])
    depth = ndi.distance_transform_edt(hull, sampling=(dy, dx))
    deepest = float(depth[lung[z]].max()) if lung[z].any() else 0.0
    peripheral = deepest <= 0 or depth[y, x] <= deepest / 3
    return Zone(side, level, "peripheral" if peripheral else "central")


def _convex_hull_2d(mask: np.ndarray) -> np.ndarray:
    """The filled convex hull of a 2-D mask (the mask itself if it is too thin for a hull)."""
    pts = np.argwhere(mask)
    if len(pts) < 3:
        return mask.copy()
    try:
        hull = ConvexHull(pts)
    except QhullError:
        return mask.copy()
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    grid = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float64)
    # inside every facet's half-plane (with half a voxel of tolerance)
    eq = hull.equations  # (n_facets, 3): normal . p + offset <= 0 inside
    inside = np.all(grid @ eq[:, :2].T + eq[:, 2] <= 0.5, axis=1)
    return inside.reshape(mask.shape) | mask


def _ball_box(index: np.ndarray, radius_vox: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(
        slice(max(int(i - r), 0), min(int(i + r) + 1, n)) for i, r, n in zip(index, radius_vox, shape)
    )


def finding_region(
    anomaly: np.ndarray,
    index: np.ndarray,
    geometry: Geometry,
    level: float | None = None,
    window_mm: float | None = SIZE_WINDOW_MM,
) -> tuple[tuple[slice, ...], np.ndarray]:
    """The region of ``anomaly`` around a finding: the voxels connected to the highest voxel
    within ``SEARCH_RADIUS_MM`` of ``index`` that are at or above half that highest value (the
    finding's own spot) and at or above ``level`` when one is given (an operating point's: a
    low level, as when the global branch alone flags the study, must not grow the spot to the
    whole lung), traced within ``window_mm`` of it (None: the whole volume, so a large region is
    not cut square). Returns the window (slices of ``anomaly``) and the region's mask inside
    it; the mask is empty when the highest value is below ``level``.
    """
    spacing = np.asarray(geometry.spacing_zyx_mm, float)
    box = _ball_box(index, np.ceil(SEARCH_RADIUS_MM / spacing), anomaly.shape)
    near = anomaly[box]
    if near.size == 0 or float(near.max()) <= 0:
        return box, np.zeros(near.shape, bool)
    top = np.unravel_index(int(np.argmax(near)), near.shape)
    top = np.array(top) + np.array([s.start for s in box])
    # The region is traced in a window around the finding, not the whole volume: scoring
    # describes five findings per study, and a spot wider than the window is lobe-sized anyway.
    if window_mm is None:
        window = tuple(slice(0, n) for n in anomaly.shape)
    else:
        window = _ball_box(top, np.ceil(window_mm / spacing), anomaly.shape)
    local_top = tuple(top - np.array([s.start for s in window]))
    part = anomaly[window]
    threshold = (
        0.5 * float(part[local_top]) if level is None else max(float(level), 0.5 * float(part[local_top]))
    )
    if float(part[local_top]) < threshold:
        return window, np.zeros(part.shape, bool)
    labels, _ = ndi.label(part >= threshold)
    return window, labels == labels[local_top]


def finding_size_mm(anomaly: np.ndarray, index: np.ndarray, geometry: Geometry) -> float:
    """Longest diameter (mm) of the finding's region at half its highest value (``finding_region``)."""
    spacing = np.asarray(geometry.spacing_zyx_mm, float)
    _, region = finding_region(anomaly, index, geometry)
    if not region.any():
        return 0.0
    pts = np.argwhere(region).astype(np.float64) * spacing
    if len(pts) > _MAX_POINTS:
        pts = pts[np.random.default_rng(0).choice(len(pts), _MAX_POINTS, replace=False)]
    return longest_diameter(pts, float(spacing.min()))


def longest_diameter(points_mm: np.ndarray, voxel_mm: float) -> float:
    """The largest distance between two points, plus one voxel (a single voxel is one voxel wide)."""
    if len(points_mm) < 2:
        return voxel_mm
    candidates = points_mm
    if len(points_mm) > 64:
        try:
            candidates = points_mm[ConvexHull(points_mm).vertices]
        except QhullError:  # flat or collinear: every point is a candidate
            candidates = points_mm
    d = np.sqrt(((candidates[:, None, :] - candidates[None, :, :]) ** 2).sum(-1))
    return float(d.max()) + voxel_mm


def finding_local_z(z_map: np.ndarray, factor: int, index: np.ndarray, spacing_mm: float) -> float:
    """The highest value of the local score map (on its own grid, ``factor`` times coarser than
    the working grid of ``spacing_mm``) within ``SEARCH_RADIUS_MM`` of a working-grid voxel."""
    coarse = np.asarray(index) // factor
    r = SEARCH_RADIUS_MM / (spacing_mm * factor)
    box = _ball_box(coarse, np.full(3, np.ceil(r)), z_map.shape)
    block = z_map[box]
    offsets = [np.arange(s.start, s.stop) - c for s, c in zip(box, coarse)]
    zz, yy, xx = np.meshgrid(*offsets, indexing="ij")
    ball = zz**2 + yy**2 + xx**2 <= r**2
    return float(block[ball].max()) if ball.any() else float("nan")
