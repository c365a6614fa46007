"""Voxel grids in the phantom's anatomical frame and bounded-box rasterisers.

The anatomy is defined in millimetres in a patient-centred frame ``(X, Y, Z)`` whose axes
are the LPS axes (X towards the patient's left, Y posterior, Z superior) and whose origin
is the body midline at the level of the carina. A :class:`Grid` places voxel centres in
that frame; shapes are rasterised only inside their own bounding boxes, so drawing a
vessel of radius 1 mm on a 512x512x300 grid touches a few hundred voxels, not 78 million.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """A regular [z, y, x] voxel grid; ``origin_xyz`` is voxel [0,0,0] in frame mm."""

    shape: tuple[int, int, int]  # (nz, ny, nx)
    spacing_zyx: tuple[float, float, float]  # mm
    origin_xyz: tuple[float, float, float]  # frame mm (X, Y, Z) of voxel [0, 0, 0]

    @functools.cached_property
    def xs(self) -> np.ndarray:
        return (self.origin_xyz[0] + np.arange(self.shape[2]) * self.spacing_zyx[2]).astype(np.float32)

    @functools.cached_property
    def ys(self) -> np.ndarray:
        return (self.origin_xyz[1] + np.arange(self.shape[1]) * self.spacing_zyx[1]).astype(np.float32)

    @functools.cached_property
    def zs(self) -> np.ndarray:
        return (self.origin_xyz[2] + np.arange(self.shape[0]) * self.spacing_zyx[0]).astype(np.float32)

    @property
    def voxel_mm3(self) -> float:
        return float(np.prod(self.spacing_zyx))

    @functools.cached_property
    def blur_width(self) -> float:
        """Geometric-mean voxel size: the anti-aliasing width for partial volume."""
        return float(np.prod(self.spacing_zyx) ** (1.0 / 3.0))

    def box(self, lo_xyz, hi_xyz) -> tuple[slice, slice, slice] | None:
        """Index slices (z, y, x) of the voxels whose centres lie in [lo, hi] (frame mm)."""
        lo = [float(v) for v in lo_xyz]
        hi = [float(v) for v in hi_xyz]
        sl = []
        for axis_xyz, axis_zyx in ((2, 0), (1, 1), (0, 2)):
            o = self.origin_xyz[axis_xyz]
            s = self.spacing_zyx[axis_zyx]
            i0 = max(math.ceil((lo[axis_xyz] - o) / s), 0)
            i1 = min(math.floor((hi[axis_xyz] - o) / s) + 1, self.shape[axis_zyx])
            if i1 <= i0:
                return None
            sl.append(slice(i0, i1))
        return tuple(sl)  # type: ignore[return-value]

    def box_coords(self, sl: tuple[slice, slice, slice]):
        """Broadcastable frame coordinates (X[1,1,nx], Y[1,ny,1], Z[nz,1,1]) of a box."""
        z = self.zs[sl[0]][:, None, None]
        y = self.ys[sl[1]][None, :, None]
        x = self.xs[sl[2]][None, None, :]
        return x, y, z

    def frame_to_index(self, p_xyz) -> np.ndarray:
        """(..., 3) frame mm (X, Y, Z) -> (..., 3) fractional indices (z, y, x)."""
        p = np.asarray(p_xyz, float)
        o = np.asarray(self.origin_xyz, float)
        s = np.asarray(self.spacing_zyx, float)[::-1]
        return ((p - o) / s)[..., ::-1]

    def index_to_frame(self, idx_zyx) -> np.ndarray:
        """(..., 3) indices (z, y, x) -> (..., 3) frame mm (X, Y, Z)."""
        i = np.asarray(idx_zyx, float)[..., ::-1]
        return np.asarray(self.origin_xyz, float) + i * np.asarray(self.spacing_zyx, float)[::-1]


MIN_PEAK = 0.08  # tubes whose partial-volume peak is lower (< ~70 HU) are not drawn


def tube_distance(grid: Grid, sl, a, b):
    """Distance (mm) from the box's voxel centres to segment a-b, and the segment parameter."""
    x, y, z = grid.box_coords(sl)
    ax, ay, az = (float(v) for v in a)
    dx, dy, dz = (float(v) - w for v, w in zip(b, (ax, ay, az), strict=True))
    px, py, pz = x - np.float32(ax), y - np.float32(ay), z - np.float32(az)
    dd = dx * dx + dy * dy + dz * dz
    if dd < 1e-9:
        return np.sqrt(px * px + py * py + pz * pz), np.zeros(1, np.float32)
    inv = 1.0 / dd
    t = px * np.float32(dx * inv) + py * np.float32(dy * inv) + pz * np.float32(dz * inv)
    np.clip(t, 0.0, 1.0, out=t)
    qx = px - t * np.float32(dx)
    qx *= qx
    qy = py - t * np.float32(dy)
    qx += qy * qy
    qz = pz - t * np.float32(dz)
    qx += qz * qz
    return np.sqrt(qx, out=qx), t


