"""Global branch (docs/method.md, "global"): PatchCore on maximum-intensity projections of each lung.

Per lung and per axis, the lung-masked, windowed volume is projected to a 2-D MIP, cropped to
the lung's projected mask, padded square and resized; a frozen CNN gives mid-level patch
features; each view type keeps a coreset memory bank of normal features. Each location's
nearest-neighbour distance is standardised by the normals' leave-one-out mean and spread there;
a view's score is its standardised map's maximum, G the largest of the six, and the 2-D maps
are back-projected into the lung.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from detector.lungmask import LungMask
from detector.preprocess import window01
from detector.settings import ModelSettings

SIDES = ("left", "right")
AXES = {"axial": 0, "coronal": 1, "sagittal": 2}  # projection axis of the [z,y,x] volume
VIEWS = tuple(f"{side}_{axis}" for side in SIDES for axis in AXES)
# The standardised spread at a location is at least this share of the mean spread: a few dozen
# normals can agree by chance at a location and turn small differences into alarms (0.5 and 1.0
# were no better on the tuning cohort: docs/results.md, sessions 3-4).
SD_FLOOR = 0.25


@dataclass
class ViewImage:
    """One lung MIP prepared for the network, with what is needed to map results back."""

    image: torch.Tensor  # (P, P) in [0, 1]
    frame_shape: tuple[int, int]  # shape of the full MIP (the volume's two other axes)
    crop: tuple[int, int, int, int]  # r0, r1, c0, c1 of the lung's box in the MIP frame
    pad: tuple[int, int]  # rows, cols of padding added (top/left) to make the crop square
    square: int  # side of the padded square before resizing


def lung_mips(
    hu: np.ndarray, lungs: LungMask, settings: ModelSettings, device: torch.device | str = "cpu"
) -> dict[str, ViewImage]:
    """Six views: left/right lung x axial/coronal/sagittal MIPs, cropped, squared, resized."""
    vol = window01(torch.as_tensor(hu, device=device), settings.window_hu)
    views = {}
    for side in SIDES:
        mask = torch.as_tensor(lungs.side(side), device=device)
        masked = torch.where(mask, vol, torch.zeros((), device=device))  # 0 = window minimum
        for axis_name, axis in AXES.items():
            mip = masked.amax(dim=axis)
            pmask = mask.any(dim=axis)
            views[f"{side}_{axis_name}"] = _prepare_view(mip, pmask, settings)
    return views


def _prepare_view(mip: torch.Tensor, pmask: torch.Tensor, settings: ModelSettings) -> ViewImage:
    rows = torch.nonzero(pmask.any(dim=1)).flatten()
    cols = torch.nonzero(pmask.any(dim=0)).flatten()
    if rows.numel() == 0:
        raise ValueError("empty lung mask: cannot project")
    margin = 2
    r0, r1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + 1 + margin, mip.shape[0])
    c0, c1 = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + 1 + margin, mip.shape[1])
    crop = mip[r0:r1, c0:c1]
    h, w = crop.shape
    if settings.global_keep_aspect:
        side = max(h, w)
        pt, pl = (side - h) // 2, (side - w) // 2
        crop = F.pad(crop, (pl, side - w - pl, pt, side - h - pt))
    else:
        side, pt, pl = 0, 0, 0
    p = settings.global_image_px
    img = F.interpolate(crop[None, None].float(), size=(p, p), mode="bilinear", align_corners=False)
    return ViewImage(img[0, 0], tuple(mip.shape), (r0, r1, c0, c1), (pt, pl), side)


@torch.inference_mode()
def patch_features(extractor: torch.nn.Module, images: torch.Tensor, pool: int) -> torch.Tensor:
    """(B, P, P) images -> (B, H*W, C) locally pooled features on the stride-8 grid."""
    maps = extractor(images[:, None])
    size = maps[0].shape[-2:]
    feats = []
    for m in maps:
        m = F.avg_pool2d(m, pool, stride=1, padding=pool // 2) if pool > 1 else m
        if m.shape[-2:] != size:
            m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        feats.append(m)
    f = torch.cat(feats, dim=1).float()
    return f.flatten(2).transpose(1, 2).contiguous()


def greedy_coreset(features: torch.Tensor, ratio: float, seed: int, proj_dim: int = 128):
    """Greedy k-center selection (PatchCore) on a random projection; returns kept indices."""
    n = features.shape[0]
    k = max(1, int(round(n * ratio)))
    if k >= n:
        return torch.arange(n, device=features.device)
    g = torch.Generator(device="cpu").manual_seed(seed)
    if features.shape[1] > proj_dim:
        proj = torch.randn(features.shape[1], proj_dim, generator=g).to(features)
        z = features @ proj
    else:
        z = features
    start = int(torch.randint(n, (1,), generator=g))
    selected = torch.empty(k, dtype=torch.long, device=features.device)
    selected[0] = start
    mind = ((z - z[start]) ** 2).sum(dim=1)  # squared distances: same argmax, no sqrt
    for i in range(1, k):  # inherently sequential: each pick depends on the previous ones
        nxt = int(torch.argmax(mind))
        selected[i] = nxt
        mind = torch.minimum(mind, ((z - z[nxt]) ** 2).sum(dim=1))
    return selected


def nearest_distances(feats: torch.Tensor, bank: torch.Tensor, chunk: int = 4096):
    """Distance from each feature to its nearest bank entry, and that entry's index."""
    ds, idx = [], []
    for i in range(0, feats.shape[0], chunk):
        d = torch.cdist(feats[i : i + chunk], bank)
        m, j = d.min(dim=1)
        ds.append(m)
        idx.append(j)
    return torch.cat(ds), torch.cat(idx)


