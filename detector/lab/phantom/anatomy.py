"""A randomised adult chest, defined in millimetres and rasterised on any voxel grid.

Frame: X towards the patient's left, Y posterior, Z superior (the LPS axes), origin on the
midline at the carina. Everything here is a function of (X, Y, Z) in mm, so one patient
(one seed) has the same anatomy on the "tiny", "small" and "full" grids.

Contents: elliptical torso with skin fat and muscle, 12 pairs of sloping ribs with cortex
and marrow and costal cartilages, vertebral column (bodies, discs, canal, arches,
spinous/transverse processes), sternum, scapulae; mediastinum (heart, ascending
aorta/arch/descending aorta, great vessels, SVC, pulmonary trunk and arteries, left atrium
and pulmonary veins, oesophagus); domed hemidiaphragms (right higher) over liver and
spleen/stomach; two lungs (narrow apices, broad domed bases, concave mediastinal
surfaces, right larger) with a posterior gravity gradient; trachea, carina, main bronchi
and a bronchial tree; arterial and venous trees from each hilum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from detector.lab.phantom.grid import (
    Grid,
    ellipsoid_occupancy,
    smoothstep,
    tube_distance,
)
from detector.lab.phantom.trees import Segments, grow_tree

# Coarse grid on which the lungs are evaluated to grow trees and place lesions. It does
# not depend on the output size, so the same seed gives the same trees on every grid.
COARSE_MM = 3.0
COARSE_GRID = Grid(
    shape=(int(470 / COARSE_MM), int(270 / COARSE_MM), int(360 / COARSE_MM)),
    spacing_zyx=(COARSE_MM, COARSE_MM, COARSE_MM),
    origin_xyz=(-180.0, -135.0, -265.0),
)


@dataclass
class Tube:
    """A chain of capsules (points in frame mm) with one radius, painted with ``hu``."""

    points: np.ndarray
    radius: float
    hu: float | None  # None: only shapes the lungs (e.g. the spine, painted as bone)
    margin: float = 3.0  # lung stays this far away (pleura + mediastinal fat)

    def segments(self):
        yield from zip(self.points[:-1], self.points[1:], strict=True)


@dataclass
class Ellipsoid:
    center: np.ndarray
    axes: np.ndarray
    rot_z_deg: float
    hu: float | None
    margin: float = 3.0


@dataclass
class RenderResult:
    hu: np.ndarray
    lung_right: np.ndarray  # lung regions (airway lumen not yet removed)
    lung_left: np.ndarray
    airways: np.ndarray
    vessels: np.ndarray
    mediastinum: np.ndarray


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


@dataclass
class Anatomy:
    """All random anatomy of one patient; build with :meth:`sample`."""

    p: dict = field(default_factory=dict)
    tubes: list = field(default_factory=list)
    ellipsoids: list = field(default_factory=list)
    airway_segs: Segments | None = None
    airway_walls: np.ndarray | None = None
    vessel_segs: Segments | None = None
    hilum: dict = field(default_factory=dict)  # side -> frame mm
    lung_z_range: tuple[float, float] = (0.0, 0.0)
    coarse_lungs: dict = field(default_factory=dict)  # side -> bool on COARSE_GRID
    texture: np.ndarray | None = field(default=None, repr=False)  # HU on COARSE_GRID
    cache: dict = field(default_factory=dict, repr=False)  # derived data (placement maps)

    # ------------------------------------------------------------------ sampling
    @classmethod
    def sample(cls, rng: np.random.Generator) -> Anatomy:
        a = cls()
        p = a.p
        # thoracic cavity (inner surface of the ribs) at mid-chest: half width / half depth
        p["cav_a"] = _u(rng, 123, 140)
        p["cav_b"] = _u(rng, 82, 96)
        p["ls"] = _u(rng, 0.95, 1.1)  # craniocaudal lung scale
        sx, sy, ls = p["cav_a"] / 129.0, p["cav_b"] / 87.0, p["ls"]
        p["sx"], p["sy"] = sx, sy
        p["fat"] = _u(rng, 4, 22)
        p["m_lat"] = _u(rng, 5, 10)
        p["m_ant"] = _u(rng, 6, 12)
        p["m_post"] = _u(rng, 22, 32)
        p["n_cav"] = _u(rng, 2.2, 2.7)
        # lungs
        p["z_apex_r"] = 104 * ls + _u(rng, -6, 6)
        p["z_apex_l"] = p["z_apex_r"] + _u(rng, -4, 6)
        p["apex_x"] = 50 * sx + _u(rng, -5, 5)
        p["apex_y"] = _u(rng, 15, 35)
        p["apex_r"] = _u(rng, 45, 58) * sx
        p["apex_h"] = _u(rng, 50, 70) * ls
        p["z_dome_r"] = -88 * ls + _u(rng, -8, 8)
        p["z_dome_l"] = p["z_dome_r"] - _u(rng, 5, 20)
        p["dome_x"] = 55 * sx + _u(rng, -6, 6)
        p["dome_y"] = _u(rng, -25, -5)
        p["dome_ax"] = _u(rng, 78, 95) * sx
        p["dome_ay"] = _u(rng, 85, 105) * sy
        p["dome_h"] = _u(rng, 38, 55) * ls
        p["strip_ant"] = _u(rng, 1.5, 4)
        p["strip_mid"] = _u(rng, 3, 6)
        # tissue values (HU)
        p["hu_fat"] = _u(rng, -115, -85)
        p["hu_muscle"] = _u(rng, 35, 55)
        p["hu_liver"] = _u(rng, 48, 68)
        p["hu_spleen"] = _u(rng, 35, 50)
        p["hu_blood"] = _u(rng, 32, 48)
        p["hu_medfat"] = _u(rng, -105, -75)
        p["hu_lung"] = _u(rng, -880, -820)
        p["lung_grad"] = _u(rng, 25, 70)
        p["hu_cortex"] = _u(rng, 700, 1000)
        p["hu_marrow"] = _u(rng, 170, 280)
        p["hu_airwall"] = _u(rng, -50, 40)
        # ribs and spine
        p["rib_dz"] = _u(rng, 21, 25) * ls
        p["rib_top"] = p["z_apex_r"] + _u(rng, -4, 8)
        p["rib_drop"] = _u(rng, 38, 58) * ls
        p["rib_hz"] = _u(rng, 4.5, 6.0)
        p["rib_hr"] = _u(rng, 3.2, 4.2)
        p["rib_jit"] = rng.uniform(-3, 3, size=(12, 2)).tolist()
        p["r_vb"] = _u(rng, 15, 19)
        p["sternum_top"] = _u(rng, 40, 70) * ls
        p["sternum_bot"] = _u(rng, -125, -95) * ls
        p["scapula"] = bool(rng.random() < 0.85)
        p["gastric_bubble"] = bool(rng.random() < 0.4)
        p["bubble_r"] = _u(rng, 10, 22)
        p["table_gap"] = _u(rng, 0, 4)
        a._build_mediastinum(rng)
        a._build_lungs_and_trees(rng)
        # subtle low-frequency parenchymal heterogeneity (HU), defined in mm
        tex = rng.standard_normal(COARSE_GRID.shape, dtype=np.float32)
        tex = ndimage.gaussian_filter(tex, 2.0, truncate=3.0)
        tex *= np.float32(_u(rng, 4.0, 10.0) / tex.std())
        a.texture = tex
        return a

    # ------------------------------------------------------------ profiles (per Z)
    def cavity(self, z: float) -> tuple[float, float, float]:
        """Half-width, half-depth and centre Y of the thoracic cavity at height Z."""
        p = self.p
        s = float(smoothstep(-60 * p["ls"], max(p["z_apex_r"], p["z_apex_l"]) + 30, z))
        a = p["cav_a"] * (1 - 0.32 * s**1.5)
        b = p["cav_b"] * (1 - 0.18 * s)
        return a, b, 6.0 * s

    def body(self, z: float) -> tuple[float, float, float]:
        p = self.p
        a, b, yc = self.cavity(z)
        neck = float(smoothstep(p["z_apex_r"] + 10, p["z_apex_r"] + 80, z))
        t_lat = p["m_lat"] + 12 + p["fat"]
        t_ant = p["m_ant"] + 10 + p["fat"]
        t_post = p["m_post"] + 10 + 0.5 * p["fat"]
        ab = (a + t_lat) * (1 - 0.2 * neck)
        bb = b + 0.5 * (t_ant + t_post)
        yb = yc + 0.5 * (t_post - t_ant)
        return ab, bb, yb

    def spine_y(self, z: float) -> tuple[float, float]:
        """Centre Y and radius of the vertebral body at height Z."""
        a, b, yc = self.cavity(z)
        r = self.p["r_vb"] * (1 + 0.12 * float(np.clip(-z / 150, -1, 1.5)))
        return yc + b - 0.85 * r, r

    def dome(self, side: int, x, y):
        """Hemidiaphragm height (mm) under the lung of ``side`` (+1 left, -1 right)."""
        p = self.p
        z0 = p["z_dome_l"] if side > 0 else p["z_dome_r"]
        q = ((x - side * p["dome_x"]) / p["dome_ax"]) ** 2 + ((y - p["dome_y"]) / p["dome_ay"]) ** 2
        return z0 - p["dome_h"] * np.minimum(q, 2.2)

    def apex(self, side: int, x, y):
        """Height (mm) of the top surface of the lung of ``side`` (paraboloid apex)."""
        p = self.p
        z0 = p["z_apex_l"] if side > 0 else p["z_apex_r"]
        q = np.sqrt((x - side * p["apex_x"]) ** 2 + (1.1 * (y - p["apex_y"])) ** 2) / p["apex_r"]
        # paraboloid dome near the top, opening up linearly further down
        return z0 - p["apex_h"] * np.where(q < 1, q * q, 0.5 + 0.5 * q)

    # ------------------------------------------------------------- mediastinum
    def _build_mediastinum(self, rng) -> None:
        p = self.p
        sx, sy, ls = p["sx"], p["sy"], p["ls"]

        def pt(x, y, z, j=3.0):
            return np.array([x * sx + rng.normal(0, j), y * sy + rng.normal(0, j), z * ls + rng.normal(0, j)])

        blood = p["hu_blood"]
        tubes = self.tubes
        # vertebral column (painted as bone later; here it only shapes the lungs)
        zs = np.arange(-300, 260, 20.0)
        spine = np.array([[0.0, self.spine_y(z)[0], z] for z in zs])
        tubes.append(Tube(spine, p["r_vb"] * 1.1, None, margin=3.0))
        vb_y0, rvb0 = self.spine_y(0.0)
        # trachea and oesophagus
        yt = vb_y0 - rvb0 - _u(rng, 24, 30)
        p["trachea_y"] = yt
        p["trachea_r"] = _u(rng, 7.5, 10.0)
        carina = np.array([rng.normal(0, 1.5), yt + 4, 0.0])
        self.hilum["carina"] = carina
        trachea = np.array([[0, yt - 10, 260.0], [0, yt - 4, 90], [0, yt, 30], carina])
        tubes.append(Tube(trachea, p["trachea_r"] + 2.5, None, margin=3.0))
        p["trachea_pts"] = trachea.tolist()
        oes = np.array([[6 * sx, self.spine_y(z)[0] - self.spine_y(z)[1] - 8, z] for z in zs])
        tubes.append(Tube(oes, _u(rng, 6, 9), p["hu_muscle"] - 5, margin=2.5))
        # aorta: ascending, arch, descending (left-anterolateral of the spine)
        r_ao = _u(rng, 11, 14.5)
        xd, yd = rvb0 + r_ao - 2, vb_y0 - 0.4 * rvb0
        asc = [pt(-2, -32, -42), pt(-16, -28, -5), pt(-12, -22, 28), pt(4, -2, 44)]
        arch = [pt(20, 22, 38), np.array([xd, yd, 20 * ls])]
        desc = [
            np.array([xd + 3 * np.sin(z / 80), self.spine_y(z)[0] - 0.4 * rvb0, z])
            for z in np.arange(0.0, -300, -25)
        ]
        tubes.append(Tube(np.array(asc + arch + desc), r_ao, blood))
        # great vessels and SVC
        tubes.append(Tube(np.array([pt(-6, -14, 42), pt(-24, -8, 120), pt(-30, -5, 220)]), 6.5, blood))
        tubes.append(Tube(np.array([pt(6, -8, 44), pt(14, -2, 120), pt(16, 0, 220)]), 5.0, blood))
        tubes.append(Tube(np.array([pt(16, 8, 40), pt(36, 14, 100), pt(48, 15, 200)]), 5.5, blood))
        tubes.append(Tube(np.array([pt(40, -32, 72), pt(-26, -26, 62), pt(-32, -18, 40)]), 6.5, blood))
        tubes.append(
            Tube(np.array([pt(-42, -20, 140), pt(-33, -18, 40), pt(-31, -12, -38)]), _u(rng, 8, 11), blood)
        )
        # pulmonary trunk and arteries; left atrium and pulmonary veins
        r_pa = _u(rng, 12, 15)
        tubes.append(Tube(np.array([pt(6, -46, -46), pt(12, -22, -12)]), r_pa, blood))
        hil_ra = pt(-50, 8, -18)
        hil_la = pt(46, 16, -6)
        tubes.append(Tube(np.array([pt(8, -15, -12), pt(-25, 2, -15), hil_ra]), 0.7 * r_pa, blood))
        tubes.append(Tube(np.array([pt(14, -16, -10), pt(30, 4, -2), hil_la]), 0.65 * r_pa, blood))
        la = pt(6, 16, -58)
        hil_rv = pt(-46, 20, -52)
        hil_lv = pt(44, 24, -46)
        tubes.append(Tube(np.array([la, hil_rv]), 7.5, blood))
        tubes.append(Tube(np.array([la, hil_lv]), 7.0, blood))
        self.ellipsoids.append(Ellipsoid(la, np.array([32 * sx, 18 * sy, 20 * ls]), 0.0, blood))
        self.hilum.update(art_r=hil_ra, art_l=hil_la, vein_r=hil_rv, vein_l=hil_lv)
        # heart: long axis from posterior-right-superior to anterior-left-inferior
        heart_c = pt(27, -30, -72, j=5)
        heart_ax = np.array([_u(rng, 62, 76) * sx, _u(rng, 46, 56) * sy, _u(rng, 40, 48) * ls])
        self.ellipsoids.append(Ellipsoid(heart_c, heart_ax, _u(rng, -40, -25), blood + 2))
        # main bronchi (lumen radius; walls added when painting)
        r_rmb, r_lmb = _u(rng, 6.0, 7.5), _u(rng, 5.2, 6.6)
        rmb_end = carina + np.array([-26 * sx, 5, -20 * ls]) + rng.normal(0, 2, 3)
        lmb_mid = carina + np.array([22 * sx, 8, -14 * ls])
        lmb_end = carina + np.array([40 * sx, 13, -32 * ls]) + rng.normal(0, 2, 3)
        self.hilum.update(bronchus_r=rmb_end, bronchus_l=lmb_end)
        p["rmb"] = (carina.tolist(), rmb_end.tolist(), r_rmb)
        p["lmb"] = (carina.tolist(), lmb_mid.tolist(), lmb_end.tolist(), r_lmb)

    # ------------------------------------------------------ lungs (per slice)
    def slice_lungs(self, z: float, x2, y2, med: np.ndarray | None):
        """Boolean right/left lung regions of one axial slice (x2: [1,nx], y2: [ny,1])."""
        p = self.p
        zmax = max(p["z_apex_r"], p["z_apex_l"])
        zmin = min(p["z_dome_r"], p["z_dome_l"]) - 2.3 * p["dome_h"]
        shape = (y2.shape[0], x2.shape[1])
        if z > zmax or z < zmin:
            f = np.zeros(shape, bool)
            return f, f.copy()
        a, b, yc = self.cavity(z)
        n = p["n_cav"]
        u = np.abs(x2 / (a - 2.0))
        v = np.abs((y2 - yc) / (b - 2.0))
        inside = (u**n + v**n) < 1.0
        y_rel = (y2 - (yc - b)) / (2 * b)  # 0 anterior .. 1 posterior
        half = np.where(y_rel < 0.35, p["strip_ant"], p["strip_mid"]).astype(np.float32)
        out = []
        for side in (-1, 1):
            m = inside & (side * x2 > half)
            m &= z > self.dome(side, x2, y2)
            m &= z < self.apex(side, x2, y2)
            if med is not None:
                m &= ~med
            out.append(m)
        return out[0], out[1]

    def mediastinum_mask(self, grid: Grid) -> np.ndarray:
        """Bool mask of mediastinal structures dilated by their lung margins."""
        med = np.zeros(grid.shape, bool)
        for t in self.tubes:
            r = t.radius + t.margin
            for a, b in t.segments():
                sl = grid.box(np.minimum(a, b) - r, np.maximum(a, b) + r)
                if sl is None:
                    continue
                d, _ = tube_distance(grid, sl, a, b)
                med[sl] |= d < r
        for e in self.ellipsoids:
            res = ellipsoid_occupancy(grid, e.center, e.axes + e.margin, e.rot_z_deg, width=1e-3)
            if res is not None:
                sl, occ = res
                med[sl] |= occ > 0.5
        for key in ("rmb", "lmb"):
            pts = self.p[key]
            r = pts[-1] + 2.5
            for a, b in zip(pts[:-2], pts[1:-1], strict=True):
                a, b = np.asarray(a), np.asarray(b)
                sl = grid.box(np.minimum(a, b) - r, np.maximum(a, b) + r)
                if sl is not None:
                    d, _ = tube_distance(grid, sl, a, b)
                    med[sl] |= d < r
        return med

    def lung_regions(self, grid: Grid, med: np.ndarray | None = None):
        if med is None:
            med = self.mediastinum_mask(grid)
        x2 = grid.xs[None, :]
        y2 = grid.ys[:, None]
        right = np.zeros(grid.shape, bool)
        left = np.zeros(grid.shape, bool)
        for k, z in enumerate(grid.zs):
            right[k], left[k] = self.slice_lungs(float(z), x2, y2, med[k])
        return right, left

    # -------------------------------------------------------------- trees
    def _build_lungs_and_trees(self, rng) -> None:
        g = COARSE_GRID
        right, left = self.lung_regions(g)
        self.coarse_lungs = {"right": right, "left": left}
        zz = np.nonzero((right | left).any(axis=(1, 2)))[0]
        self.lung_z_range = (float(g.zs[zz[0]]), float(g.zs[zz[-1]]))
        for side, m in (("right", right), ("left", left)):
            idx = np.argwhere(m)
            self.hilum[f"centroid_{side}"] = g.index_to_frame(idx.mean(axis=0))

        ox, oy, oz = g.origin_xyz
        sz, sy_, sx_ = g.spacing_zyx
        nz, ny, nx = g.shape

        def inside_fn(mask):
            def inside(p) -> bool:
                k = round((float(p[2]) - oz) / sz)
                j = round((float(p[1]) - oy) / sy_)
                i = round((float(p[0]) - ox) / sx_)
                return 0 <= k < nz and 0 <= j < ny and 0 <= i < nx and bool(mask[k, j, i])

            return inside

        def points(mask, n):
            idx = np.argwhere(mask)
            pick = rng.choice(len(idx), size=min(n, len(idx)), replace=False)
            return g.index_to_frame(idx[pick] + rng.uniform(-0.5, 0.5, (len(pick), 3)))

        p = self.p
        vessels = Segments.from_list([])
        airways = Segments.from_list([])
        for side, sgn in (("right", -1), ("left", 1)):
            m = self.coarse_lungs[side]
            inside = inside_fn(m)
            # bronchial tree: main bronchus is the root segment
            if side == "right":
                c, e, r = p["rmb"]
                root_a, root_b = np.asarray(c), np.asarray(e)
            else:
                c, mid, e, r = p["lmb"]
                root_a, root_b = np.asarray(mid), np.asarray(e)
            t = grow_tree(
                rng,
                root_a,
                root_b,
                points(m, 1200),
                inside,
                r_root=r,
                r_min=1.1,
                min_points=28,
                max_gen=7,
                step=(0.3, 0.5),
                jitter=0.08,
            )
            airways = airways.concat(t)
            # arteries and veins: root from the mediastinal end of the hilar vessel
            for kind, r0 in (("art", _u(rng, 6.5, 8.0)), ("vein", _u(rng, 5.5, 7.0))):
                hil = self.hilum[f"{kind}_{side[0]}"]
                start = hil - np.array([sgn * 12.0, 0.0, 0.0])
                t = grow_tree(
                    rng,
                    start,
                    hil,
                    points(m, 1800),
                    inside,
                    r_root=r0,
                    r_min=0.5,
                    min_points=4,
                    max_gen=11,
                    step=(0.3, 0.5),
                    murray=0.4,
                    twigs=3,
                )
                vessels = vessels.concat(t)
        self.vessel_segs = vessels
        self.airway_segs = airways

    def render(self, grid: Grid, lesion=None) -> RenderResult:
        """Noise-free HU volume and masks on ``grid`` (lesion painted when given): render.py."""
        from detector.lab.phantom.render import render  # here: render.py imports this module

        return render(self, grid, lesion)
