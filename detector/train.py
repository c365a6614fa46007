"""Training a model version from a folder of normal series (both branches, one model file)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from detector.cohort import CohortEntry
from detector.global_branch import lung_mips
from detector.io import read_volume
from detector.model import FusionModel
from detector.pipeline import Prepared, Timer, branch_inputs, prepare_for_model
from detector.settings import ModelSettings

# The phases of training, in order, as progress reports name them; each is an equal share of
# the reported fraction (their real durations depend on cohort size, epochs and device).
PHASES = ("read + lung mask", "global coreset banks", "local training", "local normal reference")

ProgressCallback = Callable[[str, float], None]  # (stage, fraction of the whole training 0..1)
PreparedSource = Callable[[Path, ModelSettings], Prepared]  # study folder -> working grid + lung mask


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
    local_input: object  # what the local realisation trains on (see local_slot.LocalRealisation)


def prepare_normal(
    entry: CohortEntry,
    model: FusionModel,
    rng: np.random.Generator,
    prepared: PreparedSource | None = None,
) -> NormalStudy:
    """Read a normal study once and keep what both branches' training needs from it. With
    ``prepared``, its working grid and lung mask come from there (the lab's cache)."""
    s = model.settings
    if prepared is None:
        prep = prepare_for_model(read_volume(entry.folder), s)
    else:
        prep = branch_inputs(prepared(entry.folder, s), s)
    views = lung_mips(prep.branch_hu, prep.core, s, model.device)
    feats = {k: v.cpu() for k, v in model.global_model.features(views).items()}
    local = model.local_model.normal_input(prep, rng)
    return NormalStudy(entry.patient_id or entry.folder.name, feats, local)


def train(
    entries: list[CohortEntry],
    settings: ModelSettings,
    device: str | None = None,
    epochs: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_progress: ProgressCallback | None = None,
    prepared: PreparedSource | None = None,
) -> FusionModel:
    """Fit both branches on normal studies; every open choice is recorded in the model.

    ``progress`` shows tqdm bars; ``on_progress(stage, fraction)`` is called as each phase starts
    and after each of its steps (study, bank, epoch), e.g. to store a job's progress; what it
    raises stops the training. ``prepared(folder, settings)``, if given, supplies each study's
    working grid and lung mask instead of reading it (``train --cache``: the same normals are
    prepared once for every candidate of an experiment)."""
    if len(entries) < 2:
        raise ValueError(f"training needs at least 2 normal studies, got {len(entries)}")
    if epochs is not None:  # the training length of whichever local realisation is in use
        length = "local_epochs" if settings.local_realisation == "csi" else "fpi_steps"
        settings = settings.with_overrides({length: epochs})
    torch.manual_seed(settings.seed)
    model = FusionModel.new(settings, device)
    rng = np.random.default_rng(settings.seed)
    timer = Timer()
    normals: list[NormalStudy] = []
    with timer.stage("prepare"):
        phase = _Phase(0, len(entries), progress, on_progress, unit="study")
        for e in entries:
            normals.append(prepare_normal(e, model, rng, prepared))
            phase.step()
        phase.close()
    with timer.stage("global_bank"):
        phase = _Phase(1, 6, progress, on_progress)
        bank_sizes = model.global_model.fit([n.global_features for n in normals], lambda v: phase.step())
        phase.close()
    local = model.local_model
    inputs = [n.local_input for n in normals]
    local_steps = local.train_steps()
    with timer.stage("local_train"):
        phase = _Phase(2, local_steps, progress, on_progress)
        local.train(inputs, lambda step, loss: phase.step(loss=f"{loss:.3f}"))
        phase.close()
    with timer.stage("local_reference"):
        phase = _Phase(3, local.reference_steps(len(inputs)), progress, on_progress)
        local.build_reference(inputs, lambda p: phase.step())
        phase.close()
    model.meta = {
        "training": {
            "normal_patient_ids": [n.patient_id for n in normals],
            "normal_study_uids": [e.study_instance_uid for e in entries],
            "n_normals": len(normals),
            "local_realisation": settings.local_realisation,
            "epochs": local_steps,  # local training length: epochs (csi) or steps (fpi)
            "device": str(model.device),
            "seconds": {k: round(v, 1) for k, v in timer.seconds.items()},
            "global_bank_sizes": bank_sizes,
            "final_loss": local.history[-1]["loss"] if local.history else None,
        }
    }
    log(f"trained on {len(normals)} normals in {sum(timer.seconds.values()):.0f} s ({timer.seconds})")
    return model
