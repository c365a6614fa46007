"""The local slot's CPU realisation: foreign-patch training samples, learning, scoring."""

import copy

import numpy as np
import pytest
import torch

from detector.fpi_patches import FpiVolume, PatchRecipe, fpi_volume, make_sample, patch_radii
from detector.local_fpi import FpiLocalModel, SlabUNet, predict_map, train_network
from detector.settings import TEST_SETTINGS

torch.set_num_threads(1)


def _volume(
    value: float, rng: np.random.Generator, n: int = 32, noise: float = 0.02, border: int = 2
) -> FpiVolume:
    """A cube of "lung" at ``value`` with noise, lungs everywhere but a border."""
    x = torch.from_numpy((value + noise * rng.standard_normal((n, n, n))).astype(np.float32))
    lung = torch.zeros((n, n, n), dtype=torch.bool)
    lung[border:-border, border:-border, border:-border] = True
    idx = np.argwhere(lung.numpy())
    return FpiVolume(x, lung, idx, idx, np.zeros((0, 3), np.int64))  # no vessels in a cube


def test_training_samples_blend_another_normals_content_and_mark_where_it_shows():
    rng = np.random.default_rng(0)
    # two normals that differ only in their level: a blended patch is the other one's content
    # lungs in the middle, so that 16-voxel crops around them never leave the volume
    vols = [_volume(v, rng, n=48, noise=0.0, border=16) for v in (0.15, 0.95)]
    recipe = PatchRecipe(2.0, (8.0, 16.0), body_share=0.0, shift=0.0, clean_share=0.0)
    for _ in range(20):
        x, y, w = make_sample(vols, recipe, 16, 5, rng)
        assert x.shape == (5, 16, 16) and y.shape == w.shape == (16, 16)
        centre = x[2]
        base = float(centre.median())  # the target normal (a patch covers less than half)
        changed = (centre - base).abs() > 0.02
        # the target marks the blended voxels, and nothing where the image is untouched
        assert (y[changed] > 0).float().mean() > 0.9
        assert float(torch.cat([y[~changed], torch.zeros(1)]).max()) < 0.35
        assert float(y.max()) <= 1.0 and float(w.min()) >= 0.0


def test_vessel_placement_lays_each_patch_against_a_dense_structure_in_the_lungs():
    """With ``vessel_share`` 1 every patch's centre lies within a few voxels of the one "vessel"
    (a dense rod through the lungs), wherever the crop around it was first cut."""
    rng = np.random.default_rng(5)
    n = 48
    hu = np.full((n, n, n), -850.0, np.float32)
    hu[:, 30, 20] = 40.0  # a vessel along z, inside the lungs
    lung = np.zeros((n, n, n), bool)
    lung[4:-4, 4:-4, 4:-4] = True
    vol = fpi_volume(hu, lung, 1, np.random.default_rng(9))
    assert len(vol.vessel_idx) > 0 and np.abs(vol.vessel_idx[:, 1:] - [30, 20]).max() <= 1
    donor = fpi_volume(np.full_like(hu, 600.0), lung, 1, rng)  # a dense patch shows anywhere
    recipe = PatchRecipe(2.0, (4.0, 5.0), body_share=1.0, shift=0.0, clean_share=0.0, vessel_share=1.0)
    checked = 0
    for _ in range(150):
        x, y, _ = make_sample([vol, donor], recipe, 32, 15, rng)
        # the slab's first slice lies beyond a small patch: the vessel shows there as one spot
        # when the slab is axial and cut from the study with the vessel (else skip the sample)
        rod = np.argwhere(x[0].numpy() > 1.0)
        if not 1 <= len(rod) <= 2:
            continue
        if float(y.max()) < 0.1:  # a small patch that only grazes the centre slice
            continue
        patch = np.argwhere(y.numpy() >= 0.5 * float(y.max()))
        assert np.abs(patch.mean(axis=0) - rod.mean(axis=0)).max() <= 3.0
        checked += 1
    assert checked >= 8


def test_clean_samples_have_no_target():
    rng = np.random.default_rng(1)
    vols = [_volume(0.15, rng), _volume(0.95, rng)]
    recipe = PatchRecipe(2.0, (8.0, 16.0), body_share=0.5, shift=0.1, clean_share=1.0)
    _, y, w = make_sample(vols, recipe, 16, 3, rng)
    assert float(y.abs().max()) == 0.0 and float(w.sum()) > 0


