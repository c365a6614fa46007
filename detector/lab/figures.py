"""Pictures for people: the fused map over the CT at a lesion, as a montage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from detector.pipeline import StudyResult


@dataclass
class Thumbnail:
    title: str
    ct: np.ndarray  # axial slice, HU
    maps: dict[str, np.ndarray]  # global / local / fused slices
    truth_yx: tuple[float, float] | None
    peak_yx: tuple[float, float] | None


def lesion_thumbnail(
    res: StudyResult, centre_lps: tuple[float, float, float] | None, title: str
) -> Thumbnail:
    """The axial working-grid slice through the lesion centre (or the top peak)."""
    g = res.working_geometry
    peak = np.asarray(res.peaks[0].center_lps_mm) if res.peaks else None
    ref = np.asarray(centre_lps) if centre_lps is not None else peak
    if ref is None:
        z = res.working_hu.shape[0] // 2
    else:
        z = int(np.clip(round(g.lps_to_index(ref)[0]), 0, res.working_hu.shape[0] - 1))
    truth = tuple(g.lps_to_index(np.asarray(centre_lps))[1:]) if centre_lps is not None else None
    pk = tuple(g.lps_to_index(peak)[1:]) if peak is not None else None
    # Copies: a slice of a volume is a view that keeps the whole volume alive, and evaluate
    # keeps a thumbnail per abnormal study (80 studies' volumes and maps ran a 24-GB machine out
    # of memory in session 10).
    maps = {k: v[z].copy() for k, v in res.maps.items()}
    return Thumbnail(title, res.working_hu[z].copy(), maps, truth, pk)


def save_montage(thumbs: list[Thumbnail], path: Path | str, display_sigma_px: float = 0.0) -> None:
    """Rows of [CT, global, local, fused over CT]; circle = truth, cross = strongest peak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not thumbs:
        return
    fig, axes = plt.subplots(len(thumbs), 4, figsize=(12, 3 * len(thumbs)), dpi=80, squeeze=False)
    for row, t in zip(axes, thumbs):
        ct = np.clip((t.ct + 1000) / 1000, 0, 1)
        for ax, name in zip(row, ("ct", "global", "local", "fused")):
            ax.imshow(ct, cmap="gray", vmin=0, vmax=1)
            if name != "ct":
                m = t.maps[name]
                if display_sigma_px > 0 and name == "fused":
                    # display smoothing only, kept inside the lungs (the global map's support)
                    m = ndi.gaussian_filter(m, display_sigma_px) * (t.maps["global"] > 0)
                ax.imshow(np.ma.masked_less_equal(m, 1e-6), cmap="jet", alpha=0.5)
            if t.truth_yx is not None:
                ax.plot(t.truth_yx[1], t.truth_yx[0], "o", mfc="none", mec="lime", ms=14, mew=1.5)
            if t.peak_yx is not None and name == "fused":
                ax.plot(t.peak_yx[1], t.peak_yx[0], "x", color="white", ms=10, mew=2)
            ax.set_title(f"{t.title}  {name}" if name == "ct" else name, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
