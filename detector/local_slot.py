"""The local branch is a slot: "how normal is this 3-D neighbourhood" (DESIGN.md, Dec 2026).

Two realisations fill it, chosen by ``ModelSettings.local_realisation``:

- ``"fpi"`` (:mod:`detector.local_fpi`, the CPU default): a network trained to segment patches
  of other normal scans blended into a normal lung; its map is the local anomaly map and the
  patient score is the map's peak, standardised on the training normals.
- ``"csi"`` (:mod:`detector.local_branch`, the paper's, for GPUs): contrastive encoders of
  cube projections and a bank of normal cubes.

Both are trained on normals only and give the pipeline the same :class:`LocalScore`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

if TYPE_CHECKING:
    from detector.pipeline import Prepared
    from detector.settings import ModelSettings


@dataclass
class LocalScore:
    """What a local realisation gives the pipeline for one study (working grid)."""

    anomaly_map: np.ndarray  # float32, higher = more anomalous, 0 outside the lungs
    patient_normality: float  # as fusion.fuse_scores takes it under the settings' fusion rule
    n_units: int  # cubes (csi) or coarse lung voxels (fpi) that were scored
    # The patient score's own scale at every voxel, where the realisation has one (fpi: the
    # smoothed map standardised on the training normals, on its coarse grid, ``z_factor`` times
    # the working spacing; its highest value in the lungs is the patient's local score).
    z_map: np.ndarray | None = None
    z_factor: int = 1


class LocalRealisation(Protocol):
    """The slot's interface. Training has two phases: learning, then a normal reference
    (the CSI bank of normal cubes, or the FPI normals' peak statistics)."""

    history: list[dict]

    def normal_input(self, prep: Prepared, rng: np.random.Generator) -> Any: ...

    def train_steps(self) -> int: ...

    def train(self, inputs: list[Any], progress: Callable[[int, float], None] | None = None) -> None: ...

    def reference_steps(self, n_normals: int) -> int: ...

    def build_reference(self, inputs: list[Any], progress: Callable[[int], None] | None = None) -> None: ...

    def score(self, prep: Prepared) -> LocalScore: ...

    def info(self) -> dict: ...

    def state(self) -> dict: ...

    def load_state(self, state: dict) -> None: ...


def make_local(settings: ModelSettings, device: torch.device | str = "cpu") -> LocalRealisation:
    """The realisation the settings name (validated by ModelSettings)."""
    if settings.local_realisation == "csi":
        from detector.local_branch import LocalModel

        return LocalModel(settings, device)
    from detector.local_fpi import FpiLocalModel

    return FpiLocalModel(settings, device)
