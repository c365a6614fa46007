"""Branch building blocks: batched cube projections equal brute force; painting; coreset; blur."""

import numpy as np
import torch

from detector.global_branch import back_project, gaussian_blur2d, greedy_coreset
from detector.local_branch import (
    Grid,
    _rotations,
    cube_views,
    grid_views,
    nt_xent,
    paint_cubes,
    scoring_grid,
)
from detector.lungmask import LungMask
from detector.settings import ModelSettings

S = ModelSettings(local_cube_vox=8, local_view_px=8, local_grid=3)


def _brute_force_views(padded, centre, c, how):
    cube = padded[centre[0] : centre[0] + c, centre[1] : centre[1] + c, centre[2] : centre[2] + c]
    red = (lambda t, d: t.amax(d)) if how == "max" else (lambda t, d: t.mean(d))
    return torch.stack([red(cube, 0), red(cube, 1), red(cube, 2)])


def test_grid_views_equal_cutting_each_cube():
    rng = np.random.default_rng(1)
    padded = torch.tensor(rng.random((30, 28, 26)), dtype=torch.float32)
    centres = (np.array([0, 9, 20]), np.array([2, 10, 19]), np.array([1, 8, 17]))
    valid = rng.random((3, 3, 3)) > 0.3
    grid = Grid(centres, valid)
    for how in ("max", "mean"):
        s = ModelSettings(local_cube_vox=8, local_view_px=8, local_projection=how)
        views = grid_views(padded, grid, s)
        assert views.shape == (valid.sum(), 3, 8, 8)
        for n, (i, j, k) in enumerate(grid.index):
            c = (centres[0][i], centres[1][j], centres[2][k])
            torch.testing.assert_close(views[n], _brute_force_views(padded, c, 8, how))
        # the arbitrary-centre path (training) agrees with the grid path (scoring)
        cs = torch.tensor([[centres[0][i], centres[1][j], centres[2][k]] for i, j, k in grid.index])
        torch.testing.assert_close(cube_views(padded, cs, s), views)


def test_paint_cubes_averages_overlaps_and_skips_invalid():
    valid = np.zeros((2, 1, 1), bool)
    valid[:, 0, 0] = True
    grid = Grid((np.array([4, 8]), np.array([4]), np.array([4])), valid)
    out = paint_cubes(np.array([1.0, 3.0], np.float32), grid, (14, 8, 8), cube=8)
    assert out[1, 4, 4] == 1.0  # only the first cube covers z=0..7
    assert out[6, 4, 4] == 2.0  # z=4..7 covered by both cubes -> average
    assert out[10, 4, 4] == 3.0
    assert out[13, 0, 0] == 0.0  # nothing covers z=12.. -> zero


def test_rotation_positives_pair_cube_and_neighbour_at_same_rotation():
    v = torch.arange(4 * 3 * 2 * 2, dtype=torch.float32).view(4, 3, 2, 2)
    x, pos = _rotations(v)
    assert x.shape == (16, 3, 2, 2)
    assert pos[0] == 1 and pos[1] == 0 and pos[4] == 5 and pos[15] == 14
    # identical embeddings of positives give a lower loss than shuffled ones
    z = torch.randn(16, 8)
    z_pos = z.clone()
    z_pos[1::2] = z[0::2]
    assert nt_xent(z_pos, pos, 0.5) < nt_xent(z, pos, 0.5)


def test_coreset_keeps_the_outlier_and_the_ratio():
    rng = np.random.default_rng(0)
    f = torch.tensor(rng.normal(size=(500, 16)), dtype=torch.float32)
    f[123] += 50.0
    keep = greedy_coreset(f, 0.05, seed=0)
    assert keep.numel() == 25 and len(set(keep.tolist())) == 25
    assert 123 in keep.tolist()


def test_blur_preserves_constants_and_mass_position():
    x = torch.ones(1, 1, 20, 20)
    torch.testing.assert_close(gaussian_blur2d(x, 2.0), x)
    d = torch.zeros(1, 1, 21, 21)
    d[0, 0, 10, 10] = 1
    y = gaussian_blur2d(d, 2.0)
    assert y.argmax() == 10 * 21 + 10 and abs(float(y.sum()) - 1) < 1e-4


