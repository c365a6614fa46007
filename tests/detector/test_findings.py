"""What a reader is told about a finding: zone, size and score (detector/findings.py)."""

import numpy as np
import pytest

from detector.findings import finding_local_z, finding_region, finding_size_mm, finding_zone, longest_diameter
from detector.geometry import Geometry
from detector.lungmask import LungMask

GEOMETRY = Geometry(origin_lps_mm=np.zeros(3), spacing_zyx_mm=np.full(3, 2.0))  # z index = +S


def _two_lungs(shape=(30, 40, 60)) -> LungMask:
    """Two boxes of lung either side of a mediastinum; index x grows towards the patient's left."""
    right = np.zeros(shape, bool)
    left = np.zeros(shape, bool)
    right[:, 5:35, 5:27] = True
    left[:, 5:35, 33:55] = True
    return LungMask(left, right, np.zeros(shape, bool))


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ((28, 20, 7), ("right", "upper", "peripheral")),  # top slices, against the lateral wall
        ((15, 20, 25), ("right", "middle", "central")),  # by the mediastinum, mid-height
        ((1, 20, 40), ("left", "lower", "central")),  # deep in the left lung, bottom slices
        ((1, 6, 44), ("left", "lower", "peripheral")),  # against the anterior wall
    ],
)
def test_zone_names_lung_third_and_depth_from_the_chest_wall(index, expected):
    zone = finding_zone(np.array(index), _two_lungs(), GEOMETRY)
    assert (zone.lung, zone.level, zone.depth) == expected


def test_zone_levels_follow_the_patient_not_the_slice_order():
    head_first = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # slice axis towards I
    flipped = Geometry(origin_lps_mm=np.zeros(3), spacing_zyx_mm=np.full(3, 2.0), direction_zyx=head_first)
    # with slices stacked from head to feet, slice 28 is near the feet
    assert finding_zone(np.array((28, 20, 7)), _two_lungs(), flipped).level == "lower"


def test_size_is_the_longest_diameter_of_the_spot_around_the_finding():
    anomaly = np.zeros((40, 40, 40), np.float32)
    anomaly[20, 20, 10:25] = 0.8  # a 15-voxel rod of 1-mm voxels
    anomaly[20, 21, 10:25] = 0.3  # below half the spot's height: not part of it
    anomaly[5, 5, 5] = 1.0  # far away: another finding's
    geometry = Geometry(origin_lps_mm=np.zeros(3), spacing_zyx_mm=np.ones(3))
    assert finding_size_mm(anomaly, np.array((20, 20, 15)), geometry) == pytest.approx(15.0)
    # nothing anomalous near it: no size
    assert finding_size_mm(anomaly, np.array((35, 35, 35)), geometry) == 0.0


def test_a_region_at_a_level_is_the_findings_spot_above_it():
    anomaly = np.zeros((40, 40, 40), np.float32)
    anomaly[20, 20, 10:25] = 0.8
    anomaly[20, 20, 12:18] = 0.9  # the spot's top: half of it is 0.45
    anomaly[20, 21, 10:25] = 0.3  # above a low level, below half the top: not the spot
    anomaly[20, 33, 10:25] = 0.9  # above any level here, but not connected to the finding
    geometry = Geometry(origin_lps_mm=np.zeros(3), spacing_zyx_mm=np.ones(3))
    finding = np.array((20, 20, 15))

    def region(**kwargs) -> np.ndarray:
        window, mask = finding_region(anomaly, finding, geometry, **kwargs)
        full = np.zeros(anomaly.shape, bool)
        full[window] = mask
        return full

    half = region()
    assert half.sum() == 15 and not half[20, 21, 12] and not half[20, 33, 12]
    # a low level (the global branch alone flags the study) does not grow the spot
    assert np.array_equal(region(level=0.1), half)
    # a level above half the top cuts the spot there
    assert region(level=0.85).sum() == 6
    # a level above the finding's top: no region
    assert not region(level=0.95).any()
    # traced in a window, a region larger than it is cut there; over the whole volume it is not
    anomaly[20, 20, 25:40] = 0.8
    assert region(window_mm=10.0).sum() < region(window_mm=None).sum() == 30


def test_longest_diameter_of_a_large_region_uses_its_hull():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(5000, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True) / 10.0  # a sphere of radius 10 mm
    assert longest_diameter(pts, 1.0) == pytest.approx(21.0, abs=0.1)


def test_finding_score_is_the_highest_local_score_within_ten_mm():
    z = np.full((20, 20, 20), -1e9, np.float32)
    z[10, 10, 12] = 3.0  # 2 coarse voxels (8 mm at factor 2 of 2 mm) from the finding
    z[10, 10, 19] = 9.0  # 36 mm away: not this finding's
    assert finding_local_z(z, 2, np.array((20, 20, 20)), 2.0) == pytest.approx(3.0)