def test_network_learns_to_mark_a_foreign_blob():
    """A few hundred steps on tiny volumes: a blob of another normal's content scores far above
    the lung around it (and the untrained network does not tell them apart)."""
    rng = np.random.default_rng(2)
    vols = [_volume(v, rng) for v in (0.12, 0.15, 0.18, 0.9)]
    recipe = PatchRecipe(2.0, (6.0, 14.0), body_share=0.5, shift=0.05)
    torch.manual_seed(0)
    net = SlabUNet(3, (8, 16))
    test = _volume(0.15, rng)
    zz, yy, xx = np.ogrid[:32, :32, :32]
    blob = torch.from_numpy((zz - 16) ** 2 + (yy - 14) ** 2 + (xx - 18) ** 2 <= 9)
    test.x[blob] = 0.9

    def contrast() -> float:
        prob = predict_map(net.eval(), test.x, test.lung)
        return float(prob[blob].mean() - prob[test.lung & ~blob].mean())

    before = contrast()
    history = train_network(net, vols, recipe, steps=300, batch=8, crop_px=16, lr=3e-3, seed=0)
    after = contrast()
    assert history[-1]["loss"] < history[0]["loss"]
    assert after > 0.25 and after > before + 0.2, (before, after)


def test_prediction_is_zero_outside_the_lungs_and_keeps_the_volume_shape():
    rng = np.random.default_rng(3)
    v = _volume(0.15, rng, n=30)
    prob = predict_map(SlabUNet(3, (4, 8)).eval(), v.x, v.lung)
    assert prob.shape == v.x.shape
    assert float(prob[~v.lung].abs().max()) == 0.0
    assert float(prob[v.lung].min()) > 0.0


def test_the_map_of_a_mirrored_study_is_the_mirrored_map():
    """Scoring averages the study and its left-right mirror (session 9): the map cannot depend on
    which side of the patient a finding lies, whatever the network learnt."""
    torch.manual_seed(5)
    net = SlabUNet(3, (4, 8)).eval()
    rng = np.random.default_rng(5)
    v = _volume(0.15, rng, n=28)
    prob = predict_map(net, v.x, v.lung)
    mirrored = predict_map(net, v.x.flip(-1), v.lung.flip(-1))
    assert torch.allclose(mirrored, prob.flip(-1), atol=1e-5)


def test_channels_last_weights_score_the_same_map():
    """The model scores with its weights channels-last (faster on the CPU): the map must not
    change by more than float rounding."""
    torch.manual_seed(6)
    net = SlabUNet(3, (4, 8)).eval()
    v = _volume(0.15, np.random.default_rng(6), n=28)
    plain = predict_map(net, v.x, v.lung)
    fast = predict_map(copy.deepcopy(net).to(memory_format=torch.channels_last), v.x, v.lung)
    assert torch.allclose(fast, plain, atol=1e-5)
    model = FpiLocalModel(TEST_SETTINGS)
    model.load_state(model.state())
    assert model.net.down[0][0].weight.is_contiguous(memory_format=torch.channels_last)


def test_model_state_round_trip_and_z_scores_against_the_normals():
    m = FpiLocalModel(TEST_SETTINGS)
    rng = np.random.default_rng(4)
    vols = [_volume(0.15, rng, n=24) for _ in range(3)]
    m.build_reference(vols)
    assert len(m.normal_peaks) == 3 and m.peak_sd >= 0.02
    other = FpiLocalModel(TEST_SETTINGS.with_overrides({"seed": 7}))
    other.load_state(m.state())
    for a, b in zip(m.net.state_dict().values(), other.net.state_dict().values()):
        assert torch.equal(a, b)
    assert (other.peak_mean, other.peak_sd) == (m.peak_mean, m.peak_sd)


def test_fpi_spacing_must_be_a_whole_multiple_of_the_working_spacing():
    with pytest.raises(ValueError, match="fpi_spacing_mm"):
        TEST_SETTINGS.with_overrides({"fpi_spacing_mm": "6.0"})


def test_patch_sizes_cover_every_octave_and_stay_roundish():
    rng = np.random.default_rng(5)
    recipe = PatchRecipe(2.0, (4.0, 40.0), body_share=0.5, shift=0.1)
    radii = np.array([patch_radii(recipe, rng) for _ in range(4000)])  # coarse voxels
    diam_mm = radii * 2 * 2.0
    mean_diam = diam_mm.mean(axis=1)
    # log-uniform: as many patches of 4-12.6 mm as of 12.6-40 mm (the octaves' geometric middle)
    small = float((mean_diam < 12.65).mean())
    assert 0.4 < small < 0.6, small
    ratio = radii.max(axis=1) / radii.min(axis=1)
    assert float(ratio.max()) <= 1.5 / 0.67 + 1e-6  # never a sheet or a needle
    assert float(diam_mm.min()) >= 3.0 - 1e-6  # a patch is at least 1.5 coarse voxels across


def test_a_patch_range_must_start_above_zero():
    with pytest.raises(ValueError, match="fpi_patch_mm"):
        TEST_SETTINGS.with_overrides({"fpi_patch_mm": "0,10"})
