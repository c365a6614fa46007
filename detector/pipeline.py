"""One study through the whole method: read -> resample -> lung mask -> branches -> fusion."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage as ndi

from detector.findings import Zone, finding_local_z, finding_size_mm, finding_zone
from detector.fusion import fuse_maps, fuse_scores, local_anomaly_score
from detector.geometry import CTVolume, Geometry
from detector.global_branch import back_project, lung_mips
from detector.local_slot import LocalScore
from detector.lungmask import LungMask, max_filter_cube, segment_lungs
from detector.preprocess import to_ct_grid, to_working_grid


class Timer:
    """Collects wall-clock seconds per named stage (synchronising CUDA so times are real)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        yield
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


@dataclass
class Prepared:
    """A study on the working grid with its lung mask, and what both branches look at."""

    working: CTVolume
    lungs: LungMask
    branch_hu: np.ndarray | None = None  # denoised HU for projections
    core: LungMask | None = None  # lungs without their pleural rim, for projections


def branch_inputs(prep: Prepared, settings) -> Prepared:
    """Denoise the working volume and peel the pleural rim off the masks (both settings)."""
    hu = prep.working.hu
    if settings.denoise_sigma_mm > 0:
        sigma = settings.denoise_sigma_mm / prep.working.geometry.spacing_zyx_mm
        hu = ndi.gaussian_filter(hu, sigma, truncate=3.0).astype(np.float32)
    core = prep.lungs
    r = int(round(settings.mask_rim_mm / float(prep.working.geometry.spacing_zyx_mm.mean())))
    if r > 0:
        core = LungMask(_erode(prep.lungs.left, r), _erode(prep.lungs.right, r), prep.lungs.airways)
    prep.branch_hu, prep.core = hu, core
    return prep


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    """Erosion by a (2r+1)^3 cube, as a max-pool of the complement (fast on big volumes)."""
    grown = max_filter_cube(torch.from_numpy(~mask)[None, None].float(), r)
    return (grown[0, 0] == 0).numpy()


def prepare(volume: CTVolume, spacing_mm: float, threshold_hu: float, timer: Timer | None = None) -> Prepared:
    timer = timer or Timer()
    with timer.stage("resample"):
        working = to_working_grid(volume, spacing_mm)
    with timer.stage("lung_mask"):
        lungs = segment_lungs(working.hu, working.geometry, threshold_hu)
    return Prepared(working, lungs)


def prepare_for_model(volume: CTVolume, settings, timer: Timer | None = None) -> Prepared:
    """Working grid, lung mask and the branches' inputs, as both training and scoring need."""
    timer = timer or Timer()
    prep = prepare(volume, settings.working_spacing_mm, settings.lung_threshold_hu, timer)
    with timer.stage("lung_mask"):
        return branch_inputs(prep, settings)


@dataclass
class Peak:
    """A finding: a peak of the fused map, described for a reader (detector/findings.py)."""

    center_lps_mm: list[float]
    value: float  # unclipped fused sum at the peak (0..2): where the two branches agree
    index: tuple[int, int, int]  # working-grid voxel
    zone: Zone | None = None
    size_mm: float | None = None  # longest diameter of the local map's spot around it
    local_z: float | None = None  # the local branch's standardised score of this finding alone
    score: float | None = None  # the fused score the study would have with only this finding

    @property
    def side(self) -> str:
        return self.zone.lung if self.zone else "?"

    def to_dict(self) -> dict:
        out = {
            "center_lps_mm": [round(float(c), 2) for c in self.center_lps_mm],
            "value": round(float(self.value), 4),
        }
        if self.zone is not None:
            out["zone"] = self.zone.to_dict()
        for key in ("size_mm", "local_z", "score"):
            value = getattr(self, key)
            if value is not None and np.isfinite(value):
                out[key] = round(float(value), 4 if key != "size_mm" else 1)
        return out


