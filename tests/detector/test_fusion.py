"""Fusion formulas against small hand-computed arrays (METHOD.md §3)."""

import numpy as np
import pytest

from detector.fusion import fuse_maps, fuse_scores, local_anomaly_score


def test_patient_fusion_is_g_plus_weight_over_l():
    assert fuse_scores(2.0, 0.5) == pytest.approx(2.0 + 0.7 / 0.5)
    assert fuse_scores(1.0, 0.25, weight=0.2) == pytest.approx(1.8)
    assert local_anomaly_score(0.8) == pytest.approx(1.25)
    # both terms rise with anomaly: lower normality -> higher fused score
    assert fuse_scores(1.0, 0.4) > fuse_scores(1.0, 0.9)


def test_patient_fusion_survives_non_positive_normality():
    assert np.isfinite(fuse_scores(1.0, 0.0))
    assert np.isfinite(fuse_scores(1.0, -0.3))


def test_voxel_fusion_matches_hand_computation():
    # Ten in-lung voxels: global rises 0..9, local normality falls 1.0..0.1.
    g = np.arange(10, dtype=np.float32).reshape(1, 1, 10)
    loc = (1.0 - 0.1 * np.arange(10)).astype(np.float32).reshape(1, 1, 10)
    lung = np.ones_like(g, bool)
    fused, raw = fuse_maps(g, loc, lung)
    # By hand: p94(g) = 8.46, p6(loc) = 0.154; the sum is 2i/8.46 for i <= 8 and 2 for i = 9;
    # its p82 = 1.7447 and p94 = 1.9413; clipped and min-maxed:
    expected = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0.7457, 1.0])
    np.testing.assert_allclose(fused.ravel(), expected, atol=2e-3)
    # the unclipped sum (for peaks) keeps a single maximum at the most anomalous voxel
    assert int(np.argmax(raw)) == 9
    np.testing.assert_allclose(raw.ravel()[:9], 2 * np.arange(9) / 9, atol=1e-6)


def test_voxel_fusion_is_zero_outside_the_lungs():
    rng = np.random.default_rng(0)
    g = rng.random((4, 5, 6)).astype(np.float32)
    loc = rng.random((4, 5, 6)).astype(np.float32)
    lung = np.zeros_like(g, bool)
    lung[1:3, 1:4, 1:5] = True
    fused, raw = fuse_maps(g, loc, lung)
    assert (fused[~lung] == 0).all() and (raw[~lung] == 0).all()
    assert fused[lung].max() == pytest.approx(1.0)
    # percentiles are over in-lung voxels only: values outside must not change the result
    g2 = g.copy()
    g2[~lung] = 1e6
    np.testing.assert_array_equal(fuse_maps(g2, loc, lung)[0], fused)


def test_standardized_rule_adds_the_local_anomaly():
    # normality z = -2 means 2 spreads less normal than the normals there: anomaly +2
    assert local_anomaly_score(-2.0, "standardized") == pytest.approx(2.0)
    assert fuse_scores(1.5, -2.0, weight=0.5, rule="standardized") == pytest.approx(2.5)
    with pytest.raises(ValueError):
        local_anomaly_score(1.0, "nonsense")


def test_fusion_weight_is_chosen_by_tuning_auc_with_ties_to_the_paper():
    from detector.lab.tune import choose_fusion_weight

    y = np.array([0, 0, 0, 1, 1, 1])
    g = np.array([0.0, 1.0, 3.0, 0.5, 1.5, 2.5])  # global alone misranks
    local = np.array([0.0, 0.0, 0.0, 3.0, 3.0, 3.0])  # local separates perfectly
    w, table = choose_fusion_weight(y, g, local)
    assert table[0.0] < 1.0 and table[w] == 1.0
    assert w == 1.0  # 1.0 and above all reach AUC 1; the nearest to 0.7 wins
    w_flat, _ = choose_fusion_weight(y, g, np.zeros(6))  # local carries nothing: every weight ties
    assert w_flat == 0.7
