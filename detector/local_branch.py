"""Local branch (METHOD.md §2): contrastive features of small 3-D cubes seen as three projections.

Cubes and their projections are cut from the volume tensor, never written anywhere. On the
scoring grid (9x9x9 centres) a cube's projection along an axis equals the running maximum over
a slab of the volume at that centre, so each view is computed as 9 slab maxima plus one batched
gather of crops: no loop over cubes. Scores against the bank are one matrix product per view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from detector.lungmask import LungMask
from detector.networks import ViewEncoder, inference_precision
from detector.preprocess import window01
from detector.settings import ModelSettings

VIEW_NAMES = ("front", "side", "up")  # projection along z, y, x of the cube


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
    if settings.local_min_lung_fraction > 0:
        valid &= cube_lung_fraction(both, cs, settings.local_cube_vox) >= settings.local_min_lung_fraction
    if not valid.any():
        valid = np.ones_like(valid)
    return Grid(tuple(cs), valid)


def cube_lung_fraction(mask: np.ndarray, centres, cube: int) -> np.ndarray:
    """(g, g, g) share of each grid cube's voxels inside ``mask`` (a summed-volume table)."""
    h = cube // 2
    table = np.pad(mask.astype(np.int64), ((1, 0), (1, 0), (1, 0))).cumsum(0).cumsum(1).cumsum(2)
    lo = [np.clip(c - h, 0, n) for c, n in zip(centres, mask.shape)]
    hi = [np.clip(c + h, 0, n) for c, n in zip(centres, mask.shape)]
    total = np.zeros([len(c) for c in centres], np.int64)
    for corner in range(8):  # inclusion-exclusion: each "lo" corner flips the sign
        use_hi = [(corner >> a) & 1 for a in range(3)]
        idx = [hi[a] if use_hi[a] else lo[a] for a in range(3)]
        total += (-1) ** (3 - sum(use_hi)) * table[np.ix_(*idx)]
    return total / float(cube**3)


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
        self.bank_index: torch.Tensor | None = None  # (M, 3) grid index of each bank cube (position mode)
        self.bank_owner: torch.Tensor | None = None  # (M,) which normal each bank cube came from
        self.spread: tuple[torch.Tensor, torch.Tensor] | None = None  # per-location mean, sd (g,g,g)
        self.history: list[dict] = []

    # ---------------- training ----------------
    def train(self, patients: list[tuple[torch.Tensor, np.ndarray]], epochs: int, progress=None):
        """CSI-style shifted-instance contrastive training (one random cube per patient a step).

        ``patients``: (padded local input, (n, 3) candidate centres inside the lungs) each.
        """
        s = self.settings
        if self.pixel_features:
            return  # nothing to learn: the bank holds the pixels themselves
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

    @property
    def pixel_features(self) -> bool:
        if self.settings.local_features not in {"encoder", "pixels"}:
            raise ValueError(f"unknown local_features {self.settings.local_features!r}")
        return self.settings.local_features == "pixels"

    # ---------------- bank ----------------
    @torch.inference_mode()
    def embed(self, views: torch.Tensor, batch: int = 512) -> list[torch.Tensor]:
        """Raw head outputs per view: list of (B, D). With pixel features: one (B, 3*P*P) entry,
        the three projections side by side, so a cube is matched as a whole."""
        if self.pixel_features:
            return [views.reshape(views.shape[0], -1).float().to(self.device)]
        outs = [[] for _ in VIEW_NAMES]
        for s in range(0, views.shape[0], batch):
            chunk = views[s : s + batch].to(self.device)
            with inference_precision(self.device, self.settings.cuda_bf16):
                for v, enc in enumerate(self.encoders):
                    outs[v].append(enc(chunk[:, v : v + 1]).float())
        return [torch.cat(o) for o in outs]

    def build_bank(self, patients, progress=None, grids: list[Grid] | None = None) -> None:
        """The normal bank, in the mode the settings name.

        "random" (paper): ``local_bank_passes`` passes, one random cube per patient per pass.
        "position": every scoring-grid cube of every normal (``grids``), with its grid index, and
        with ``local_standardize`` the leave-one-patient-out spread at each grid location.
        """
        s = self.settings
        if s.local_bank_mode == "position":
            if grids is None:
                raise ValueError("a position bank needs each normal's scoring grid")
            self._build_position_bank(patients, grids, progress)
            return
        if s.local_bank_mode != "random":
            raise ValueError(f"unknown local_bank_mode {s.local_bank_mode!r}")
        rng = np.random.default_rng(s.seed + 1)
        views = []
        for p in range(s.local_bank_passes):
            for padded, cands in patients:
                c = cands[rng.integers(len(cands))]
                views.append(cube_views(padded, torch.as_tensor(c[None], device=padded.device), s))
            if progress:
                progress(p + 1)
        self._set_bank(self.embed(torch.cat(views)), None, None)

    def _build_position_bank(self, patients, grids: list[Grid], progress=None) -> None:
        raws, index, owner = [], [], []
        for n, ((padded, _), grid) in enumerate(zip(patients, grids)):
            volume = padded.float() / 255.0 if padded.dtype == torch.uint8 else padded
            raws.append(self.embed(grid_views(volume, grid, self.settings)))
            index.append(torch.as_tensor(grid.index))
            owner.append(torch.full((len(grid.index),), n))
            if progress:
                progress(n + 1)
        raw = [torch.cat([r[v] for r in raws]) for v in range(len(raws[0]))]
        self._set_bank(raw, torch.cat(index).to(self.device), torch.cat(owner).to(self.device))
        if self.settings.local_standardize:
            self.spread = self._normal_spread(len(patients))

    def _set_bank(self, raw: list[torch.Tensor], index, owner) -> None:
        self.bank_index, self.bank_owner = index, owner
        if self.pixel_features:
            self.banks, self._bank_norms, self.weights = raw, [torch.ones(len(r)) for r in raw], [1.0]
            return
        self.banks = [F.normalize(r, dim=1) for r in raw]
        self._bank_norms = [r.norm(dim=1) for r in raw]  # raw outputs = norm x bank row (for the spread)
        self.weights = [float(1.0 / n.mean()) for n in self._bank_norms]

    def _normal_spread(self, n_patients: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per grid location: mean and spread of the normals' leave-one-out normality.

        Where normal anatomy varies a lot (the hilum) the spread is wide, so a standardised
        value asks "unusual for this place?" rather than "unlike anything?".
        """
        g = self.settings.local_grid
        loo = torch.full((n_patients, g, g, g), float("nan"), device=self.device)
        for p in range(n_patients):
            mine = self.bank_owner == p
            raw = [b[mine] * n[mine, None].to(b) for b, n in zip(self.banks, self._bank_norms)]
            vals = self._raw_normality(raw, self.bank_index[mine], exclude_owner=p)
            i, j, k = self.bank_index[mine].T
            loo[p, i, j, k] = vals
        mu = torch.nanmean(loo, dim=0)
        sd = torch.sqrt(torch.nanmean((loo - mu) ** 2, dim=0))
        typical = torch.nanmean(sd)
        mu = torch.nan_to_num(mu, nan=float(torch.nanmean(mu)))
        floor = self.settings.local_sd_floor * float(typical) + 1e-6
        sd = torch.nan_to_num(sd, nan=float(typical)).clamp(min=floor)
        return mu, sd

    def _raw_normality(
        self, raw: list[torch.Tensor], index: torch.Tensor | None, exclude_owner: int | None = None
    ) -> torch.Tensor:
        """Mean over views of weight x max <raw, bank> over the allowed bank rows (high = normal)."""
        allowed = None
        if self.bank_index is not None and index is not None:
            r = self.settings.local_position_radius
            allowed = (index[:, None, :] - self.bank_index[None, :, :]).abs().amax(dim=-1) <= r
            if exclude_owner is not None:
                allowed &= self.bank_owner[None, :] != exclude_owner
        per_view = []
        for x, bank, w in zip(raw, self.banks, self.weights):
            if self.pixel_features:  # minus the distance to the nearest allowed bank cube
                dist = torch.cdist(x, bank)
                if allowed is not None:
                    dist = dist.masked_fill(~allowed, float("inf"))
                per_view.append(-dist.amin(dim=1))
                continue
            sim = x @ bank.T
            if allowed is not None:
                sim = sim.masked_fill(~allowed, float("-inf"))
            per_view.append(w * sim.amax(dim=1))
        return torch.stack(per_view).mean(dim=0)

    # ---------------- scoring ----------------
    def patch_normality(self, views: torch.Tensor, index: np.ndarray | None = None) -> torch.Tensor:
        """(B,) normality of each cube (high = normal).

        Paper: mean over views of weight x max <raw, bank>. With a position bank, ``index``
        ((B, 3) grid coordinates) restricts each cube to the normals' cubes nearby; with
        ``local_standardize`` the value is a z-score against the normals at that location.
        """
        positional = self.bank_index is not None
        if positional and index is None:
            raise ValueError("a position bank scores grid cubes: pass their grid index")
        idx = torch.as_tensor(index, device=self.device) if positional else None
        vals = self._raw_normality(self.embed(views), idx)
        if self.spread is not None:
            mu, sd = self.spread
            i, j, k = idx.T
            vals = (vals - mu[i, j, k]) / sd[i, j, k]
        return vals

    def state(self) -> dict:
        return {
            "encoders": {k: v.cpu() for k, v in self.encoders.state_dict().items()},
            "banks": [b.cpu() for b in self.banks],
            "weights": self.weights,
            "history": self.history,
            "bank_index": None if self.bank_index is None else self.bank_index.cpu(),
            "bank_owner": None if self.bank_owner is None else self.bank_owner.cpu(),
            "spread": None if self.spread is None else tuple(x.cpu() for x in self.spread),
        }

    def load_state(self, state: dict) -> None:
        self.encoders.load_state_dict(state["encoders"])
        self.encoders.eval()
        self.banks = [b.to(self.device) for b in state["banks"]]
        self.weights = list(state["weights"])
        self.history = list(state.get("history", []))
        self.bank_index, self.bank_owner = (
            _to(state.get("bank_index"), self.device),
            _to(state.get("bank_owner"), self.device),
        )
        spread = state.get("spread")
        self.spread = None if spread is None else tuple(x.to(self.device) for x in spread)


def _to(x: torch.Tensor | None, device) -> torch.Tensor | None:
    return None if x is None else x.to(device)


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
