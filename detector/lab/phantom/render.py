"""Rasterising a sampled chest (anatomy.py) on a voxel grid: HU of every tissue, the lungs and
airway masks, and the lesion when one is given."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from detector.lab.phantom.anatomy import COARSE_GRID, Anatomy, RenderResult
from detector.lab.phantom.grid import (
    Grid,
    composite,
    ellipsoid_occupancy,
    smoothstep,
    tube_occupancy,
)


def render(anatomy: Anatomy, grid: Grid, lesion=None) -> RenderResult:
    """Noise-free HU volume and masks on ``grid`` (lesion painted when given)."""
    p = anatomy.p
    nz, ny, nx = grid.shape
    hu = np.full(grid.shape, -1000.0, np.float32)
    med = anatomy.mediastinum_mask(grid)
    right = np.zeros(grid.shape, bool)
    left = np.zeros(grid.shape, bool)
    xs, ys, zs = grid.xs, grid.ys, grid.zs
    x2, y2 = xs[None, :], ys[:, None]
    ax2 = np.abs(x2)
    table_y = max(anatomy.body(float(z))[2] + anatomy.body(float(z))[1] for z in zs) + p["table_gap"]
    bub = None
    if p["gastric_bubble"]:
        bx, by = p["dome_x"] * 1.05, p["dome_y"] - 5
        bz = float(anatomy.dome(1, bx, by)) - 6 - 0.6 * p["bubble_r"]
        bub = (bx, by, bz, p["bubble_r"])
    for k, z in enumerate(zs):
        z = float(z)
        sl2 = hu[k]
        # table (carbon shell + foam) under the patient
        ty = (y2 >= table_y) & (y2 < table_y + 30) & (ax2 < 230)
        shell = ty & ((y2 < table_y + 3) | (y2 >= table_y + 27))
        np.copyto(sl2, np.float32(-880), where=np.broadcast_to(ty, sl2.shape))
        np.copyto(sl2, np.float32(120), where=np.broadcast_to(shell, sl2.shape))
        ab, bb, yb = anatomy.body(z)
        vb = y2 - yb
        vn = np.abs(vb) / bb
        body_s = (ax2 / ab) ** 2 + np.where(vb > 0, vn**3, vn**2)
        body = body_s < 1.0
        sl2[body] = p["hu_fat"]
        f = p["fat"]
        ai, bi, ybi = ab - f, bb - 0.75 * f, yb + 0.25 * f
        vb = y2 - ybi
        vn = np.abs(vb) / bi
        muscle = ((ax2 / ai) ** 2 + np.where(vb > 0, vn**3, vn**2)) < 1.0
        sl2[muscle] = p["hu_muscle"]
        a, b, yc = anatomy.cavity(z)
        n = p["n_cav"]
        cav = ((ax2 / a) ** n + (np.abs(y2 - yc) / b) ** n) < 1.0
        neck = float(smoothstep(min(p["z_apex_r"], p["z_apex_l"]) - 25, p["z_apex_r"] + 30, z))
        sl2[cav] = p["hu_medfat"] * (1 - neck) + (p["hu_muscle"] - 10) * neck
        # hemidiaphragms, liver, spleen/stomach
        d_r = anatomy.dome(-1, x2, y2)
        d_l = anatomy.dome(1, x2, y2)
        dz = np.maximum(d_r, d_l)
        below = cav & (z < dz)
        if below.any():
            sl2[below] = p["hu_muscle"]
            abd = cav & (z < dz - 5)
            liver = abd & (x2 < 18 + 0.25 * (y2 - yc))
            sl2[liver] = p["hu_liver"]
            sl2[abd & ~liver] = p["hu_spleen"]
            if bub is not None and abs(z - bub[2]) < bub[3]:
                rr = bub[3] ** 2 - (z - bub[2]) ** 2
                air = abd & (((x2 - bub[0]) ** 2 + (y2 - bub[1]) ** 2 * 1.4) < rr) & (z > bub[2] - 2)
                sl2[air] = -1000.0
        # lungs with a posterior (gravity) density gradient
        r_k, l_k = anatomy.slice_lungs(z, x2, y2, med[k])
        right[k], left[k] = r_k, l_k
        lung = r_k | l_k
        if lung.any():
            g = np.clip((y2 - (yc - b)) / (2 * b), 0, 1) - 0.5
            par = (p["hu_lung"] + p["lung_grad"] * g).astype(np.float32)
            sl2[lung] = np.broadcast_to(par, sl2.shape)[lung]
    lungs = right | left
    _add_texture(anatomy, hu, grid, lungs)
    # mediastinal organs (never over the lungs; bones are painted after)
    for e in anatomy.ellipsoids:
        res = ellipsoid_occupancy(grid, e.center, e.axes, e.rot_z_deg)
        if res is not None:
            composite(hu, res[0], res[1], e.hu, where=~lungs[res[0]])
    for t in anatomy.tubes:
        if t.hu is None:
            continue
        for a, b in t.segments():
            res = tube_occupancy(grid, a, b, t.radius, t.radius)
            if res is not None:
                composite(hu, res[0], res[1], t.hu, where=~lungs[res[0]])
    _paint_bones(anatomy, hu, grid, x2, y2, ax2)
    if lesion is not None:
        lesion.paint_parenchyma(hu, grid, right if lesion.side == "right" else left)
    # pulmonary vessels: confined to the lungs and the mediastinum
    vessels = np.zeros(grid.shape, bool)
    allowed = lungs | med
    vs = anatomy.vessel_segs
    blood = p["hu_blood"]
    for i in range(len(vs)):
        res = tube_occupancy(grid, vs.a[i], vs.b[i], vs.ra[i], vs.rb[i])
        if res is None:
            continue
        sl, occ = res
        occ *= allowed[sl]
        composite(hu, sl, occ, blood)
        vessels[sl] |= occ >= 0.5
    vessels &= lungs
    airways = _paint_airways(anatomy, hu, grid, allowed)
    if lesion is not None:
        lesion.paint_solid(hu, grid, right if lesion.side == "right" else left)
    return RenderResult(hu, right, left, airways, vessels, med)


def _add_texture(anatomy: Anatomy, hu: np.ndarray, grid: Grid, lungs: np.ndarray) -> None:
    """Add the coarse-grid heterogeneity field to the lung voxels (trilinear)."""
    if anatomy.texture is None:
        return
    g = COARSE_GRID
    s = np.asarray(g.spacing_zyx)
    o = np.asarray(g.origin_xyz)[::-1]
    for k in np.flatnonzero(lungs.any(axis=(1, 2))):
        iy, ix = np.nonzero(lungs[k])
        c = np.empty((3, len(iy)), np.float32)
        c[0] = (grid.zs[k] - o[0]) / s[0]
        c[1] = (grid.ys[iy] - o[1]) / s[1]
        c[2] = (grid.xs[ix] - o[2]) / s[2]
        hu[k, iy, ix] += ndimage.map_coordinates(anatomy.texture, c, order=1, mode="nearest")


def _airway_list(anatomy: Anatomy):
    """(a, b, ra, rb) lumen capsules: trachea, left main bronchus, bronchial trees."""
    p = anatomy.p
    out = []
    tr = np.asarray(p["trachea_pts"])
    for a, b in zip(tr[:-1], tr[1:], strict=True):
        out.append((a, b, p["trachea_r"], p["trachea_r"]))
    c, m, _, r = p["lmb"]
    out.append((np.asarray(c), np.asarray(m), r, r))
    s = anatomy.airway_segs
    for i in range(len(s)):
        out.append((s.a[i], s.b[i], s.ra[i], s.rb[i]))
    return out


def _paint_airways(anatomy: Anatomy, hu, grid: Grid, allowed) -> np.ndarray:
    p = anatomy.p
    lumen_mask = np.zeros(grid.shape, bool)
    caps = _airway_list(anatomy)
    for a, b, ra, rb in caps:
        w = 0.6 + 0.2 * max(ra, rb)
        res = tube_occupancy(grid, a, b, ra + w, rb + w)
        if res is not None:
            sl, occ = res
            composite(hu, sl, occ * allowed[sl], p["hu_airwall"])
    for a, b, ra, rb in caps:
        res = tube_occupancy(grid, a, b, ra, rb)
        if res is not None:
            sl, occ = res
            occ *= allowed[sl]
            composite(hu, sl, occ, -1000.0)
            lumen_mask[sl] |= occ >= 0.5
    return lumen_mask


def _paint_bones(anatomy: Anatomy, hu, grid: Grid, x2, y2, ax2) -> None:
    p = anatomy.p
    cort, marrow = p["hu_cortex"], p["hu_marrow"]
    n = p["n_cav"]
    dz_rib = p["rib_dz"]
    rib_z0 = [p["rib_top"] - i * dz_rib for i in range(12)]
    rib_drop = [p["rib_drop"] + 3.0 * i * p["ls"] for i in range(12)]
    phi_end = [2.35] * 7 + [2.2] * 3 + [1.75] * 2
    phi_cart = [2.95] * 7 + [2.75] * 3 + [0.0] * 2
    hz, hr = p["rib_hz"], p["rib_hr"]
    for k, z in enumerate(grid.zs):
        z = float(z)
        sl2 = hu[k]
        a, b, yc = anatomy.cavity(z)
        # --- ribs, in a ring just outside the cavity
        dy = y2 - yc
        s = (ax2 / a) ** n + (np.abs(dy) / b) ** n
        ring = (s >= 1.0) & (s < (1.0 + 22.0 / min(a, b)) ** n)
        iy, ix = np.nonzero(ring)
        if len(iy):
            xr = ax2[0, ix]
            yr = dy[iy, 0]
            sv = s[iy, ix]
            r = np.sqrt(xr * xr + yr * yr)
            off = r * (1.0 - sv ** (-1.0 / n))
            cphi = yr / np.maximum(r, 1e-3)
            phi = np.arccos(np.clip(cphi, -1, 1))
            sgn = (x2[0, ix] > 0).astype(int)
            val = np.full(len(iy), np.nan, np.float32)
            for i in range(12):
                if not (rib_z0[i] - rib_drop[i] - 2 * hz < z < rib_z0[i] + 2 * hz):
                    continue
                jit = np.asarray(p["rib_jit"][i])[sgn]
                zc = rib_z0[i] + jit - rib_drop[i] * 0.5 * (1 - cphi)
                e2 = ((off - 5.0) / hr) ** 2 + ((z - zc) / hz) ** 2
                in_rib = (e2 < 1.0) & (phi > 0.3)
                bone = in_rib & (phi < phi_end[i])
                cart = in_rib & (phi >= phi_end[i]) & (phi < phi_cart[i])
                val[bone] = np.where(e2[bone] > 0.4, cort, marrow)
                val[cart] = 110.0
                # scapula: a thin plate behind the upper ribs, posterolaterally
            if p["scapula"]:
                top = p["z_apex_r"] + 5
                frac = (top - z) / 140.0
                if 0 <= frac <= 1:
                    lo, hi = 0.55 + 0.35 * frac, 1.35 - 0.3 * frac
                    plate = (off > 13) & (off < 16.5) & (phi > lo) & (phi < hi)
                    val[plate] = 0.7 * cort
            ok = ~np.isnan(val)
            sl2[iy[ok], ix[ok]] = val[ok]
        # --- vertebra: body (or disc), canal, arch, processes
        yv, rv = anatomy.spine_y(z)
        lev = (p["rib_top"] - z) / dz_rib
        frac = lev - np.floor(lev)  # 0 at a rib level (vertebra middle)
        dist_mid = min(frac, 1 - frac) * dz_rib
        disc = abs(dist_mid - 0.5 * dz_rib) < 3.0
        d = np.sqrt(x2 * x2 + (y2 - yv) ** 2)
        vbody = d < rv
        if disc:
            sl2[vbody] = 85.0
        else:
            sl2[vbody] = marrow
            sl2[vbody & (d > rv - 2.0)] = cort * 0.85
        yc_can = yv + rv + 9.0
        dc = np.sqrt(x2 * x2 + (y2 - yc_can) ** 2)
        sl2[dc < 8.0] = 25.0
        if dist_mid < 10.0:
            arch = (dc >= 8.0) & (dc < 13.0)
            sl2[arch] = cort * 0.8
            if dist_mid < 7.0:
                spin = (ax2 < 4.0 - 0.06 * (y2 - yc_can)) & (y2 > yc_can + 10) & (y2 < yc_can + 28)
                trans = (ax2 > 9) & (ax2 < 30) & (np.abs(y2 - yc_can + 2) < 4.5)
                sl2[spin | trans] = cort * 0.75
        # --- sternum
        if p["sternum_bot"] < z < p["sternum_top"]:
            t = (z - p["sternum_bot"]) / (p["sternum_top"] - p["sternum_bot"])
            hw = 11.0 + 10.0 * max(0.0, t - 0.7) / 0.3
            ys = yc - b - 7.0
            e2 = (x2 / hw) ** 2 + ((y2 - ys) / 6.0) ** 2
            sl2[e2 < 1.0] = marrow
            sl2[(e2 < 1.0) & (e2 > 0.5)] = cort * 0.8
