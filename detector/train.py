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
from detector.local_branch import Grid, local_input, scoring_grid
from detector.model import FusionModel
from detector.pipeline import Timer, prepare_for_model
from detector.settings import ModelSettings

# Candidate cube centres per patient: a random subset of lung voxels is plenty.
_CANDIDATES_PER_PATIENT = 20_000


@dataclass
class NormalStudy:
    patient_id: str
    global_features: dict[str, torch.Tensor]
    local_volume: torch.Tensor  # uint8 padded local input
    centres: np.ndarray  # (n, 3) cube centres inside the lungs, padded-volume indices
    grid: Grid  # the scoring grid over this study's lungs (for the position bank)


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
    grid = scoring_grid(prep.lungs, s)
    return NormalStudy(entry.patient_id or entry.folder.name, feats, padded_u8, centres, grid)


def train(
    entries: list[CohortEntry],
    settings: ModelSettings,
    device: str | None = None,
    epochs: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> FusionModel:
    """Fit both branches on normal studies; every open choice is recorded in the model."""
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
        for e in tqdm(entries, desc="read + lung mask", disable=not progress, unit="study"):
            normals.append(prepare_normal(e, model, rng))
    with timer.stage("global_bank"):
        bar = tqdm(total=6, desc="global coreset banks", disable=not progress)
        bank_sizes = model.global_model.fit([n.global_features for n in normals], lambda v: bar.update())
        bar.close()
    patients = [(n.local_volume, n.centres) for n in normals]
    with timer.stage("local_train"):
        bar = tqdm(total=settings.local_epochs, desc="local contrastive training", disable=not progress)

        def on_epoch(epoch: int, loss: float) -> None:
            bar.set_postfix(loss=f"{loss:.3f}")
            bar.update()

        model.local_model.train(patients, settings.local_epochs, on_epoch)
        bar.close()
    with timer.stage("local_bank"):
        positional = settings.local_bank_mode == "position"
        steps = len(normals) if positional else settings.local_bank_passes
        bar = tqdm(total=steps, desc="local normal bank", disable=not progress)
        grids = [n.grid for n in normals] if positional else None
        model.local_model.build_bank(patients, lambda p: bar.update(), grids)
        bar.close()
    model.meta = {
        "training": {
            "normal_patient_ids": [n.patient_id for n in normals],
            "normal_study_uids": [e.study_instance_uid for e in entries],
            "n_normals": len(normals),
            "epochs": settings.local_epochs,
            "device": str(model.device),
            "seconds": {k: round(v, 1) for k, v in timer.seconds.items()},
            "global_bank_sizes": bank_sizes,
            "final_loss": model.local_model.history[-1]["loss"] if model.local_model.history else None,
        }
    }
    log(f"trained on {len(normals)} normals in {sum(timer.seconds.values()):.0f} s ({timer.seconds})")
    return model
