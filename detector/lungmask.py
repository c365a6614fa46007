"""Classical lung segmentation: left and right lungs, airways removed (METHOD.md §0.3).

The paper used the pretrained lungmask U-Net (R231); its weights cannot be downloaded here,
so this is the classical recipe: threshold, drop outside air, take out trachea and main
bronchi by region growing from the trachea, keep the two largest components, split left and
right, fill holes (vessels are lung), close small gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from detector.geometry import Geometry


class LungMaskError(ValueError):
    """The volume does not contain two recognisable lungs."""


@dataclass
class LungMask:
    left: np.ndarray  # bool [z,y,x], patient's left lung (towards +L)
    right: np.ndarray  # bool [z,y,x]
    airways: np.ndarray  # bool [z,y,x], trachea + bronchi found (removed from the lungs)

    @property
    def both(self) -> np.ndarray:
        return self.left | self.right

    def side(self, name: str) -> np.ndarray:
        return self.left if name == "left" else self.right


def _ball(radius_vox: int) -> np.ndarray:
    r = max(int(radius_vox), 1)
    zz, yy, xx = np.ogrid[-r : r + 1, -r : r + 1, -r : r + 1]
    return (zz * zz + yy * yy + xx * xx) <= r * r


def _body_mask(hu: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Patient body: dense tissue's largest component, with every enclosed air region filled."""
    dense = hu > -500
    labels, n = ndi.label(dense)
    if n == 0:
        raise LungMaskError("no body found: every voxel is below -500 HU")
    sizes = ndi.sum_labels(np.ones_like(labels, dtype=np.int32), labels, index=np.arange(1, n + 1))
    body = labels == (int(np.argmax(sizes)) + 1)
    # Per axial slice: the trachea opens to the top of the volume, so 3-D filling would miss it.
    filled = np.empty_like(body)
    for z in range(body.shape[0]):
        filled[z] = ndi.binary_fill_holes(body[z])
    return filled


