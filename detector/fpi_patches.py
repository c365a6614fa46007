"""Training anomalies for the local slot's CPU realisation: foreign patches of normal content.

A training sample is a slab of one normal study with, unless it is kept clean, an ellipsoid of
*another* normal study (its lung, vessels, heart or chest wall, turned and shifted in intensity)
blended in; the target is where the blend visibly changed the image. Nothing here comes from a
lesion model (docs/method.md, "local, fpi"): a lesion the network finds is generalisation.
Everything lives on the coarse grid (``fpi_spacing_mm``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# HU -> network input: air 0, water 1, dense bone clipped at 1.5.
_HU_AIR, _HU_SCALE, _INPUT_MAX = -1000.0, 1000.0, 1.5
# A blended patch counts as foreign where it changes the image by at least this (input units,
# i.e. 50 HU after light smoothing): a patch of lung laid on lung is no anomaly to learn.
_VISIBLE_DIFF = 0.05


def normalise_hu(hu: torch.Tensor) -> torch.Tensor:
    return ((hu - _HU_AIR) / _HU_SCALE).clamp(0.0, _INPUT_MAX)


@dataclass
class FpiVolume:
    """A normal study on the coarse grid, with where its patches may be taken from."""

    x: torch.Tensor  # (Z, Y, X) float32, normalised HU
    lung: torch.Tensor  # (Z, Y, X) bool
    lung_idx: np.ndarray  # (n, 3) lung voxel indices, for sampling
    body_idx: np.ndarray  # (m, 3) voxels denser than -500 HU: soft tissue, vessels, bone
    # (k, 3) lung voxels against a vessel (a dense voxel inside the lungs), where a patch is laid
    # on purpose in a share of the samples: there a blob must be told from a branching vessel
    vessel_idx: np.ndarray


def coarse_factor(working_spacing_mm: float, fpi_spacing_mm: float) -> int:
    """Integer pooling factor from the working grid to the coarse grid (1 = same grid)."""
    return max(int(round(fpi_spacing_mm / working_spacing_mm)), 1)


def to_coarse(hu: np.ndarray, lung: np.ndarray, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-pool HU and majority-pool the lung mask by ``factor`` (working grid -> coarse grid)."""
    t = torch.from_numpy(np.ascontiguousarray(hu, np.float32))[None, None]
    m = torch.from_numpy(np.ascontiguousarray(lung, np.float32))[None, None]
    if factor > 1:
        t = F.avg_pool3d(t, factor, ceil_mode=True)
        m = F.avg_pool3d(m, factor, ceil_mode=True)
    return normalise_hu(t[0, 0]), m[0, 0] >= 0.5


def fpi_volume(hu: np.ndarray, lung: np.ndarray, factor: int, rng: np.random.Generator) -> FpiVolume:
    """A normal study on the coarse grid with random subsets of the voxels patches are drawn at."""
    x, lung_t = to_coarse(hu, lung, factor)
    dense = x > 0.5
    in_lung = (dense & lung_t).float()[None, None]
    against = (F.max_pool3d(in_lung, 3, 1, 1)[0, 0] > 0) & lung_t  # within one coarse voxel
    keep = 20_000  # a random subset is plenty for sampling centres

    def subset(mask: torch.Tensor) -> np.ndarray:
        idx = np.argwhere(mask.numpy())
        return idx[rng.choice(len(idx), min(keep, len(idx)), replace=False)]

    return FpiVolume(x, lung_t, subset(lung_t), subset(dense), subset(against))


@dataclass(frozen=True)
class PatchRecipe:
    """How training anomalies are made (all of normal content)."""

    spacing_mm: float
    diameter_mm: tuple[float, float]  # patch diameters drawn log-uniformly in this range
    body_share: float  # share of patches taken from anywhere in the body (else from lung)
    shift: float  # intensity shift drawn in [-shift, shift] (input units; 0.1 = 100 HU)
    clean_share: float = 0.15  # samples with no patch: the network must also say "normal"
    vessel_share: float = 0.0  # patches laid against a vessel in the lungs (else anywhere near lung)


