"""Classical lung segmentation: left and right lungs, airways removed (docs/method.md, "lung mask").

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


def _body_mask(hu: np.ndarray) -> np.ndarray:
    """Patient body: dense tissue's largest component, with every enclosed air region filled."""
    dense = hu > -500
    labels, n = ndi.label(dense)
    if n == 0:
        raise LungMaskError("no body found: every voxel is below -500 HU")
    body = labels == (int(np.argmax(_sizes(labels, n))) + 1)
    # The trachea opens at the top of the volume (and bowel or the table at the bottom):
    # capping both ends makes those openings enclosed, so one 3-D fill closes them.
    capped = np.pad(body, ((1, 1), (0, 0), (0, 0)), constant_values=True)
    return fill_holes(capped)[1:-1]


_IN_PLANE = np.array(
    [[[0, 0, 0], [0, 0, 0], [0, 0, 0]], [[0, 1, 0], [1, 1, 1], [0, 1, 0]], [[0, 0, 0], [0, 0, 0], [0, 0, 0]]]
)


def fill_holes(mask: np.ndarray, per_slice: bool = False, max_area: float | None = None) -> np.ndarray:
    """Fill enclosed background: everything not connected to the array border becomes mask.

    One labelling pass (far faster than scipy's iterative ``binary_fill_holes``); with
    ``per_slice`` the connectivity is in-plane only, as filling each axial slice in 2-D.
    """
    lab, _ = ndi.label(~mask, structure=_IN_PLANE if per_slice else None)
    border = np.zeros(lab.max() + 1, bool)
    faces = [lab[:, 0], lab[:, -1], lab[:, :, 0], lab[:, :, -1]]
    if not per_slice:
        faces += [lab[0], lab[-1]]
    for f in faces:
        border[np.unique(f)] = True
    border[0] = True  # label 0 is the mask itself
    if max_area is not None:  # leave big holes open (per slice: a label is one in-plane region)
        border |= np.bincount(lab.ravel(), minlength=len(border)) > max_area
    return mask | ~border[lab]


def _sizes(labels: np.ndarray, n: int) -> np.ndarray:
    """Voxel count of labels 1..n (bincount: far faster than ndimage.sum_labels)."""
    return np.bincount(labels.ravel(), minlength=n + 1)[1:]


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


# Connected-component work runs at this spacing; the masks are then interpolated back to the
# working grid. 8x fewer voxels at 1 mm; the boundary stays sub-voxel smooth (Dice >= 0.95).
SEGMENTATION_SPACING_MM = 2.0


def segment_lungs(hu: np.ndarray, geometry: Geometry, threshold_hu: float = -320.0) -> LungMask:
    """Segment left/right lungs and airways on an (ideally isotropic) [z,y,x] HU volume."""
    spacing = geometry.spacing_zyx_mm
    if spacing.max() >= SEGMENTATION_SPACING_MM * 0.75:
        return _segment(hu, geometry, threshold_hu)
    import torch

    from detector.preprocess import resample_axes, working_geometry

    coarse_geom, coarse_shape = working_geometry(geometry, hu.shape, SEGMENTATION_SPACING_MM)
    steps = tuple(float(SEGMENTATION_SPACING_MM / s) for s in spacing)
    coarse_hu = resample_axes(torch.from_numpy(np.ascontiguousarray(hu, np.float32)), steps, coarse_shape)
    coarse = _segment(coarse_hu.numpy(), coarse_geom, threshold_hu)
    back = tuple(float(s / SEGMENTATION_SPACING_MM) for s in spacing)

    # Left and right are disjoint: one signed field (+1 left, -1 right) takes both back at once.
    signed = coarse.left.astype(np.float32) - coarse.right.astype(np.float32)
    signed_up = resample_axes(torch.from_numpy(signed), back, hu.shape).numpy()
    airways = resample_axes(torch.from_numpy(coarse.airways), back, hu.shape, mode="nearest").numpy()
    air = hu < threshold_hu

    def refine(mask: np.ndarray) -> np.ndarray:
        # Back at full resolution the coarse mask is about a voxel too fat at the pleura:
        # peel one voxel off, but keep every air voxel it covered.
        sl = ndi.find_objects(mask.astype(np.uint8))[0]
        out = np.zeros_like(mask)
        out[sl] = ndi.binary_erosion(mask[sl]) | (mask[sl] & air[sl])
        return out & ~airways

    return LungMask(refine(signed_up >= 0.5), refine(signed_up <= -0.5), airways)


