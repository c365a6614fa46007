"""Branch building blocks: batched cube projections equal brute force; painting; coreset; blur."""

import numpy as np
import torch

from detector.global_branch import back_project, gaussian_blur2d, greedy_coreset
from detector.local_branch import Grid, _rotations, cube_views, grid_views, nt_xent, paint_cubes
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
