"""The local slot's paper realisation, "csi" (docs/method.md, "local, csi"): contrastive features of 3-D cubes
seen as three projections. Meant for GPUs: on two CPU cores its encoders do not learn
(docs/results.md); the CPU default is :mod:`detector.local_fpi`.

Cubes and their projections are cut from the volume tensor, never written anywhere. On the
scoring grid (9x9x9 centres) a cube's projection along an axis equals the running maximum over
a slab of the volume at that centre, so each view is computed as 9 slab maxima plus one batched
gather of crops: no loop over cubes. Scores against the bank are one matrix product per view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from detector.local_slot import LocalScore
from detector.lungmask import LungMask
from detector.networks import ViewEncoder, inference_precision
from detector.preprocess import window01
from detector.settings import ModelSettings

if TYPE_CHECKING:
    from detector.pipeline import Prepared

VIEW_NAMES = ("front", "side", "up")  # projection along z, y, x of the cube
# Candidate cube centres per training normal: a random subset of lung voxels is plenty.
_CANDIDATES_PER_PATIENT = 20_000


def local_input(hu: np.ndarray, lungs: LungMask, settings: ModelSettings, device="cpu"):
    """Windowed [0,1] volume (outside the lungs at the window minimum), zero-padded by half a cube."""
    vol = window01(torch.as_tensor(hu, device=device, dtype=torch.float32), settings.window_hu)
    if settings.local_mask_outside_lung:
        vol = vol * torch.as_tensor(lungs.both, device=device)
    h = settings.local_cube_vox // 2
    return F.pad(vol, (h, h, h, h, h, h))


@dataclass
class Grid:
    """The scoring grid: per-axis centres (working-grid voxel indices) and which cubes count."""

    centres: tuple[np.ndarray, np.ndarray, np.ndarray]  # each (g,) int
    valid: np.ndarray  # bool (g, g, g): centre inside the lungs (or all, per settings)

    @property
    def index(self) -> np.ndarray:
        """(n_valid, 3) grid coordinates (i, j, k) of the cubes that are scored."""
        return np.argwhere(self.valid)


def scoring_grid(lungs: LungMask, settings: ModelSettings) -> Grid:
    """g x g x g centres evenly spread over the lungs' bounding box (paper: 9x9x9 = 729)."""
    both = lungs.both
    cs = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.nonzero(both.any(axis=other))[0]
        cs.append(np.round(np.linspace(idx[0], idx[-1], settings.local_grid)).astype(int))
    valid = both[np.ix_(*cs)]
    if not settings.local_skip_outside_centres:
        valid = np.ones_like(valid)
    if not valid.any():
        valid = np.ones_like(valid)
    return Grid(tuple(cs), valid)


def _resize_views(views: torch.Tensor, px: int) -> torch.Tensor:
    if views.shape[-1] == px:
        return views
    b, v = views.shape[:2]
    out = F.interpolate(views.reshape(b * v, 1, *views.shape[-2:]), size=(px, px), mode="area")
    return out.reshape(b, v, px, px)


def _reduce(x: torch.Tensor, dim: int, how: str) -> torch.Tensor:
    return x.amax(dim=dim) if how == "max" else x.mean(dim=dim)


def grid_views(padded: torch.Tensor, grid: Grid, settings: ModelSettings) -> torch.Tensor:
    """(n_valid, 3, P, P) projections of every scored cube, computed from slab reductions."""
    c = settings.local_cube_vox
    how = settings.local_projection
    dev = padded.device
    cz, cy, cx = (torch.as_tensor(a, device=dev) for a in grid.centres)
    ar = torch.arange(c, device=dev)
    # After padding by h, a cube centred at v covers padded indices [v, v + c).
    rz, ry, rx = cz[:, None] + ar, cy[:, None] + ar, cx[:, None] + ar  # (g, c) each
    ijk = torch.as_tensor(grid.index, device=dev)
    i, j, k = ijk[:, 0], ijk[:, 1], ijk[:, 2]
    slab_z = torch.stack([_reduce(padded[s : s + c], 0, how) for s in cz.tolist()])  # (g, Y, X)
    slab_y = torch.stack([_reduce(padded[:, s : s + c], 1, how) for s in cy.tolist()])  # (g, Z, X)
    slab_x = torch.stack([_reduce(padded[:, :, s : s + c], 2, how) for s in cx.tolist()])  # (g,Z,Y)
    front = slab_z[i[:, None, None], ry[j][:, :, None], rx[k][:, None, :]]
    side = slab_y[j[:, None, None], rz[i][:, :, None], rx[k][:, None, :]]
    up = slab_x[k[:, None, None], rz[i][:, :, None], ry[j][:, None, :]]
    return _resize_views(torch.stack([front, side, up], dim=1), settings.local_view_px)