def _segment(hu: np.ndarray, geometry: Geometry, threshold_hu: float) -> LungMask:
    spacing = float(np.mean(geometry.spacing_zyx_mm))
    body = _body_mask(hu)
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
    sizes = _sizes(lab, n)
    order = np.argsort(sizes)[::-1]
    min_voxels = 50_000 / spacing**3  # 50 ml: smaller air regions are not a lung
    keep = [int(i) + 1 for i in order[:2] if sizes[i] >= min_voxels]
    if not keep:
        raise LungMaskError("no lung-sized air region (>= 50 ml) inside the body")
    if len(keep) == 1 or sizes[keep[1] - 1] < 0.2 * sizes[keep[0] - 1]:
        both = lab == keep[0]
        parts = _split_joined_lungs(both)
    else:
        parts = [lab == keep[0], lab == keep[1]]
    # Patient left is +L in LPS: the part whose centroid has the larger L coordinate.
    cents = [geometry.index_to_lps(np.array(ndi.center_of_mass(p)))[0] for p in parts]
    left, right = (parts[0], parts[1]) if cents[0] > cents[1] else (parts[1], parts[0])
    left, right = _tidy(left, spacing), _tidy(right, spacing)
    left, right = fill_costal_bays(left, right, body, spacing)
    # Filling holes puts intrapulmonary bronchi back; the lumen is airway, not lung.
    return LungMask(left & ~airways, right & ~airways, airways)


