"""Classical lung segmentation against the phantoms' true lungs (Dice >= 0.95)."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from detector.lab.phantom import make_phantom
from detector.lab.phantom.cohort import cohort_plan
from detector.lungmask import segment_lungs
from detector.preprocess import to_ct_grid, to_working_grid


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1)


@pytest.mark.parametrize("seed,lesion", [(11, None), (12, "consolidation"), (13, "solid_nodule")])
def test_lung_mask_dice_against_phantom_truth(seed, lesion):
    ph = make_phantom(seed, "small", lesion_type=lesion, lesion_site="subpleural" if lesion else None)
    work = to_working_grid(ph.volume, 1.0)
    lungs = segment_lungs(work.hu, work.geometry)
    # compare on the phantom's own grid, as the maps are compared with the CT
    back = {
        side: to_ct_grid(lungs.side(side), work.geometry, ph.volume.geometry, ph.volume.shape, "nearest")
        for side in ("left", "right")
    }
    truth = {"left": ph.lung_left, "right": ph.lung_right}
    if ph.lesion_mask is not None:  # a lesion inside the lung is part of the lung
        for side in truth:
            truth[side] = truth[side] | (ph.lesion_mask & (ph.lesion.side == side))
    for side in ("left", "right"):
        # compare over the slices the working grid covers (it stops at the last whole mm)
        covered = slice(0, ph.volume.shape[0] - 1)
        d = dice(back[side][covered], truth[side][covered])
        assert d >= 0.95, f"{side} lung Dice {d:.3f}"
    # the visible airway lumen (trachea, main bronchi) is not lung; small bronchi whose lumen
    # partial volume makes as dense as parenchyma cannot be told apart and are not checked
    lumen = ph.airways & (ndi.gaussian_filter(ph.volume.hu, 1.0) < -950)
    assert lumen.sum() > 500
    inside = ((back["left"] | back["right"]) & lumen).sum()
    assert inside < 0.1 * lumen.sum(), f"{inside} of {lumen.sum()} airway lumen voxels in the lungs"


def test_lesions_against_the_chest_wall_are_inside_the_lung_mask():
    ph = make_phantom(21, "small", lesion_type="solid_nodule", lesion_site="subpleural")
    work = to_working_grid(ph.volume, 1.0)
    lungs = segment_lungs(work.hu, work.geometry)
    side = to_ct_grid(
        lungs.side(ph.lesion.side), work.geometry, ph.volume.geometry, ph.volume.shape, "nearest"
    )
    covered = (side & ph.lesion_mask).sum() / ph.lesion_mask.sum()
    assert covered >= 0.8, f"only {covered:.0%} of a juxtapleural nodule is inside the lung mask"


def test_every_lesion_type_and_site_is_inside_the_lung_mask():
    """A cohort of every lesion type at both sites (the tuning cohort's first ten abnormals):
    >= 95 % of each lesion's voxels inside the lungs, and Dice against the true lungs (lesion
    included) >= 0.95, on the 2 mm grid the local branch works on."""
    failures = []
    for item in cohort_plan(0, 10, 3000):
        ph = make_phantom(item["seed"], "small", item["lesion_type"], item["lesion_site"])
        work = to_working_grid(ph.volume, 2.0)
        lungs = segment_lungs(work.hu, work.geometry)
        back = {
            side: to_ct_grid(lungs.side(side), work.geometry, ph.volume.geometry, ph.volume.shape, "nearest")
            for side in ("left", "right")
        }
        covered = ((back["left"] | back["right"]) & ph.lesion_mask).sum() / ph.lesion_mask.sum()
        truth = {"left": ph.lung_left, "right": ph.lung_right}
        truth[ph.lesion.side] = truth[ph.lesion.side] | ph.lesion_mask
        z = slice(0, ph.volume.shape[0] - 1)
        worst_dice = min(dice(back[s][z], truth[s][z]) for s in ("left", "right"))
        name = f"{item['lesion_type']} {item['lesion_site']}"
        if covered < 0.95:
            failures.append(f"{name}: {covered:.0%} of the lesion inside the mask")
        if worst_dice < 0.95:
            failures.append(f"{name}: lung Dice {worst_dice:.3f}")
    assert not failures, "; ".join(failures)
