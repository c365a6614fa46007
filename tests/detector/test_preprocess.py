"""Resampling to the working grid and back keeps geometry exact."""

import numpy as np
import torch

from detector.geometry import CTVolume, Geometry
from detector.preprocess import resample_axes, to_ct_grid, to_working_grid, working_geometry


def _ramp_volume():
    g = Geometry([-100.0, -80.0, 50.0], [2.5, 1.8, 1.6])
    z, y, x = np.meshgrid(np.arange(20), np.arange(30), np.arange(40), indexing="ij")
    lps = g.index_to_lps(np.stack([z, y, x], -1))
    # a linear function of patient position: linear interpolation must reproduce it exactly
    hu = (3.0 * lps[..., 0] - 2.0 * lps[..., 1] + 0.5 * lps[..., 2]).astype(np.float32)
    return CTVolume(hu, g), lambda p: 3.0 * p[..., 0] - 2.0 * p[..., 1] + 0.5 * p[..., 2]


def test_working_grid_is_isotropic_and_covers_the_same_extent():
    vol, _ = _ramp_volume()
    geom, shape = working_geometry(vol.geometry, vol.shape, 1.0)
    assert np.allclose(geom.spacing_zyx_mm, 1.0)
    assert np.allclose(geom.origin_lps_mm, vol.geometry.origin_lps_mm)
    assert shape == (48, 53, 63)  # floor(extent / 1 mm) + 1: extents 47.5, 52.2, 62.4 mm


def test_resampled_values_sit_at_the_right_patient_position():
    vol, f = _ramp_volume()
    w = to_working_grid(vol, 1.0)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in w.shape], indexing="ij"), -1)
    expected = f(w.geometry.index_to_lps(idx))
    np.testing.assert_allclose(w.hu, expected, atol=1e-2)


def test_back_to_ct_grid_round_trip():
    vol, f = _ramp_volume()
    w = to_working_grid(vol, 1.0)
    back = to_ct_grid(w.hu, w.geometry, vol.geometry, vol.shape)
    # inside the covered extent the round trip of a linear field is exact
    np.testing.assert_allclose(back[:-1, :-1, :-1], vol.hu[:-1, :-1, :-1], atol=2e-2)


def test_nearest_mode_keeps_labels():
    labels = torch.tensor(np.random.default_rng(0).integers(0, 3, (5, 6, 7)), dtype=torch.int64)
    out = resample_axes(labels, (0.5, 0.5, 0.5), (9, 11, 13), mode="nearest")
    assert set(out.unique().tolist()) <= {0, 1, 2}
    assert out[0, 0, 0] == labels[0, 0, 0] and out[8, 10, 12] == labels[4, 5, 6]
