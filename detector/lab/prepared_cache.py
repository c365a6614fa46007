"""A disk cache of prepared studies (working grid + lung mask) for repeated lab runs.

Reading a series, resampling it and segmenting its lungs does not depend on the model being
judged, yet every candidate of an experiment re-did it for the same studies (about 2.5 s of a
small study's 14.7 s in ``tune``; docs/results.md, session 15). ``train``, ``tune`` and
``evaluate`` take ``--cache DIR`` to keep it between runs. An entry is only used when
everything it was made from is unchanged: the study's files (names, sizes, modification
times), the two settings ``prepare`` reads, and the source of the engine modules that read,
resample and segment.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

import detector.geometry
import detector.io
import detector.lungmask
import detector.pipeline
import detector.preprocess
from detector.geometry import CTVolume, Geometry
from detector.io import read_volume
from detector.lungmask import LungMask
from detector.pipeline import Prepared, prepare

_ENGINE_MODULES = (detector.geometry, detector.lungmask, detector.pipeline, detector.preprocess)
# Entries of an older layout are simply missed, not misread.
_FORMAT = 2
_MASKS = ("left", "right", "airways")


def _code_fingerprint() -> str:
    """Hash of the source that decides a prepared study: io, geometry, resampling, lung mask."""
    files = [Path(m.__file__) for m in _ENGINE_MODULES]
    files += sorted(Path(detector.io.__file__).parent.glob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _study_fingerprint(study: Path) -> list:
    """Names, sizes and modification times of a study's files (a folder or one file)."""
    paths = sorted(p for p in study.rglob("*") if p.is_file()) if study.is_dir() else [study]
    return [[str(p.relative_to(study) if study.is_dir() else p.name), *_stat(p)] for p in paths]


def _stat(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_size, st.st_mtime_ns


class PreparedCache:
    """``prepared(study, settings)``: the study's ``Prepared``, from the cache when still valid."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._code = _code_fingerprint()
        self.hits = 0
        self.misses = 0

    def key(self, study: Path | str, settings) -> str:
        study = Path(study).resolve()
        payload = {
            "study": str(study),
            "files": _study_fingerprint(study),
            "working_spacing_mm": settings.working_spacing_mm,
            "lung_threshold_hu": settings.lung_threshold_hu,
            "code": self._code,
            "format": _FORMAT,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def prepared(self, study: Path | str, settings) -> Prepared:
        path = self.root / f"{self.key(study, settings)}.npz"
        if path.exists():
            self.hits += 1
            return _load(path)
        self.misses += 1
        prep = prepare(read_volume(study), settings.working_spacing_mm, settings.lung_threshold_hu)
        _save(prep, path)
        return prep


def _save(prep: Prepared, path: Path) -> None:
    tmp = path.with_suffix(".tmp.npz")
    header = {"geometry": prep.working.geometry.to_dict(), "meta": prep.working.meta}
    # The lab's three cohorts fill about 23 GB, as much as this machine's RAM: reading is disk-bound;
    # masks are stored one bit a voxel (lossless); HU stays float32 because resampled HU is not
    # integral and rounding it would change results.
    masks = {name: np.packbits(getattr(prep.lungs, name), axis=None) for name in _MASKS}
    np.savez(
        tmp,
        hu=prep.working.hu,
        **masks,
        header=np.array(json.dumps(header, default=str)),
    )
    os.replace(tmp, path)  # a run killed mid-write leaves no half entry behind


def _load(path: Path) -> Prepared:
    with np.load(path) as z:
        header = json.loads(str(z["header"]))
        hu = z["hu"]
        working = CTVolume(hu, Geometry.from_dict(header["geometry"]), header["meta"])
        masks = [_unpack(z[name], hu.shape) for name in _MASKS]
        return Prepared(working, LungMask(*masks))


def _unpack(bits: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).view(bool)