def test_back_projection_sums_three_views_inside_each_lung():
    shape = (4, 5, 6)
    left = np.zeros(shape, bool)
    left[1:3, 1:4, 3:6] = True
    right = np.zeros(shape, bool)
    right[1:3, 1:4, 0:2] = True
    lungs = LungMask(left, right, np.zeros(shape, bool))
    maps = {}
    for side in ("left", "right"):
        maps[f"{side}_axial"] = torch.arange(30, dtype=torch.float32).view(5, 6)  # (y, x)
        maps[f"{side}_coronal"] = torch.zeros(4, 6)  # (z, x)
        maps[f"{side}_sagittal"] = torch.zeros(4, 5)  # (z, y)
    maps["left_sagittal"][2, 3] = 100.0
    out = back_project(maps, lungs).numpy()
    assert out[0, 0, 0] == 0 and out[~(left | right)].max() == 0
    assert out[2, 3, 4] == 3 * 6 + 4 + 100  # axial[y=3,x=4] + sagittal[z=2,y=3]
    # floored at the in-mask median of its lung
    assert out[1, 1, 3] >= np.median(out[left]) - 1e-6


def _pooled_embed(views: torch.Tensor) -> list[torch.Tensor]:
    """A fixed stand-in for the encoders: 2x2-pooled pixels of each view, centred, unit norm (so the
    similarity, not the brightness, decides: the paper's score multiplies by the output's norm)."""
    out = []
    for v in range(3):
        x = torch.nn.functional.avg_pool2d(views[:, v : v + 1], 2).flatten(1)
        out.append(torch.nn.functional.normalize(x - x.mean(dim=1, keepdim=True), dim=1))
    return out


def _textured(rng, n: int = 30) -> torch.Tensor:
    """A volume whose texture differs by region (like anatomy) plus per-patient noise."""
    z = torch.linspace(0, 1, n)[:, None, None]
    base = 0.3 + 0.4 * z * torch.ones(n, n, n)
    return (base + torch.tensor(rng.normal(0, 0.03, (n, n, n)), dtype=torch.float32)).clamp(0, 1)


def test_random_bank_scores_the_unusual_cube_least_normal():
    from detector.local_branch import LocalModel

    rng = np.random.default_rng(3)
    s = ModelSettings(local_cube_vox=8, local_view_px=8, local_grid=3, local_bank_passes=10)
    lm = LocalModel(s)
    lm.embed = _pooled_embed
    grid = Grid((np.array([6, 14, 22]),) * 3, np.ones((3, 3, 3), bool))
    # the paper's bank: one random cube per normal per pass, here from the grid's centres
    cands = np.stack(np.meshgrid(*grid.centres, indexing="ij"), -1).reshape(-1, 3)
    lm.build_reference([(_textured(rng), cands) for _ in range(8)])
    assert lm.banks[0].shape == (8 * 10, 4 * 4) and len(lm.weights) == 3
    test = _textured(rng)
    test[16:20, 16:20, 16:20] = 1.0  # a bright block inside the centre cube only (it covers 14..21)
    normality = lm.patch_normality(grid_views(test, grid, s)).numpy()
    centre = int(np.flatnonzero((grid.index == 1).all(axis=1))[0])
    assert normality.argmin() == centre
    # the model file round trip keeps the bank and the view weights
    other = LocalModel(s)
    other.embed = _pooled_embed
    other.load_state(lm.state())
    np.testing.assert_allclose(other.patch_normality(grid_views(test, grid, s)).numpy(), normality)


def test_scoring_grid_spans_the_lungs_box_and_skips_centres_outside_the_lungs():
    both = np.zeros((40, 40, 40), bool)
    both[4:36, 4:20, 4:36] = True
    both[16:24, 9:15, 16:24] = False  # a hole around the middle centre; the box is unchanged
    lungs = LungMask(both, np.zeros_like(both), np.zeros_like(both))
    s = ModelSettings(local_grid=3, local_cube_vox=16)
    grid = scoring_grid(lungs, s)
    assert [c.tolist() for c in grid.centres] == [[4, 20, 35], [4, 12, 19], [4, 20, 35]]
    assert not grid.valid[1, 1, 1] and grid.valid.sum() == 26
    assert scoring_grid(lungs, s.with_overrides({"local_skip_outside_centres": False})).valid.all()
