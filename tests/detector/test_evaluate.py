"""Localisation as the protocol counts it: the strongest peak, one of the top three, any peak."""

from pathlib import Path

from detector.cohort import CohortEntry
from detector.lab.evaluate import _localize


def _entry() -> CohortEntry:
    return CohortEntry(Path("x"), "P1", "1.2.3", "abnormal", "solid_nodule", (0.0, 0.0, 0.0), 10.0)


def _peaks(*distances: float) -> list[dict]:
    return [{"center_lps_mm": [d, 0.0, 0.0]} for d in distances]


def test_a_hit_is_within_ten_millimetres_of_the_lesion_edge():
    assert _localize(_entry(), _peaks(15.0))[1] is True  # radius 5 + 10
    assert _localize(_entry(), _peaks(15.5))[1] is False


def test_top_three_and_any_peak_are_counted_apart_from_the_strongest():
    far = 40.0
    assert _localize(_entry(), _peaks(far, 3.0, far, far, far))[1:] == (False, True, True)
    assert _localize(_entry(), _peaks(far, far, far, 3.0, far))[1:] == (False, False, True)
    assert _localize(_entry(), [])[1:] == (False, False, False)


def test_normals_have_no_localisation():
    normal = CohortEntry(Path("x"), "P2", "1.2.4", "normal")
    assert _localize(normal, _peaks(1.0)) == (None, None, None, None)


def test_a_lesion_thumbnail_keeps_only_its_slice_not_the_volume():
    """evaluate keeps one thumbnail per abnormal study: a view into the volume would keep every
    study's volume and maps alive (session 10: 24 GB on 80 studies)."""
    import numpy as np

    from detector.geometry import Geometry
    from detector.lab.figures import lesion_thumbnail
    from detector.pipeline import StudyResult

    hu = np.zeros((20, 16, 16), np.float32)
    maps = {k: np.ones_like(hu) for k in ("global", "local", "fused")}
    res = StudyResult(
        0.0,
        0.0,
        0.0,
        0.0,
        {},
        [],
        Geometry(origin_lps_mm=np.zeros(3), spacing_zyx_mm=np.ones(3)),
        maps,
        None,
        working_hu=hu,
    )
    thumb = lesion_thumbnail(res, (8.0, 8.0, 10.0), "t")
    assert thumb.ct.shape == (16, 16) and thumb.ct.base is None
    assert all(m.base is None for m in thumb.maps.values())
