"""The local slot's CPU realisation: foreign-patch segmentation (docs/method.md, "local, fpi").

A small 2.5-D U-Net learns, on normal scans only, to segment patches of *other normal scans*
blended into a normal lung (the FPI / NSA family of self-supervised anomaly detection). It
never sees a lesion model: its training anomalies (``detector.fpi_patches``) are ellipsoids of
normal content (lung, vessels, heart, chest wall of another patient) at random sizes, blending
factors and intensity shifts, half of them laid against vessels, so what it finds in a real study
is whatever does not fit its surroundings.

The network reads 2k+1 neighbouring slices and marks the centre one; it is trained on slabs
in all three orientations and run along all three axes at scoring time, on the study and on its
left-right mirror image, and the median of the three orientations is kept: a round nodule is
foreign in every direction, a vessel seen end-on in one slab orientation is not in the others.
Everything runs on a coarse grid (``fpi_spacing_mm``, 2 mm), where a study is about
150^3 voxels: training fits the CPU budget and scoring takes seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from detector.fpi_patches import (
    FpiVolume,
    PatchRecipe,
    coarse_factor,
    fpi_volume,
    gauss3,
    make_sample,
    to_coarse,
)
from detector.local_slot import LocalScore
from detector.networks import inference_precision

if TYPE_CHECKING:
    from detector.pipeline import Prepared
    from detector.settings import ModelSettings

# Patient score: the map's peak after smoothing over about a 4 mm neighbourhood, so a single
# noisy voxel cannot decide a study.
_PEAK_SMOOTH_MM = 2.0


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
    return gauss3(prob, max(_PEAK_SMOOTH_MM / spacing_mm, 0.5))


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
        return fpi_volume(prep.working.hu, prep.lungs.both, self.factor, rng)

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
