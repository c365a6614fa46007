"""Resampling between a CT's own grid and the isotropic working grid, and HU windowing.

The working grid keeps the CT's origin and axis directions and only changes the spacing, so
going back and forth is a per-axis rescaling: three 1-D linear interpolations (separable,
cheap, exact for axis-aligned grids) instead of a full 3-D ``grid_sample``.
"""

from __future__ import annotations

import numpy as np
import torch

from detector.geometry import CTVolume, Geometry


def working_geometry(geometry: Geometry, shape_zyx: tuple[int, int, int], spacing_mm: float):
    """Geometry and shape of the isotropic grid covering the same extent as ``geometry``."""
    extent = (np.asarray(shape_zyx) - 1) * geometry.spacing_zyx_mm
    new_shape = tuple(int(np.floor(e / spacing_mm + 1e-6)) + 1 for e in extent)
    new_geom = Geometry(geometry.origin_lps_mm, np.full(3, float(spacing_mm)), geometry.direction_zyx)
    return new_geom, new_shape


def _axis_weights(n_src: int, n_dst: int, step: float, device) -> tuple:
    """Source indices and weights for destination samples at ``i * step`` along one axis."""
    pos = torch.arange(n_dst, dtype=torch.float64, device=device) * step
    pos = pos.clamp(0, n_src - 1)
    i0 = pos.floor().long().clamp(max=n_src - 1)
    i1 = (i0 + 1).clamp(max=n_src - 1)
    w = (pos - i0).float()
    return i0, i1, w


def resample_axes(
    array: torch.Tensor,
    steps_zyx: tuple[float, float, float],
    shape_zyx: tuple[int, int, int],
    mode: str = "linear",
) -> torch.Tensor:
    """Resample a [z,y,x] tensor: destination voxel i along axis a sits at source index i*steps[a].

    ``mode`` is "linear" (values) or "nearest" (labels and masks).
    """
    out = array
    for axis, (step, n_dst) in enumerate(zip(steps_zyx, shape_zyx)):
        n_src = out.shape[axis]
        if n_src == n_dst and abs(step - 1.0) < 1e-9:
            continue
        if mode == "nearest":
            pos = torch.arange(n_dst, dtype=torch.float64, device=out.device) * step
            idx = pos.round().long().clamp(0, n_src - 1)
            out = out.index_select(axis, idx)
            continue
        i0, i1, w = _axis_weights(n_src, n_dst, step, out.device)
        shape = [1, 1, 1]
        shape[axis] = n_dst
        w = w.view(shape).to(out.dtype)
        out = out.index_select(axis, i0) * (1 - w) + out.index_select(axis, i1) * w
    return out


def to_working_grid(volume: CTVolume, spacing_mm: float) -> CTVolume:
    """Resample a CT volume to isotropic ``spacing_mm`` (linear interpolation of HU)."""
    geom, shape = working_geometry(volume.geometry, volume.shape, spacing_mm)
    steps = tuple(float(spacing_mm / s) for s in volume.geometry.spacing_zyx_mm)
    hu = resample_axes(torch.from_numpy(np.ascontiguousarray(volume.hu, np.float32)), steps, shape)
    return CTVolume(hu.numpy(), geom, dict(volume.meta))


def to_ct_grid(
    array: np.ndarray | torch.Tensor,
    working: Geometry,
    ct_geometry: Geometry,
    ct_shape: tuple[int, int, int],
    mode: str = "linear",
) -> np.ndarray:
    """Bring a working-grid map back onto the CT's own grid (same origin and directions)."""
    t = array if isinstance(array, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(array))
    steps = tuple(float(c / w) for c, w in zip(ct_geometry.spacing_zyx_mm, working.spacing_zyx_mm))
    return resample_axes(t, steps, ct_shape, mode).numpy()


def window01(hu: np.ndarray | torch.Tensor, window_hu: tuple[float, float]):
    """Clip HU to the window and scale it to [0, 1]."""
    lo, hi = window_hu
    return ((hu - lo) / (hi - lo)).clip(0.0, 1.0)