def view_map(min_dist: torch.Tensor, view: ViewImage, settings: ModelSettings) -> torch.Tensor:
    """Patch distances (h*w,) -> smoothed anomaly map on the full MIP frame (zeros off-crop)."""
    p = settings.global_image_px
    grid = int(round(min_dist.numel() ** 0.5))
    m = min_dist.view(1, 1, grid, grid)
    m = F.interpolate(m, size=(p, p), mode="bilinear", align_corners=False)
    sigma = settings.global_smoothing_sigma_px * p / 224.0
    m = gaussian_blur2d(m, sigma)
    r0, r1, c0, c1 = view.crop
    h, w = r1 - r0, c1 - c0
    if settings.global_keep_aspect:
        m = F.interpolate(m, size=(view.square, view.square), mode="bilinear", align_corners=False)
        pt, pl = view.pad
        m = m[..., pt : pt + h, pl : pl + w]
    else:
        m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
    frame = torch.zeros(view.frame_shape, dtype=m.dtype, device=m.device)
    frame[r0:r1, c0:c1] = m[0, 0]
    return frame


def gaussian_blur2d(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (B, C, H, W) tensor with reflect padding."""
    radius = min(int(round(3 * sigma)), x.shape[-2] - 1, x.shape[-1] - 1)
    if sigma <= 0 or radius < 1:
        return x
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (0, 0, radius, radius), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    y = F.pad(y, (radius, radius, 0, 0), mode="reflect")
    return F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def back_project(view_maps: dict[str, torch.Tensor], lungs: LungMask) -> torch.Tensor:
    """3-D global map: per lung, voxel = sum of its three projected 2-D map values (§1).

    Zero outside the lungs; inside, floored at the in-mask median.
    """
    shape = lungs.left.shape
    out = torch.zeros(shape, dtype=torch.float32)
    for side in SIDES:
        mask = torch.as_tensor(lungs.side(side))
        if not mask.any():
            continue
        a = view_maps[f"{side}_axial"].cpu()  # (y, x)
        c = view_maps[f"{side}_coronal"].cpu()  # (z, x)
        s = view_maps[f"{side}_sagittal"].cpu()  # (z, y)
        zs, ys, xs = (torch.nonzero(mask.any(dim=d)).flatten() for d in ((1, 2), (0, 2), (0, 1)))
        z0, z1, y0, y1 = int(zs[0]), int(zs[-1]) + 1, int(ys[0]), int(ys[-1]) + 1
        x0, x1 = int(xs[0]), int(xs[-1]) + 1
        box = a[None, y0:y1, x0:x1] + c[z0:z1, None, x0:x1] + s[z0:z1, y0:y1, None]  # broadcast (z, y, x)
        m = mask[z0:z1, y0:y1, x0:x1]
        vals = box[m]
        floor = vals.median()
        out[z0:z1, y0:y1, x0:x1] = torch.where(m, box.clamp(min=floor), out[z0:z1, y0:y1, x0:x1])
    return out


class GlobalModel:
    """The global branch's state: frozen extractor and one coreset bank per view type."""

    def __init__(self, settings: ModelSettings, device: torch.device | str = "cpu"):
        from detector.networks import build_global_extractor

        self.settings = settings
        self.device = torch.device(device)
        self.extractor, self.extractor_info = build_global_extractor(settings.global_extractor)
        self.extractor.to(self.device)
        self.banks: dict[str, torch.Tensor] = {}
        self.spread: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # per-location normal mean, sd

    def features(self, views: dict[str, ViewImage]) -> dict[str, torch.Tensor]:
        """(H*W, C) patch features for each of the six views, one batch through the network."""
        from detector.networks import inference_precision

        imgs = torch.stack([views[v].image for v in VIEWS]).to(self.device)
        with inference_precision(self.device, self.settings.cuda_bf16):
            f = patch_features(self.extractor, imgs, self.settings.global_feature_pool)
        return {v: f[i] for i, v in enumerate(VIEWS)}

    def _normal_spread(self, allf: torch.Tensor, n_patients: int):
        """Leave-one-patient-out nearest distances of the normals: per-location mean and spread.

        A location where normal anatomy varies a lot (the hilum) gets a wide spread, so the
        standardised map asks "unusual for this place?" rather than "far from everything?".
        Plain PatchCore scoring (the raw distance) was near chance here: the most variable
        normal anatomy decided every view's maximum (docs/results.md).
        """
        n_loc = allf.shape[0] // n_patients
        owner = torch.arange(allf.shape[0], device=allf.device) // n_loc
        loo = []
        for p in range(n_patients):
            d, _ = nearest_distances(allf[owner == p], allf[owner != p])
            loo.append(d)
        loo = torch.stack(loo)  # (patients, locations)
        mu, sd = loo.mean(dim=0), loo.std(dim=0)
        return mu, sd.clamp(min=SD_FLOOR * float(sd.mean()) + 1e-6)

    def fit(self, per_patient_features: list[dict[str, torch.Tensor]], progress=None) -> dict:
        """Build the coreset banks from the normal cohort's features; returns bank sizes."""
        sizes = {}
        for i, v in enumerate(VIEWS):
            allf = torch.cat([p[v] for p in per_patient_features]).to(self.device)
            self.spread[v] = self._normal_spread(allf, len(per_patient_features))
            keep = greedy_coreset(allf, self.settings.global_coreset_ratio, self.settings.seed + i)
            self.banks[v] = allf[keep].contiguous()
            sizes[v] = [int(allf.shape[0]), int(keep.numel())]
            if progress:
                progress(v)
        return sizes

    def score(
        self, views: dict[str, ViewImage], feats: dict[str, torch.Tensor] | None = None
    ) -> tuple[float, dict[str, float], dict[str, torch.Tensor]]:
        """Patient G score, the six view scores, and the six 2-D anomaly maps (MIP frames)."""
        feats = feats or self.features(views)
        view_scores, maps = {}, {}
        for v in VIEWS:
            d, _ = nearest_distances(feats[v], self.banks[v])
            mu, sd = self.spread[v]
            z = (d - mu) / sd
            view_scores[v] = float(z.max())
            maps[v] = view_map(z, views[v], self.settings)
        # The six views combine by their maximum (not published): a lesion lives in one lung, so
        # at most three views carry it and a mean dilutes it (the mean was no better on the
        # tuning and test cohorts together: docs/results.md, session 4).
        g = max(view_scores.values())
        return g, view_scores, maps

    def state(self) -> dict:
        return {
            "banks": {k: v.cpu() for k, v in self.banks.items()},
            "spread": {k: (m.cpu(), s.cpu()) for k, (m, s) in self.spread.items()},
            "extractor": self.extractor_info,
        }

    def load_state(self, state: dict) -> None:
        if state["extractor"]["weights_sha256"] != self.extractor_info["weights_sha256"]:
            raise ValueError(
                "this model's global extractor weights differ from the ones installed "
                f"({state['extractor']['weights_sha256'][:12]} vs "
                f"{self.extractor_info['weights_sha256'][:12]})"
            )
        if set(state["spread"]) != set(VIEWS):
            raise ValueError(
                "this model's global branch has no normal spread for every view (unstandardised)"
            )
        self.banks = {k: v.to(self.device) for k, v in state["banks"].items()}
        # models saved before December 2026 also carry "bank_pos" (position-restricted matching,
        # removed): not needed
        self.spread = {k: (m.to(self.device), s.to(self.device)) for k, (m, s) in state["spread"].items()}
