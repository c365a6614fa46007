"""Training a model version from a folder of normal series (both branches, one model file)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from detector.cohort import CohortEntry
from detector.global_branch import lung_mips
from detector.io import read_volume
from detector.local_branch import local_input
from detector.model import FusionModel
from detector.pipeline import Timer, prepare_for_model
from detector.settings import ModelSettings

# Candidate cube centres per patient: a random subset of lung voxels is plenty.
_CANDIDATES_PER_PATIENT = 20_000
# The phases of training, in order, as progress reports name them; each is an equal share of
# the reported fraction (their real durations depend on cohort size, epochs and device).
PHASES = ("read + lung mask", "global coreset banks", "local contrastive training", "local normal bank")

ProgressCallback = Callable[[str, float], None]  # (stage, fraction of the whole training 0..1)


class _Phase:
    """One phase's tqdm bar (the CLI's) and its reports to ``on_progress`` (a job's)."""

    def __init__(
        self, index: int, total: int, show_bar: bool, on_progress: ProgressCallback | None, unit: str = "it"
    ) -> None:
        self.index, self.total, self.done, self.note = index, total, 0, ""
        self.on_progress = on_progress
        self.bar = tqdm(total=total, desc=PHASES[index], disable=not show_bar, unit=unit)
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            within = min(self.done / self.total, 1.0) if self.total else 0.0
            stage = f"{PHASES[self.index]} {self.done}/{self.total}{self.note}"
            self.on_progress(stage, (self.index + within) / len(PHASES))

    def step(self, **postfix: str) -> None:
        if postfix:
            self.bar.set_postfix(**postfix)
            self.note = " (" + ", ".join(f"{k} {v}" for k, v in postfix.items()) + ")"
        self.bar.update()
        self.done += 1
        self._report()

    def close(self) -> None:
        self.bar.close()


@dataclass
class NormalStudy:
    patient_id: str
    global_features: dict[str, torch.Tensor]
    local_volume: torch.Tensor  # uint8 padded local input
    centres: np.ndarray  # (n, 3) cube centres inside the lungs, padded-volume indices


def prepare_normal(entry: CohortEntry, model: FusionModel, rng: np.random.Generator) -> NormalStudy:
    """Read a normal study once and keep what both branches' training needs from it."""
    s = model.settings
    vol = read_volume(entry.folder)
    prep = prepare_for_model(vol, s)
    views = lung_mips(prep.branch_hu, prep.core, s, model.device)
    feats = {k: v.cpu() for k, v in model.global_model.features(views).items()}
    padded = local_input(prep.branch_hu, prep.core, s, model.device)
    padded_u8 = (padded * 255).round().to(torch.uint8)
    lung_idx = np.argwhere(prep.lungs.both)
    take = rng.choice(len(lung_idx), size=min(_CANDIDATES_PER_PATIENT, len(lung_idx)), replace=False)
    # After padding by h a cube centred at voxel v starts at padded index v.
    centres = lung_idx[take]
    return NormalStudy(entry.patient_id or entry.folder.name, feats, padded_u8, centres)


def train(
    entries: list[CohortEntry],
    settings: ModelSettings,
    device: str | None = None,
    epochs: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_progress: ProgressCallback | None = None,
) -> FusionModel:
    """Fit both branches on normal studies; every open choice is recorded in the model.

    ``progress`` shows tqdm bars; ``on_progress(stage, fraction)`` is called as each phase starts
    and after each of its steps (study, bank, epoch), e.g. to store a job's progress; what it
    raises stops the training."""
    if len(entries) < 2:
        raise ValueError(f"training needs at least 2 normal studies, got {len(entries)}")
    if epochs is not None:
        settings = settings.with_overrides({"local_epochs": epochs})
    torch.manual_seed(settings.seed)
    model = FusionModel.new(settings, device)
    rng = np.random.default_rng(settings.seed)
    timer = Timer()
    normals: list[NormalStudy] = []
    with timer.stage("prepare"):
        phase = _Phase(0, len(entries), progress, on_progress, unit="study")
        for e in entries:
            normals.append(prepare_normal(e, model, rng))
            phase.step()
        phase.close()
    with timer.stage("global_bank"):
        phase = _Phase(1, 6, progress, on_progress)
        bank_sizes = model.global_model.fit([n.global_features for n in normals], lambda v: phase.step())
        phase.close()
    patients = [(n.local_volume, n.centres) for n in normals]
    local_epochs = settings.local_epochs
    with timer.stage("local_train"):
        phase = _Phase(2, local_epochs, progress, on_progress)
        model.local_model.train(patients, local_epochs, lambda epoch, loss: phase.step(loss=f"{loss:.3f}"))
        phase.close()
    with timer.stage("local_bank"):
        phase = _Phase(3, settings.local_bank_passes, progress, on_progress)
        model.local_model.build_bank(patients, lambda p: phase.step())
        phase.close()
    model.meta = {
        "training": {
            "normal_patient_ids": [n.patient_id for n in normals],
            "normal_study_uids": [e.study_instance_uid for e in entries],
            "n_normals": len(normals),
            "epochs": local_epochs,
            "device": str(model.device),
            "seconds": {k: round(v, 1) for k, v in timer.seconds.items()},
            "global_bank_sizes": bank_sizes,
            "final_loss": model.local_model.history[-1]["loss"] if model.local_model.history else None,
        }
    }
    log(f"trained on {len(normals)} normals in {sum(timer.seconds.values()):.0f} s ({timer.seconds})")
    return model