def _trachea_seed(air: np.ndarray, body_filled: np.ndarray) -> np.ndarray | None:
    """Airway voxels in the top slices: the air component nearest the body's centre line."""
    nz = air.shape[0]
    for z in range(nz - 1, max(nz - 1 - nz // 4, -1), -1):
        sl = air[z] & body_filled[z]
        lab, n = ndi.label(sl)
        if n == 0:
            continue
        ys, xs = np.nonzero(body_filled[z])
        if ys.size == 0:
            continue
        cy, cx = ys.mean(), xs.mean()
        best, best_d = None, np.inf
        for i, com in enumerate(ndi.center_of_mass(sl, lab, range(1, n + 1)), start=1):
            area = int((lab == i).sum())
            if area < 4:
                continue
            d = np.hypot(com[0] - cy, com[1] - cx)
            if d < best_d:
                best, best_d = i, d
        if best is not None and best_d < 0.25 * max(sl.shape):
            seed = np.zeros_like(air)
            seed[z] = lab == best
            return seed
    return None


def segment_lungs(hu: np.ndarray, geometry: Geometry, threshold_hu: float = -320.0) -> LungMask:
    """Segment left/right lungs and airways on an (ideally isotropic) [z,y,x] HU volume."""
    spacing = float(np.mean(geometry.spacing_zyx_mm))
    body = _body_mask(hu, spacing)
    air_in_body = (hu < threshold_hu) & body
    # Drop air connected to the volume border (outside air leaking in, bowel gas below).
    airways = np.zeros_like(air_in_body)
    smooth = ndi.gaussian_filter(hu, sigma=max(1.0 / spacing, 0.5))
    seed = _trachea_seed(smooth < -900, body)
    if seed is not None:
        # Region-grow the airway lumen with a strict threshold so it stops at the bronchial
        # wall; parenchyma (about -850 HU) stays out once noise is smoothed away.
        lumen = smooth < -950
        lab, _ = ndi.label(lumen)
        ids = np.unique(lab[seed & lumen])
        ids = ids[ids > 0]
        if ids.size:
            airways = np.isin(lab, ids)
            # A leak into emphysematous lung would take a lung with it: refuse big growths.
            if airways.sum() * spacing**3 > 300_000:  # 300 ml is far above a real airway tree
                airways = seed & lumen
    candidate = air_in_body & ~ndi.binary_dilation(airways, _ball(1))
    lab, n = ndi.label(candidate)
    if n == 0:
        raise LungMaskError("no air-filled region inside the body: is this a chest CT?")
    sizes = ndi.sum_labels(np.ones_like(lab, dtype=np.int32), lab, index=np.arange(1, n + 1))
    order = np.argsort(sizes)[::-1]
    min_voxels = 50_000 / spacing**3  # 50 ml: smaller air regions are not a lung
    keep = [int(i) + 1 for i in order[:2] if sizes[i] >= min_voxels]
    if not keep:
        raise LungMaskError("no lung-sized air region (>= 50 ml) inside the body")
    if len(keep) == 1 or sizes[keep[1] - 1] < 0.2 * sizes[keep[0] - 1]:
        both = lab == keep[0]
        parts = _split_joined_lungs(both, geometry)
    else:
        parts = [lab == keep[0], lab == keep[1]]
    # Patient left is +L in LPS: the part whose centroid has the larger L coordinate.
    cents = [geometry.index_to_lps(np.array(ndi.center_of_mass(p)))[0] for p in parts]
    left, right = (parts[0], parts[1]) if cents[0] > cents[1] else (parts[1], parts[0])
    # Filling holes puts intrapulmonary bronchi back; the lumen is airway, not lung.
    return LungMask(_tidy(left, spacing) & ~airways, _tidy(right, spacing) & ~airways, airways)


def _split_joined_lungs(both: np.ndarray, geometry: Geometry) -> list[np.ndarray]:
    """Split one component holding both lungs (anterior junction) by eroding until two appear."""
    eroded = both.copy()
    for _ in range(10):
        eroded = ndi.binary_erosion(eroded)
        lab, n = ndi.label(eroded)
        if n >= 2:
            sizes = ndi.sum_labels(np.ones_like(lab, dtype=np.int32), lab, index=np.arange(1, n + 1))
            a, b = (np.argsort(sizes)[::-1][:2] + 1).tolist()
            if sizes[b - 1] > 0.2 * sizes[a - 1]:
                # Give each voxel of the joined mask to the nearer seed.
                seeds = np.where(lab == a, 1, np.where(lab == b, 2, 0)).astype(np.int32)
                _, idx = ndi.distance_transform_edt(seeds == 0, return_indices=True)
                owner = seeds[tuple(idx)]
                return [both & (owner == 1), both & (owner == 2)]
    # Fall back to the sagittal mid-plane of the mask's x extent.
    xs = np.nonzero(both.any(axis=(0, 1)))[0]
    mid = (xs.min() + xs.max()) // 2
    a = both.copy()
    a[:, :, mid:] = False
    return [a, both & ~a]


def _tidy(mask: np.ndarray, spacing: float) -> np.ndarray:
    """Close small gaps and fill holes (vessels inside the lung belong to the lung)."""
    r = max(int(round(2.0 / spacing)), 1)
    pad = r + 1
    sl = ndi.find_objects(mask.astype(np.uint8))[0]
    sl = tuple(slice(max(s.start - pad, 0), s.stop + pad) for s in sl)
    sub = mask[sl]
    sub = ndi.binary_closing(np.pad(sub, pad), _ball(r))[pad:-pad, pad:-pad, pad:-pad]
    sub = ndi.binary_fill_holes(sub)
    for z in range(sub.shape[0]):
        sub[z] = ndi.binary_fill_holes(sub[z])
    out = np.zeros_like(mask)
    out[sl] = sub
    return out