def tube_occupancy(grid: Grid, a, b, ra: float, rb: float, *, width: float | None = None):
    """Anti-aliased fractional occupancy of a tapered capsule, in its bounding box.

    Returns ``(slices, occ)`` with ``occ`` float32 in [0, 1], or ``None`` when the
    capsule misses the grid. Tubes thinner than a voxel get a peak scaled by their
    cross-section (partial volume) instead of a full-contrast one-voxel line; those with
    a peak below ``MIN_PEAK`` (radius < 0.14 voxel, i.e. only on the "tiny" grid) are
    skipped.
    """
    w = grid.blur_width if width is None else width
    ra, rb = float(ra), float(rb)
    r = max(ra, rb)
    peak = min(1.0, (2.0 * r / w) ** 2)  # ~ cross-section / voxel area
    if peak < MIN_PEAK:
        return None  # far below a voxel: invisible under the noise (coarse grids only)
    pad = r + w
    a3 = [float(v) for v in a]
    b3 = [float(v) for v in b]
    sl = grid.box(
        [min(p, q) - pad for p, q in zip(a3, b3, strict=True)],
        [max(p, q) + pad for p, q in zip(a3, b3, strict=True)],
    )
    if sl is None:
        return None
    dist, t = tube_distance(grid, sl, a3, b3)
    inv_w = np.float32(1.0 / w)
    if ra != rb:
        occ = (np.float32(ra) + np.float32(rb - ra) * t - dist) * inv_w
    else:
        occ = (np.float32(ra) - dist) * inv_w
    occ += np.float32(0.5)
    np.clip(occ, 0.0, 1.0, out=occ)
    if peak < 1.0:
        occ *= np.float32(peak)
    return sl, occ


def ellipsoid_occupancy(grid: Grid, center, axes, rot_z_deg: float = 0.0, *, width=None):
    """Anti-aliased occupancy of an ellipsoid (semi-axes ``axes`` before a rotation about Z)."""
    w = grid.blur_width if width is None else width
    c = np.asarray(center, float)
    ax = np.asarray(axes, float)
    pad = ax.max() + w
    sl = grid.box(c - pad, c + pad)
    if sl is None:
        return None
    x, y, z = grid.box_coords(sl)
    th = np.deg2rad(rot_z_deg)
    ct, st = np.float32(np.cos(th)), np.float32(np.sin(th))
    dx, dy, dz = x - c[0], y - c[1], z - c[2]
    u = (dx * ct + dy * st) / ax[0]
    v = (-dx * st + dy * ct) / ax[1]
    q = np.sqrt(u * u + v * v + (dz / ax[2]) ** 2)
    occ = (1.0 - q) * (ax.min() / w) + 0.5
    np.clip(occ, 0.0, 1.0, out=occ)
    return sl, occ.astype(np.float32, copy=False)


def composite(hu: np.ndarray, sl, occ: np.ndarray, value: float, where=None) -> None:
    """Blend ``value`` into ``hu[sl]`` with weight ``occ`` (optionally only where ``where``)."""
    sub = hu[sl]
    if where is not None:
        occ = occ * where
    sub += (np.float32(value) - sub) * occ


def smoothstep(e0: float, e1: float, x):
    t = np.clip((np.asarray(x, np.float32) - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