def _crop(vol: torch.Tensor, centre: np.ndarray, shape: tuple[int, int, int]) -> torch.Tensor:
    """Block of ``shape`` centred on ``centre``, zero-padded (air, for HU input) at the edges."""
    lo = [int(c) - n // 2 for c, n in zip(centre, shape)]
    out = torch.zeros(shape, dtype=vol.dtype)
    src = [slice(max(lo[a], 0), min(lo[a] + shape[a], vol.shape[a])) for a in range(3)]
    dst = [slice(s.start - lo[a], s.stop - lo[a]) for a, s in enumerate(src)]
    if all(s.stop > s.start for s in src):
        out[dst[0], dst[1], dst[2]] = vol[src[0], src[1], src[2]]
    return out


def _ellipsoid(
    shape: tuple[int, int, int], centre: np.ndarray, radii: np.ndarray, edge: float
) -> torch.Tensor:
    """Soft ellipsoid occupancy in a block: 1 inside, ramping to 0 over about ``edge`` voxels."""
    axes = [(torch.arange(n, dtype=torch.float32) - c) / r for n, c, r in zip(shape, centre, radii)]
    zz, yy, xx = torch.meshgrid(*axes, indexing="ij")
    r = torch.sqrt(zz**2 + yy**2 + xx**2)
    return ((1.0 - r) * float(radii.mean()) / edge + 0.5).clamp(0.0, 1.0)


def gauss3(t: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Separable Gaussian smoothing of a (Z, Y, X) tensor, edges replicated."""
    k = int(math.ceil(2 * sigma))
    ax = torch.arange(-k, k + 1, dtype=torch.float32, device=t.device)
    w = torch.exp(-0.5 * (ax / sigma) ** 2)
    w = w / w.sum()
    x = t[None, None]
    x = F.conv3d(F.pad(x, (0, 0, 0, 0, k, k), mode="replicate"), w.view(1, 1, -1, 1, 1))
    x = F.conv3d(F.pad(x, (0, 0, k, k, 0, 0), mode="replicate"), w.view(1, 1, 1, -1, 1))
    x = F.conv3d(F.pad(x, (k, k, 0, 0, 0, 0), mode="replicate"), w.view(1, 1, 1, 1, -1))
    return x[0, 0]


_ORIENTATIONS = ((0, 1, 2), (1, 0, 2), (2, 0, 1))  # slab axis first: axial, coronal, sagittal
# Each axis of a patch is its diameter times a factor in this range: roundish to elongated, never
# a sheet or a needle (session 7: independent axes made mostly flat or long patches).
_ANISOTROPY = (0.67, 1.5)


def patch_radii(recipe: PatchRecipe, rng: np.random.Generator) -> np.ndarray:
    """Radii (coarse voxels) of one foreign patch: a diameter drawn log-uniformly in the recipe's
    range, so that small and large patches are equally common per octave, times a bounded
    per-axis anisotropy."""
    lo, hi = recipe.diameter_mm
    diameter = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    axes = diameter * rng.uniform(*_ANISOTROPY, size=3)
    return np.maximum(axes / 2.0 / recipe.spacing_mm, 0.75)


def make_sample(
    vols: list[FpiVolume], recipe: PatchRecipe, size: int, slices: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training slab: (slices, size, size) input, (size, size) target, (size, size) weight.

    A slab of a normal study around a lung voxel, in one of three orientations; unless the
    sample is clean, an ellipsoid of another normal study (lung or any body tissue, possibly
    turned and shifted in intensity) blended in so that it crosses the centre slice.
    """
    perm = _ORIENTATIONS[int(rng.integers(3))]
    t = int(rng.integers(len(vols)))
    tv = vols[t]
    shape = (slices + 4, size, size)  # two extra slices each side for the smoothing below
    centre = tv.lung_idx[rng.integers(len(tv.lung_idx))][list(perm)]
    a, src = None, None
    if len(vols) > 1 and rng.random() >= recipe.clean_share:
        s = int(rng.choice([i for i in range(len(vols)) if i != t]))
        sv = vols[s]
        pool = sv.body_idx if rng.random() < recipe.body_share else sv.lung_idx
        src_perm = _ORIENTATIONS[int(rng.integers(3))]
        src_centre = pool[rng.integers(len(pool))][list(src_perm)]
        src = _crop(sv.x.permute(*src_perm), src_centre, shape)
        if rng.random() < 0.5:
            src = torch.rot90(src, int(rng.integers(1, 4)), dims=(1, 2))
        if recipe.shift > 0:
            src = (src + float(rng.uniform(-recipe.shift, recipe.shift))).clamp(0.0, _INPUT_MAX)
        radii = patch_radii(recipe, rng)
        mid = np.array(shape, float) // 2
        # it crosses the centre slice; in-plane anywhere in the middle two thirds
        offset = np.array([rng.uniform(-0.6, 0.6) * radii[0], *rng.uniform(-size / 3, size / 3, size=2)])
        if recipe.vessel_share > 0 and len(tv.vessel_idx) and rng.random() < recipe.vessel_share:
            # the slab is cut so that the patch's centre lies against a vessel (where a blob and
            # a branching vessel must be told apart) instead of around the lung voxel drawn above
            spot = tv.vessel_idx[rng.integers(len(tv.vessel_idx))][list(perm)]
            centre = spot - np.round(offset).astype(int)
        # a soft edge no wider than the patch's smallest radius, so a small patch stays a patch
        edge = float(rng.uniform(0.5, min(2.5, max(float(radii.min()), 0.6))))
        occ = _ellipsoid(shape, mid + offset, radii, edge=edge)
        a = float(rng.uniform(0.3, 1.0)) * occ
    # cut once the centre is final (no draw depends on the crop)
    x = _crop(tv.x.permute(*perm), centre, shape)
    lung = _crop(tv.lung.permute(*perm), centre, shape)
    target = torch.zeros_like(x)
    if a is not None:
        blended = (1.0 - a) * x + a * src
        visible = (gauss3(blended - x).abs() / _VISIBLE_DIFF).clamp(0.0, 1.0)
        target = (a * visible).clamp(0.0, 1.0)
        x = blended
    c = shape[0] // 2
    # loss where the lungs are, or where a patch is (it may reach the pleura)
    near_lung = F.max_pool2d(lung[c][None, None].float(), 5, 1, 2)[0, 0] > 0
    weight = (near_lung | (target[c] > 0)).float()
    x, y = x[c - slices // 2 : c + slices // 2 + 1], target[c]
    if rng.random() < 0.5:
        x, y, weight = x.flip(-1), y.flip(-1), weight.flip(-1)
    return x, y, weight