@dataclass
class StudyResult:
    global_score: float
    local_score: float
    fused_score: float
    local_normality: float
    view_scores: dict[str, float]
    peaks: list[Peak]
    working_geometry: Geometry
    maps: dict[str, np.ndarray]  # global, local, fused on the working grid (anomaly-high)
    lungs: LungMask
    timings: dict[str, float] = field(default_factory=dict)
    n_cubes: int = 0
    working_hu: np.ndarray | None = None  # the CT on the working grid, for pictures

    def summary(self) -> dict:
        return {
            "global_score": round(self.global_score, 6),
            "local_score": round(self.local_score, 6),
            "fused_score": round(self.fused_score, 6),
            "local_normality": round(self.local_normality, 6),
            "view_scores": {k: round(v, 6) for k, v in self.view_scores.items()},
            "peaks": [p.to_dict() for p in self.peaks],
            "n_cubes": self.n_cubes,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def maps_on_ct_grid(self, volume: CTVolume) -> dict[str, np.ndarray]:
        """The three maps resampled onto the CT's own grid, so they overlay the series exactly."""
        return {
            k: to_ct_grid(v, self.working_geometry, volume.geometry, volume.shape)
            for k, v in self.maps.items()
        }


def score_prepared(model, prep: Prepared, timer: Timer | None = None) -> StudyResult:
    """Run both branches and fusion on a prepared study."""
    s = model.settings
    timer = timer or Timer()
    dev = model.device
    if prep.branch_hu is None:
        branch_inputs(prep, s)
    hu, lungs = prep.working.hu, prep.lungs
    with timer.stage("global"):
        views = lung_mips(prep.branch_hu, prep.core, s, dev)
        g, view_scores, maps2d = model.global_model.score(views)
        global_map = back_project(maps2d, lungs).numpy()
    with timer.stage("local"):
        local = model.local_model.score(prep)
        l_norm = local.patient_normality
    with timer.stage("fusion"):
        inside = lungs.both
        fused, raw_sum = fuse_maps(
            global_map,
            1.0 - local.anomaly_map,  # the published voxel fusion takes normality (in-lung voxels)
            inside,
            s.fusion_local_clip_pct,
            s.fusion_global_clip_pct,
            s.fusion_band_pct,
        )
        peaks = find_peaks(raw_sum, lungs, prep.working.geometry, s.peak_count, s.peak_min_separation_mm)
    fused_score = fuse_scores(g, l_norm, s.fusion_weight, s.fusion_rule)
    with timer.stage("findings"):
        describe_peaks(peaks, local, g, lungs, prep.working.geometry, s)
    return StudyResult(
        global_score=float(g),
        local_score=local_anomaly_score(l_norm, s.fusion_rule),
        fused_score=fused_score,
        local_normality=l_norm,
        view_scores=view_scores,
        peaks=peaks,
        working_geometry=prep.working.geometry,
        maps={"global": global_map.astype(np.float32), "local": local.anomaly_map, "fused": fused},
        lungs=lungs,
        timings=dict(timer.seconds),
        n_cubes=local.n_units,
        working_hu=hu,
    )


def find_peaks(
    raw_sum: np.ndarray,
    lungs: LungMask,
    geometry: Geometry,
    count: int,
    min_separation_mm: float,
) -> list[Peak]:
    """The strongest local maxima of the unclipped fused sum, at least ``min_separation_mm`` apart.

    Ties are broken by array order, never by where the truth is (the paper's oracle).
    """
    spacing = float(np.mean(geometry.spacing_zyx_mm))
    size = max(int(round(min_separation_mm / spacing)), 1) | 1
    inside = lungs.both
    local_max = (raw_sum == ndi.maximum_filter(raw_sum, size=size)) & inside & (raw_sum > 0)
    idx = np.argwhere(local_max)
    if idx.size == 0:
        return []
    vals = raw_sum[tuple(idx.T)]
    order = np.argsort(-vals, kind="stable")
    chosen: list[np.ndarray] = []
    peaks = []
    for o in order:
        p = idx[o]
        if any(np.linalg.norm((p - q) * geometry.spacing_zyx_mm) < min_separation_mm for q in chosen):
            continue
        chosen.append(p)
        peaks.append(Peak(geometry.index_to_lps(p).tolist(), float(vals[o]), tuple(int(v) for v in p)))
        if len(peaks) >= count:
            break
    return peaks


def describe_peaks(
    peaks: list[Peak], local: LocalScore, global_score: float, lungs: LungMask, geometry: Geometry, settings
) -> None:
    """Zone, size and (where the local realisation has a score map) score of every finding."""
    spacing = float(np.mean(geometry.spacing_zyx_mm))
    for peak in peaks:
        index = np.array(peak.index)
        peak.zone = finding_zone(index, lungs, geometry)
        peak.size_mm = finding_size_mm(local.anomaly_map, index, geometry)
        if local.z_map is not None and settings.fusion_rule == "standardized":
            peak.local_z = finding_local_z(local.z_map, local.z_factor, index, spacing)
            peak.score = fuse_scores(
                global_score, -peak.local_z, settings.fusion_weight, settings.fusion_rule
            )