def _split_joined_lungs(both: np.ndarray) -> list[np.ndarray]:
    """Split one component holding both lungs (joined at the anterior junction or through the
    main bronchi): erode until two lung-sized parts appear, then cut each axial slice at the
    midpoint of the gap between them."""
    sl = ndi.find_objects(both.astype(np.uint8))[0]
    sub = both[sl]
    eroded = sub
    for _ in range(12):
        eroded = ndi.binary_erosion(eroded)
        lab, n = ndi.label(eroded)
        if n < 2:
            continue
        sizes = _sizes(lab, n)
        a, b = (np.argsort(sizes)[::-1][:2] + 1).tolist()
        if sizes[b - 1] <= 0.2 * sizes[a - 1]:
            continue
        xa = np.nonzero((lab == a).any(axis=(0, 1)))[0].mean()
        xb = np.nonzero((lab == b).any(axis=(0, 1)))[0].mean()
        low, high = (a, b) if xa < xb else (b, a)
        # per slice: the cut lies midway between the low part's right edge and the high part's left edge
        low_max = np.where((lab == low).any(axis=1), np.arange(sub.shape[2]), -1).max(axis=1)
        high_min = np.where((lab == high).any(axis=1), np.arange(sub.shape[2]), sub.shape[2]).min(axis=1)
        cut = np.full(sub.shape[0], (xa + xb) / 2.0)
        ok = (low_max >= 0) & (high_min < sub.shape[2])
        cut[ok] = (low_max[ok] + high_min[ok]) / 2.0
        low_part = sub & (np.arange(sub.shape[2])[None, None, :] <= cut[:, None, None])
        parts = []
        for p in (low_part, sub & ~low_part):
            full = np.zeros_like(both)
            full[sl] = p
            parts.append(full)
        return parts
    xs = np.nonzero(both.any(axis=(0, 1)))[0]  # last resort: the mask's sagittal mid-plane
    a = both.copy()
    a[:, :, (xs.min() + xs.max()) // 2 :] = False
    return [a, both & ~a]


# Rolling-ball radius: takes juxtapleural nodules (soft tissue against the chest wall, which a
# threshold leaves outside the lung) back into the lung, as a radiologist would count them.
ROLLING_BALL_MM = 10.0
# In-plane holes up to this area are vessels or small lesions cut across; larger ones that are
# not enclosed in 3-D are the diaphragm domes or the heart seen through the lung: not lung.
SMALL_HOLE_MM2 = 700.0


def _close_cube(mask: np.ndarray, r: int) -> np.ndarray:
    """Morphological closing by a (2r+1)^3 cube as two max-pools: ~100x faster than scipy's
    ball closing on a lung-sized box, and close enough to a rolling ball for this purpose."""
    import torch

    t = torch.from_numpy(mask)[None, None].float()
    closed = 1.0 - max_filter_cube(1.0 - max_filter_cube(t, r), r)
    return closed[0, 0].numpy() > 0.5


def max_filter_cube(t, r: int):
    """Max over a (2r+1)^3 cube of a (1, 1, z, y, x) tensor, as three 1-D max-pools."""
    import torch.nn.functional as F

    k = 2 * r + 1
    t = F.max_pool3d(t, (k, 1, 1), stride=1, padding=(r, 0, 0))
    t = F.max_pool3d(t, (1, k, 1), stride=1, padding=(0, r, 0))
    return F.max_pool3d(t, (1, 1, k), stride=1, padding=(0, 0, r))


def _tidy(mask: np.ndarray, spacing: float) -> np.ndarray:
    """Rolling-ball closing, then fill what the lung encloses (vessels, lesions) in 3-D and
    small in-plane holes (vessels running to the hilum)."""
    r = max(int(round(0.8 * ROLLING_BALL_MM / spacing)), 1)  # a cube reaches further than a ball
    pad = r + 1
    sl = ndi.find_objects(mask.astype(np.uint8))[0]
    sl = tuple(slice(max(s.start - pad, 0), s.stop + pad) for s in sl)
    sub = _close_cube(np.pad(mask[sl], pad), r)[pad:-pad, pad:-pad, pad:-pad]
    sub = fill_holes(sub)
    sub = fill_holes(sub, per_slice=True, max_area=SMALL_HOLE_MM2 / spacing**2)
    out = np.zeros_like(mask)
    out[sl] = sub
    return out


# A costal bay larger than this in one slice is not a lesion pressed against the chest wall
# (a 50 mm consolidation flattened on the pleura leaves at most about this much outside a
# threshold mask); mediastinal and diaphragmatic recesses are larger still.
MAX_BAY_MM2 = 2500.0
# A lesion given back is at most this big in 3-D (a 50 mm consolidation is 65 ml).
MAX_BAY_ML = 80.0
# A bay shallower than this is the outline's own roughness (noise, partial volume at the ribs).
MIN_BAY_DEPTH_MM = 4.0
# Share of a bay's open side (its chord) that must lie on the outline of both lungs' hull:
# costal bays open onto the chest wall, the cardiac notch and the hilum open into the
# mediastinum, which lies inside that hull.
COSTAL_CHORD_SHARE = 0.5


def fill_costal_bays(
    left: np.ndarray, right: np.ndarray, body: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Give back dense tissue that indents a lung from the chest wall (juxtapleural lesions).

    A threshold mask leaves a subpleural nodule or consolidation outside the lung, as a bay in
    its outline or, where lung wraps round it in a slice, as a hole too big to be a vessel; a
    rolling ball fills only bays narrower than the ball. Per axial slice, each lung's convex
    hull minus the lung gives its bays and holes. A bay is a candidate when it is small
    (``MAX_BAY_MM2``), inside the body, away from the other lung, and opens onto the costal
    surface: most of its chord lies on the outline of the hull of both lungs (the cardiac
    notch, the hilum and the recess by the spine open inside that hull). In 3-D, a candidate
    region is lung when it is at most ``MAX_BAY_ML`` and does not run on into a rejected
    recess in the next slice: a diaphragm dome seen as a hole above its rejected lower part.
    """
    from skimage.morphology import convex_hull_image

    max_px = MAX_BAY_MM2 / spacing**2
    ring = np.ones((3, 3), bool)
    out = []
    for mine3, other3 in ((left, right), (right, left)):
        cand = np.zeros_like(mine3)
        rejected = np.zeros_like(mine3)
        for z in np.flatnonzero(mine3.any(axis=(1, 2))):
            mine, other = mine3[z], other3[z]
            if mine.sum() < 20:
                continue
            hull = convex_hull_image(mine)
            recess = hull & ~mine & body[z] & ~other
            lab, n = ndi.label(recess, structure=ring)
            if n == 0:
                continue
            near_other = ndi.binary_dilation(other, ring, iterations=2)
            outline = ndi.binary_dilation(~hull, ring) & hull
            depth = ndi.distance_transform_edt(hull) * spacing
            costal = ndi.binary_dilation(~convex_hull_image(mine | other), ring)
            for i, sl in enumerate(ndi.find_objects(lab), start=1):
                region = lab[sl] == i
                chord = region & outline[sl]
                ok = not (region & near_other[sl]).any()
                if chord.any():  # a bay: small, deep enough, and open onto the costal surface
                    ok &= region.sum() <= max_px and depth[sl][region].max() >= MIN_BAY_DEPTH_MM
                    ok &= (chord & costal[sl]).sum() >= COSTAL_CHORD_SHARE * chord.sum()
                if ok:
                    cand[z][sl] |= region
                elif not chord.any() or region.sum() > max_px:  # a recess, not roughness
                    rejected[z][sl] |= region
        lab, n = ndi.label(cand)
        if n:
            keep = _sizes(lab, n) * spacing**3 <= MAX_BAY_ML * 1000.0
            runs_on = ndi.binary_dilation(rejected, np.ones((3, 1, 1), bool))  # the next slices
            keep[np.unique(lab[runs_on & cand]) - 1] = False
            keep = np.concatenate([[False], keep])
            mine3 = mine3 | keep[lab]
        out.append(mine3)
    return out[0], out[1]
