"""The local slot's CPU realisation: foreign-patch segmentation (docs/method.md, "local, fpi").

A small 2.5-D U-Net learns, on normal scans only, to segment patches of *other normal scans*
blended into a normal lung (the FPI / NSA family of self-supervised anomaly detection). It
never sees a lesion model: its training anomalies are ellipsoids of normal content (lung,
vessels, heart, chest wall of another patient) at random sizes, blending factors and
intensity shifts, so what it finds in a real study is whatever does not fit its surroundings.

The network reads 2k+1 neighbouring slices and marks the centre one; it is trained on slabs
in all three orientations and run along all three axes at scoring time, on the study and on its
left-right mirror image, and the median of the three orientations is kept: a round nodule is
foreign in every direction, a vessel seen end-on in one slab orientation is not in the others.
Everything runs on a coarse grid (``local_fpi_spacing_mm``, 2 mm), where a study is about
150^3 voxels: training fits the CPU budget and scoring takes seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from detector.local_slot import LocalScore
from detector.networks import inference_precision

if TYPE_CHECKING:
    from detector.pipeline import Prepared
    from detector.settings import ModelSettings

# HU -> network input: air 0, water 1, dense bone clipped at 1.5.
_HU_AIR, _HU_SCALE, _INPUT_MAX = -1000.0, 1000.0, 1.5
# A blended patch counts as foreign where it changes the image by at least this (input units,
# i.e. 50 HU after light smoothing): a patch of lung laid on lung is no anomaly to learn.
_VISIBLE_DIFF = 0.05
# Patient score: the map's peak after smoothing over about a 4 mm neighbourhood, so a single
# noisy voxel cannot decide a study.
_PEAK_SMOOTH_MM = 2.0


def normalise_hu(hu: torch.Tensor) -> torch.Tensor:
    return ((hu - _HU_AIR) / _HU_SCALE).clamp(0.0, _INPUT_MAX)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SlabUNet(nn.Module):
    """2-D U-Net over a slab: (B, 2k+1, H, W) slices in, (B, 1, H, W) logits of the centre slice.

    H and W must be multiples of 2**(levels - 1).
    """

    def __init__(self, in_slices: int, channels: tuple[int, ...] = (16, 32, 64)):
        super().__init__()
        self.down = nn.ModuleList()
        c_prev = in_slices
        for c in channels:
            self.down.append(_block(c_prev, c))
            c_prev = c
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for c in reversed(channels[:-1]):
            self.up.append(nn.ConvTranspose2d(c_prev, c, 2, stride=2))
            self.merge.append(_block(2 * c, c))
            c_prev = c
        self.out = nn.Conv2d(c_prev, 1, 1)
        self.levels = len(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < self.levels - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for up, merge in zip(self.up, self.merge):
            x = up(x)
            x = merge(torch.cat([skips.pop(), x], dim=1))
        return self.out(x)


@dataclass
class FpiVolume:
    """A normal study on the coarse grid, with where its patches may be taken from."""

    x: torch.Tensor  # (Z, Y, X) float32, normalised HU
    lung: torch.Tensor  # (Z, Y, X) bool
    lung_idx: np.ndarray  # (n, 3) lung voxel indices, for sampling
    body_idx: np.ndarray  # (m, 3) voxels denser than -500 HU: soft tissue, vessels, bone
    # (k, 3) lung voxels against a vessel (a dense voxel inside the lungs), where a patch may be
    # laid on purpose; empty unless the recipe asks for it
    vessel_idx: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))


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


def fpi_volume(
    hu: np.ndarray, lung: np.ndarray, factor: int, rng: np.random.Generator, vessels: bool = False
) -> FpiVolume:
    x, lung_t = to_coarse(hu, lung, factor)
    dense = x > 0.5
    lung_idx = np.argwhere(lung_t.numpy())
    body_idx = np.argwhere(dense.numpy())
    keep = 20_000  # a random subset is plenty for sampling centres
    lung_idx = lung_idx[rng.choice(len(lung_idx), min(keep, len(lung_idx)), replace=False)]
    body_idx = body_idx[rng.choice(len(body_idx), min(keep, len(body_idx)), replace=False)]
    vol = FpiVolume(x, lung_t, lung_idx, body_idx)
    if vessels:  # drawn last, so that a recipe without them draws exactly as before
        in_lung = (dense & lung_t).float()[None, None]
        against = (F.max_pool3d(in_lung, 3, 1, 1)[0, 0] > 0) & lung_t  # within one coarse voxel
        idx = np.argwhere(against.numpy())
        vol.vessel_idx = idx[rng.choice(len(idx), min(keep, len(idx)), replace=False)]
    return vol


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


def _gauss3(t: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
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
    x = _crop(tv.x.permute(*perm), centre, shape)
    lung = _crop(tv.lung.permute(*perm), centre, shape)
    target = torch.zeros_like(x)
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
            # the slab is cut again so that the patch's centre lies against a vessel (where a
            # blob and a branching vessel must be told apart), the crop around it as before
            spot = tv.vessel_idx[rng.integers(len(tv.vessel_idx))][list(perm)]
            centre = spot - np.round(offset).astype(int)
            x = _crop(tv.x.permute(*perm), centre, shape)
            lung = _crop(tv.lung.permute(*perm), centre, shape)
        # a soft edge no wider than the patch's smallest radius, so a small patch stays a patch
        edge = float(rng.uniform(0.5, min(2.5, max(float(radii.min()), 0.6))))
        occ = _ellipsoid(shape, mid + offset, radii, edge=edge)
        a = float(rng.uniform(0.3, 1.0)) * occ
        blended = (1.0 - a) * x + a * src
        visible = (_gauss3(blended - x).abs() / _VISIBLE_DIFF).clamp(0.0, 1.0)
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


def train_network(
    net: SlabUNet,
    vols: list[FpiVolume],
    recipe: PatchRecipe,
    steps: int,
    batch: int,
    crop_px: int,
    lr: float,
    seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> list[dict]:
    """Adam with a cosine schedule on per-voxel BCE against the soft foreign-patch targets."""
    rng = np.random.default_rng(seed)
    slices = net.down[0][0].in_channels
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    history = []
    net.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * step / max(steps, 1)))
        xs, ys, ws = zip(*(make_sample(vols, recipe, crop_px, slices, rng) for _ in range(batch)))
        x, y, w = torch.stack(xs), torch.stack(ys)[:, None], torch.stack(ws)[:, None]
        logits = net(x)
        loss = (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * w).sum() / w.sum().clamp(
            min=1
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            history.append({"step": step + 1, "loss": float(loss.detach())})
        if progress:
            progress(step + 1, float(loss.detach()))
    net.eval()
    return history


@torch.inference_mode()
def predict_map(
    net: SlabUNet, x: torch.Tensor, lung: torch.Tensor, batch: int = 16, bf16: bool = True
) -> torch.Tensor:
    """The network's foreign-patch probability on the coarse grid, zero outside the lungs: in
    each slab orientation the mean of the map and of the map of the left-right mirrored input,
    then the median of the three orientations (docs/results.md, session 9: what is foreign in
    two of three directions counts, a vessel seen end-on in one does not). Only the lungs'
    bounding box (plus a margin) is run."""
    nz = [torch.nonzero(lung.any(dim=tuple(a for a in range(3) if a != ax))).flatten() for ax in range(3)]
    margin = 4
    box = [
        slice(max(int(i[0]) - margin, 0), min(int(i[-1]) + margin + 1, lung.shape[a]))
        for a, i in enumerate(nz)
    ]
    sub = x[box[0], box[1], box[2]]
    plain = _orientation_maps(net, sub, batch, bf16)
    mirrored = _orientation_maps(net, sub.flip(-1), batch, bf16).flip(-1)  # the patient's left-right axis
    full = torch.zeros_like(x)
    full[box[0], box[1], box[2]] = (0.5 * (plain + mirrored)).median(dim=0).values
    return full * lung


def _orientation_maps(net: SlabUNet, sub: torch.Tensor, batch: int, bf16: bool) -> torch.Tensor:
    """The network run along each axis of ``sub``: (3, Z, Y, X), one map per slab orientation."""
    k = net.down[0][0].in_channels // 2
    mult = 2 ** (net.levels - 1)
    maps = []
    for axis in range(3):
        v = sub.movedim(axis, 0)  # slab axis first
        d, h, w = v.shape
        ph, pw = (-h) % mult, (-w) % mult
        padded = F.pad(v[None], (0, pw, 0, ph, 0, 0), mode="replicate")[0]
        padded = F.pad(padded[None, None], (0, 0, 0, 0, k, k), mode="replicate")[0, 0]
        out = torch.empty((d, h, w), device=sub.device)
        for s in range(0, d, batch):
            idx = torch.arange(s, min(s + batch, d), device=sub.device)
            slabs = padded.unfold(0, 2 * k + 1, 1)[s : s + len(idx)].permute(0, 3, 1, 2)
            with inference_precision(sub.device, bf16):
                out[idx] = torch.sigmoid(net(slabs).float())[:, 0, :h, :w]
        maps.append(out.movedim(0, axis))
    return torch.stack(maps)


def smoothed(prob: torch.Tensor, spacing_mm: float) -> torch.Tensor:
    """The map after the light smoothing the patient score is taken from."""
    return _gauss3(prob, max(_PEAK_SMOOTH_MM / spacing_mm, 0.5))


def peak_value(prob: torch.Tensor, lung: torch.Tensor, spacing_mm: float) -> float:
    """The map's peak inside the lungs after light smoothing (the patient's raw local score)."""
    inside = smoothed(prob, spacing_mm)[lung]
    return float(inside.max()) if inside.numel() else 0.0


# The normals' peak spread is at least this (probability units): with two dozen normals that
# happen to agree, a tiny spread would turn any small difference into a large z-score.
_MIN_PEAK_SD = 0.02


class FpiLocalModel:
    """The slot's CPU realisation: the slab network and the training normals' peak statistics."""

    def __init__(self, settings: ModelSettings, device: torch.device | str = "cpu"):
        self.settings = settings
        self.device = torch.device(device)
        torch.manual_seed(settings.seed)
        s = settings
        widths = tuple(s.fpi_width * 2**i for i in range(s.fpi_levels))
        self.net = SlabUNet(s.fpi_slices, widths).to(self.device)
        self.net.eval()
        self.recipe = PatchRecipe(
            s.fpi_spacing_mm,
            s.fpi_patch_mm,
            s.fpi_body_share,
            s.fpi_intensity_shift,
            vessel_share=s.fpi_vessel_share,
        )
        self.peak_mean = 0.0
        self.peak_sd = 1.0
        self.normal_peaks: list[float] = []
        self.history: list[dict] = []

    @property
    def factor(self) -> int:
        return coarse_factor(self.settings.working_spacing_mm, self.settings.fpi_spacing_mm)

    @property
    def coarse_spacing_mm(self) -> float:
        return self.settings.working_spacing_mm * self.factor

    # ---------------- training ----------------
    def normal_input(self, prep: Prepared, rng: np.random.Generator) -> FpiVolume:
        return fpi_volume(
            prep.working.hu, prep.lungs.both, self.factor, rng, vessels=self.recipe.vessel_share > 0
        )

    def train_steps(self) -> int:
        return self.settings.fpi_steps

    def train(self, inputs: list[FpiVolume], progress: Callable[[int, float], None] | None = None) -> None:
        s = self.settings
        self.net.to("cpu")  # samples are cut on the CPU; the steps are small
        self.history = train_network(
            self.net, inputs, self.recipe, s.fpi_steps, s.fpi_batch, s.fpi_crop_px, s.fpi_lr, s.seed, progress
        )
        self._ready_for_inference()

    def reference_steps(self, n_normals: int) -> int:
        return n_normals

    def build_reference(self, inputs: list[FpiVolume], progress: Callable[[int], None] | None = None) -> None:
        """The training normals' peaks: the patient score is a z-score against them."""
        peaks = []
        for n, v in enumerate(inputs):
            prob = predict_map(
                self.net, v.x.to(self.device), v.lung.to(self.device), bf16=self.settings.cuda_bf16
            )
            peaks.append(peak_value(prob.cpu(), v.lung, self.coarse_spacing_mm))
            if progress:
                progress(n + 1)
        self.normal_peaks = [round(p, 6) for p in peaks]
        self.peak_mean = float(np.mean(peaks))
        self.peak_sd = max(float(np.std(peaks)), _MIN_PEAK_SD)

    def _ready_for_inference(self) -> None:
        """Eval mode on the model's device, weights channels-last: on this 2-core CPU the six
        passes of a map take 5.4 s instead of 8.5 s, with probabilities equal to within 1e-6
        (docs/results.md, session 16)."""
        self.net.to(self.device, memory_format=torch.channels_last).eval()

    # ---------------- scoring ----------------
    def score(self, prep: Prepared) -> LocalScore:
        lungs = prep.lungs.both
        x, lung = to_coarse(prep.working.hu, lungs, self.factor)
        prob = predict_map(
            self.net, x.to(self.device), lung.to(self.device), bf16=self.settings.cuda_bf16
        ).cpu()
        z_map = (smoothed(prob, self.coarse_spacing_mm) - self.peak_mean) / self.peak_sd
        inside = z_map[lung]
        z = float(inside.max()) if inside.numel() else -self.peak_mean / self.peak_sd
        fine = prob
        if self.factor > 1:
            fine = F.interpolate(prob[None, None], scale_factor=self.factor, mode="trilinear")[0, 0]
        shape = lungs.shape
        pad = [max(n - f, 0) for n, f in zip(shape, fine.shape)]
        fine = F.pad(fine, (0, pad[2], 0, pad[1], 0, pad[0]), mode="replicate") if any(pad) else fine
        anomaly = np.where(lungs, fine[: shape[0], : shape[1], : shape[2]].numpy(), 0.0).astype(np.float32)
        z_map = torch.where(lung, z_map, torch.tensor(-1e9)).numpy().astype(np.float32)
        return LocalScore(anomaly, -float(z), int(lung.sum()), z_map, self.factor)

    # ---------------- persistence ----------------
    def info(self) -> dict:
        return {
            "realisation": "fpi",
            "normal_peak_mean": round(self.peak_mean, 6),
            "normal_peak_sd": round(self.peak_sd, 6),
            "parameters": sum(p.numel() for p in self.net.parameters()),
        }

    def state(self) -> dict:
        return {
            "net": {k: v.cpu() for k, v in self.net.state_dict().items()},
            "peak_mean": self.peak_mean,
            "peak_sd": self.peak_sd,
            "normal_peaks": self.normal_peaks,
            "history": self.history,
        }

    def load_state(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self._ready_for_inference()
        self.peak_mean, self.peak_sd = float(state["peak_mean"]), float(state["peak_sd"])
        self.normal_peaks = list(state.get("normal_peaks", []))
        self.history = list(state.get("history", []))