def cube_views(padded: torch.Tensor, centres: torch.Tensor, settings: ModelSettings) -> torch.Tensor:
    """(B, 3, P, P) projections of cubes at arbitrary centres (B, 3) by one batched gather."""
    c = settings.local_cube_vox
    ar = torch.arange(c, device=padded.device)
    z = centres[:, 0, None] + ar
    y = centres[:, 1, None] + ar
    x = centres[:, 2, None] + ar
    cubes = padded[z[:, :, None, None], y[:, None, :, None], x[:, None, None, :]]  # (B,c,c,c)
    if cubes.dtype == torch.uint8:  # training volumes are kept as uint8 to fit in memory
        cubes = cubes.float() / 255.0
    how = settings.local_projection
    views = torch.stack([_reduce(cubes, 1, how), _reduce(cubes, 2, how), _reduce(cubes, 3, how)], 1)
    return _resize_views(views, settings.local_view_px)


def paint_cubes(values: np.ndarray, grid: Grid, shape, cube: int) -> np.ndarray:
    """Average each cube's value over the voxels it covers (separable, no loop over cubes)."""
    h = cube // 2
    mats = []
    for axis in range(3):
        pos = np.arange(shape[axis])[:, None]
        mats.append(((pos >= grid.centres[axis] - h) & (pos < grid.centres[axis] + h)).astype(np.float32))
    full = np.zeros(grid.valid.shape, np.float32)
    full[grid.valid] = values
    w = grid.valid.astype(np.float32)
    az, ay, ax = (torch.from_numpy(m) for m in mats)

    def spread(v: np.ndarray) -> torch.Tensor:
        t = torch.einsum("xk,ijk->ijx", ax, torch.from_numpy(v))
        t = torch.einsum("yj,ijx->iyx", ay, t)
        return torch.einsum("zi,iyx->zyx", az, t)

    total, count = spread(full), spread(w)
    return torch.where(count > 0, total / count.clamp(min=1e-6), torch.zeros(())).numpy()


