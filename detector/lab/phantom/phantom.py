"""``make_phantom``: one synthetic low-dose chest CT with ground-truth masks."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from detector.geometry import CTVolume, Geometry
from detector.lab.phantom.anatomy import Anatomy
from detector.lab.phantom.grid import Grid

LESION_TYPES = ("solid_nodule", "ground_glass", "consolidation", "cavity", "lidc_nodule")
SITES = ("subpleural", "central")

# Base grid per size; each patient varies pixel spacing and slice count by about +-5%.
SIZES: dict[str, dict] = {
    "tiny": {"matrix": 96, "pixel_mm": 3.6, "slices": 48, "slice_mm": 6.0},
    "small": {"matrix": 192, "pixel_mm": 1.8, "slices": 120, "slice_mm": 2.5},
    "full": {"matrix": 512, "pixel_mm": 0.68, "slices": 300, "slice_mm": 1.0},
}

BLUR_SIGMA_VOX = (0.35, 0.5, 0.5)  # partial volume / reconstruction blur (z, y, x)
NOISE_SIGMA_VOX = (0.0, 0.6, 0.6)  # correlation of the quantum noise (z, y, x)
HU_MIN, HU_MAX = -1024.0, 3071.0


@dataclass
class LesionSpec:
    """Ground truth of the one lesion of an abnormal phantom.

    ``diameter_mm`` is the equivalent-sphere diameter of ``Phantom.lesion_mask``
    (``(6 V / pi) ** (1/3)``), and ``center_lps_mm`` its centroid in patient LPS mm; both
    are measured on the phantom's own grid. ``side`` is the patient's side.
    """

    lesion_type: str
    site: str
    center_lps_mm: tuple[float, float, float]
    diameter_mm: float
    side: str
    params: dict = field(default_factory=dict)  # type-specific details (e.g. LIDC id)


@dataclass
class Phantom:
    """A synthetic chest LDCT (``volume``, noise included) and its truth masks [z, y, x]."""

    volume: CTVolume
    lung_left: np.ndarray
    lung_right: np.ndarray
    airways: np.ndarray
    lesion_mask: np.ndarray | None
    lesion: LesionSpec | None
    patient_id: str
    vessels: np.ndarray | None = None  # pulmonary vessels inside the lungs
    notes: dict = field(default_factory=dict)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


@functools.lru_cache(maxsize=4)
def anatomy_for_seed(seed: int) -> Anatomy:
    """The (read-only) anatomy of patient ``seed``; cached for repeated phantoms."""
    return Anatomy.sample(_rng(seed, 0))


def plan_grid(anat: Anatomy, size: str, rng: np.random.Generator) -> tuple[Grid, np.ndarray]:
    """Output grid (in the anatomy frame) and the LPS position of the frame origin."""
    cfg = SIZES[size]
    f_pix, f_sl, f_zpos, cx, cy = rng.uniform([0.95, 0.95, 0.3, -8, 0], [1.05, 1.05, 0.7, 8, 18])
    centre_lps = rng.uniform([-15, -30, -400], [15, 30, 0])
    nxy, dz = cfg["matrix"], cfg["slice_mm"]
    z_lo, z_hi = anat.lung_z_range
    z_lo -= 3.0
    z_hi += 3.0
    width = 2 * max(anat.body(z)[0] for z in np.linspace(z_lo, z_hi, 25)) + 16 + 2 * abs(cx)
    pix = max(cfg["pixel_mm"] * f_pix, width / nxy)
    nz = max(round(cfg["slices"] * f_sl), int(np.ceil((z_hi - z_lo + 20) / dz)))
    z0 = z_lo - (nz * dz - (z_hi - z_lo)) * f_zpos
    half = (nxy - 1) / 2 * pix
    grid = Grid((nz, nxy, nxy), (dz, pix, pix), (cx - half, cy - half, z0))
    return grid, centre_lps


def _noise_scale(sigmas) -> float:
    """Std of Gaussian-smoothed unit white noise (scipy's truncate=4 kernels)."""
    var = 1.0
    for s in sigmas:
        if s <= 0:
            continue
        r = int(4.0 * s + 0.5)
        w = np.exp(-0.5 * (np.arange(-r, r + 1) / s) ** 2)
        w /= w.sum()
        var *= float((w**2).sum())
    return float(np.sqrt(var))


def add_blur_and_noise(hu: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    hu = ndimage.gaussian_filter(hu, BLUR_SIGMA_VOX, output=np.float32)
    noise = rng.standard_normal(hu.shape, dtype=np.float32)
    noise = ndimage.gaussian_filter(noise, NOISE_SIGMA_VOX, output=np.float32)
    noise *= np.float32(std / _noise_scale(NOISE_SIGMA_VOX))
    hu += noise
    del noise
    np.clip(hu, HU_MIN, HU_MAX, out=hu)
    np.rint(hu, out=hu)
    return hu


def make_phantom(
    seed: int,
    size: str = "small",
    lesion_type: str | None = None,
    lesion_site: str | None = None,
) -> Phantom:
    """One synthetic chest LDCT, deterministic in (seed, size, lesion_type, lesion_site).

    The anatomy depends on ``seed`` only (the same patient on every grid size); the
    lesion (``lesion_type`` None = normal) is added to that anatomy. ``lesion_site``
    "subpleural" or "central"; None draws one at random (half each). It is ignored for
    normals.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    if lesion_type is not None and lesion_type not in LESION_TYPES:
        raise ValueError(f"unknown lesion_type {lesion_type!r}; choose one of {LESION_TYPES}")
    if lesion_site is not None and lesion_site not in SITES:
        raise ValueError(f"unknown lesion_site {lesion_site!r}; choose one of {SITES}")
    t0 = time.perf_counter()
    seed = int(seed)
    anat = anatomy_for_seed(seed)
    grid, centre_lps = plan_grid(anat, size, _rng(seed, 1))
    noise_rng = _rng(seed, 3)
    noise_std = float(noise_rng.uniform(25, 45))
    lesion = None
    if lesion_type is not None:
        from detector.lab.phantom.lesions import make_lesion

        lesion = make_lesion(anat, lesion_type, lesion_site, _rng(seed, 2, LESION_TYPES.index(lesion_type)))
    t_anat = time.perf_counter()
    res = anat.render(grid, lesion)
    t_render = time.perf_counter()
    hu = add_blur_and_noise(res.hu, noise_std, noise_rng)
    del res.hu
    geometry = Geometry(
        origin_lps_mm=centre_lps + np.asarray(grid.origin_xyz),
        spacing_zyx_mm=np.asarray(grid.spacing_zyx),
    )
    patient_id = f"FS-PH-{seed}"
    volume = CTVolume(hu=hu, geometry=geometry, meta={"patient_id": patient_id})
    airways = res.airways
    lesion_mask = None
    spec = None
    if lesion is not None:
        lung = res.lung_right if lesion.side == "right" else res.lung_left
        lesion_mask = lesion.mask(grid, lung, airways)
        airways &= ~lesion_mask
        spec = _spec(lesion, lesion_mask, geometry)
    lung_left = res.lung_left & ~airways
    lung_right = res.lung_right & ~airways
    notes = {
        "seed": seed,
        "size": size,
        "noise_std_hu": noise_std,
        "lung_hu": anat.p["hu_lung"],
        "timing_s": {
            "anatomy": t_anat - t0,
            "render": t_render - t_anat,
            "total": time.perf_counter() - t0,
        },
    }
    if lesion is not None:
        notes["lesion"] = dict(lesion.params)
    return Phantom(
        volume=volume,
        lung_left=lung_left,
        lung_right=lung_right,
        airways=airways,
        lesion_mask=lesion_mask,
        lesion=spec,
        patient_id=patient_id,
        vessels=res.vessels,
        notes=notes,
    )


def _spec(lesion, mask: np.ndarray, geometry: Geometry) -> LesionSpec:
    idx = np.argwhere(mask)
    if len(idx) == 0:
        raise RuntimeError(f"{lesion.lesion_type} lesion rasterised to an empty mask")
    centre = geometry.index_to_lps(idx.mean(axis=0))
    vol = len(idx) * float(np.prod(geometry.spacing_zyx_mm))
    return LesionSpec(
        lesion_type=lesion.lesion_type,
        site=lesion.site,
        center_lps_mm=tuple(float(v) for v in centre),
        diameter_mm=float((6.0 * vol / np.pi) ** (1.0 / 3.0)),
        side=lesion.side,
        params=dict(lesion.params),
    )
