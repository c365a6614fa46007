"""The lab's prepared-study cache: what it returns scores exactly as a fresh read does, and an
entry is not used once the study or a setting it was made with changes."""

import os

import numpy as np
import pytest
import torch

import detector.lab.prepared_cache as prepared_cache
from detector.cohort import discover
from detector.io import read_volume
from detector.lab.phantom import generate_cohort
from detector.lab.prepared_cache import PreparedCache
from detector.pipeline import prepare
from detector.settings import TEST_SETTINGS


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cached")
    generate_cohort(root, 1, 1, seed=731, size="tiny", progress=False)
    return root


def _counting_reads(monkeypatch) -> list:
    calls: list = []

    def counted(study):
        calls.append(study)
        return read_volume(study)

    monkeypatch.setattr(prepared_cache, "read_volume", counted)
    return calls


def test_a_cached_study_is_the_study_read_afresh(cohort, tmp_path, monkeypatch):
    s = TEST_SETTINGS
    study = discover(cohort)[0].folder
    reads = _counting_reads(monkeypatch)
    fresh = prepare(read_volume(study), s.working_spacing_mm, s.lung_threshold_hu)
    first = PreparedCache(tmp_path).prepared(study, s)
    cache = PreparedCache(tmp_path)
    again = cache.prepared(study, s)
    assert len(reads) == 1 and (cache.hits, cache.misses) == (1, 0)
    for got in (first, again):
        assert got.working.hu.dtype == fresh.working.hu.dtype
        np.testing.assert_array_equal(got.working.hu, fresh.working.hu)
        assert got.working.geometry == fresh.working.geometry
        for part in ("left", "right", "airways"):
            assert getattr(got.lungs, part).dtype == bool
            np.testing.assert_array_equal(getattr(got.lungs, part), getattr(fresh.lungs, part))
    assert again.working.meta["patient_id"] == fresh.working.meta["patient_id"]


def test_masks_are_stored_one_bit_a_voxel(cohort, tmp_path):
    s = TEST_SETTINGS
    PreparedCache(tmp_path).prepared(discover(cohort)[0].folder, s)
    (entry,) = tmp_path.glob("*.npz")
    with np.load(entry) as z:
        voxels = z["hu"].size
        for part in ("left", "right", "airways"):
            assert z[part].dtype == np.uint8 and z[part].size == -(-voxels // 8)


def test_an_entry_is_not_used_once_its_inputs_change(cohort, tmp_path, monkeypatch):
    s = TEST_SETTINGS
    study = discover(cohort)[0].folder
    reads = _counting_reads(monkeypatch)
    cache = PreparedCache(tmp_path)
    cache.prepared(study, s)
    cache.prepared(study, s.with_overrides({"lung_threshold_hu": s.lung_threshold_hu + 20}))
    assert len(reads) == 2  # another threshold is another mask
    touched = sorted(p for p in study.rglob("*") if p.is_file())[0]
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    cache.prepared(study, s)
    assert len(reads) == 3  # the study's files changed
    assert cache.misses == 3 and cache.hits == 0


def test_training_through_the_cache_prepares_each_normal_as_a_fresh_read(cohort, tmp_path):
    """`train --cache`: what the branches train on is the same whether a normal was read afresh,
    put into the cache, or taken from it."""
    from detector.model import FusionModel
    from detector.train import prepare_normal

    entry = discover(cohort)[0]
    model = FusionModel.new(TEST_SETTINGS, "cpu")
    cache = PreparedCache(tmp_path)
    runs = [
        prepare_normal(entry, model, np.random.default_rng(0), prepared)
        for prepared in (None, cache.prepared, cache.prepared)
    ]
    assert (cache.misses, cache.hits) == (1, 1)
    fresh = runs[0]
    for got in runs[1:]:
        assert got.global_features.keys() == fresh.global_features.keys()
        for view, feats in fresh.global_features.items():
            assert torch.equal(got.global_features[view], feats)
        assert torch.equal(got.local_input.x, fresh.local_input.x)
        assert torch.equal(got.local_input.lung, fresh.local_input.lung)
        np.testing.assert_array_equal(got.local_input.lung_idx, fresh.local_input.lung_idx)