def nt_xent(z: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent on L2-normalised rows; ``positive[a]`` is the index of a's positive."""
    z = F.normalize(z, dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    return F.cross_entropy(sim, positive)


class LocalModel:
    """Three view encoders, their normal banks and per-view weights."""

    def __init__(self, settings: ModelSettings, device: torch.device | str = "cpu"):
        self.settings = settings
        self.device = torch.device(device)
        torch.manual_seed(settings.seed)
        self.encoders = torch.nn.ModuleList(ViewEncoder(settings.local_feature_dim) for _ in VIEW_NAMES).to(
            self.device
        )
        self.banks: list[torch.Tensor] = []  # per view (M, D), L2-normalised
        self.weights: list[float] = []  # per view: 1 / mean norm of raw bank outputs
        self.history: list[dict] = []

    # ---------------- training ----------------
    def normal_input(self, prep: Prepared, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
        """A normal's padded local input (uint8, to fit many in memory) and candidate cube centres."""
        padded = local_input(prep.branch_hu, prep.core, self.settings, self.device)
        lung_idx = np.argwhere(prep.lungs.both)
        take = rng.choice(len(lung_idx), size=min(_CANDIDATES_PER_PATIENT, len(lung_idx)), replace=False)
        # After padding by h a cube centred at voxel v starts at padded index v.
        return (padded * 255).round().to(torch.uint8), lung_idx[take]

    def train_steps(self) -> int:
        return self.settings.local_epochs

    def train(self, patients: list[tuple[torch.Tensor, np.ndarray]], progress=None) -> None:
        """CSI-style shifted-instance contrastive training (one random cube per patient a step),
        ``local_epochs`` steps.

        ``patients``: (padded local input, (n, 3) candidate centres inside the lungs) each.
        """
        s = self.settings
        epochs = s.local_epochs
        rng = np.random.default_rng(s.seed)
        opt = torch.optim.Adam(self.encoders.parameters(), lr=s.local_lr, weight_decay=s.local_weight_decay)
        self.encoders.train()
        for epoch in range(epochs):
            lr = _lr_at(epoch, epochs, s.local_warmup_epochs, s.local_lr)
            for group in opt.param_groups:
                group["lr"] = lr
            views = self._pair_batch(patients, rng)  # (2N, 3, P, P): cube, neighbour, ...
            x, positive = _rotations(views)
            opt.zero_grad(set_to_none=True)
            loss = sum(
                nt_xent(enc(x[:, v : v + 1]), positive, s.local_temperature)
                for v, enc in enumerate(self.encoders)
            )
            loss.backward()
            opt.step()
            mean_loss = loss.item() / len(self.encoders)
            self.history.append({"epoch": epoch + 1, "loss": mean_loss, "lr": lr})
            if progress:
                progress(epoch + 1, mean_loss)
        self.encoders.eval()

    def _pair_batch(self, patients, rng: np.random.Generator) -> torch.Tensor:
        """A random cube per patient and its neighbour shifted by half a cube (§2)."""
        h = self.settings.local_cube_vox // 2
        out = []
        for padded, cands in patients:
            c = cands[rng.integers(len(cands))]
            axis, sign = rng.integers(3), rng.choice([-1, 1])
            n = c.copy()
            n[axis] += sign * h
            limit = np.array(padded.shape) - 2 * h - 1
            n = np.clip(n, 0, limit)
            out.append(
                cube_views(padded, torch.as_tensor(np.stack([c, n]), device=padded.device), self.settings)
            )
        return torch.cat(out)

    # ---------------- bank ----------------
    @torch.inference_mode()
    def embed(self, views: torch.Tensor, batch: int = 512) -> list[torch.Tensor]:
        """Raw head outputs per view: list of (B, D)."""
        outs = [[] for _ in VIEW_NAMES]
        for s in range(0, views.shape[0], batch):
            chunk = views[s : s + batch].to(self.device)
            with inference_precision(self.device, self.settings.cuda_bf16):
                for v, enc in enumerate(self.encoders):
                    outs[v].append(enc(chunk[:, v : v + 1]).float())
        return [torch.cat(o) for o in outs]

    def reference_steps(self, n_normals: int) -> int:
        return self.settings.local_bank_passes

    def build_reference(self, patients, progress=None) -> None:
        """The paper's normal bank: ``local_bank_passes`` passes, one random cube per patient each."""
        s = self.settings
        rng = np.random.default_rng(s.seed + 1)
        views = []
        for p in range(s.local_bank_passes):
            for padded, cands in patients:
                c = cands[rng.integers(len(cands))]
                views.append(cube_views(padded, torch.as_tensor(c[None], device=padded.device), s))
            if progress:
                progress(p + 1)
        raw = self.embed(torch.cat(views))
        self.banks = [F.normalize(r, dim=1) for r in raw]
        self.weights = [float(1.0 / r.norm(dim=1).mean()) for r in raw]

    # ---------------- scoring ----------------
    def patch_normality(self, views: torch.Tensor) -> torch.Tensor:
        """(B,) normality of each cube (high = normal): mean over views of weight x max <raw, bank>."""
        per_view = [
            w * (x @ bank.T).amax(dim=1) for x, bank, w in zip(self.embed(views), self.banks, self.weights)
        ]
        return torch.stack(per_view).mean(dim=0)

    def score(self, prep: Prepared) -> LocalScore:
        """Every scoring-grid cube's normality, the patient's (its ``local_percentile``), and the
        cubes painted into a map."""
        s = self.settings
        padded = local_input(prep.branch_hu, prep.core, s, self.device)
        grid = scoring_grid(prep.lungs, s)
        normality = self.patch_normality(grid_views(padded, grid, s)).cpu().numpy()
        norm_map = paint_cubes(normality, grid, prep.lungs.both.shape, s.local_cube_vox)
        anomaly = np.where(prep.lungs.both, 1.0 - norm_map, 0.0).astype(np.float32)
        l_norm = float(np.percentile(normality, s.local_percentile))
        return LocalScore(anomaly, l_norm, int(grid.valid.sum()))

    def info(self) -> dict:
        return {"realisation": "csi", "view_weights": self.weights}

    def state(self) -> dict:
        return {
            "encoders": {k: v.cpu() for k, v in self.encoders.state_dict().items()},
            "banks": [b.cpu() for b in self.banks],
            "weights": self.weights,
            "history": self.history,
        }

    def load_state(self, state: dict) -> None:
        self.encoders.load_state_dict(state["encoders"])
        self.encoders.eval()
        self.banks = [b.to(self.device) for b in state["banks"]]
        self.weights = list(state["weights"])
        self.history = list(state.get("history", []))


def _rotations(views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack the 4 rotations of each image; positives: same rotation of a cube and its neighbour.

    ``views`` rows come in pairs (cube, neighbour). Returns (4*B, 3, P, P) and positive indices.
    """
    b = views.shape[0]
    x = torch.cat([torch.rot90(views, k, dims=(-2, -1)) for k in range(4)])
    idx = torch.arange(4 * b)
    partner = idx ^ 1  # rows 2m and 2m+1 are a pair within each rotation block
    return x, partner.to(views.device)


def _lr_at(epoch: int, epochs: int, warmup: int, peak: float) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` epochs, then cosine decay (paper's schedule)."""
    if epoch < warmup:
        return peak * (epoch + 1) / warmup
    t = (epoch - warmup) / max(epochs - warmup, 1)
    return 0.5 * peak * (1 + math.cos(math.pi * t))
