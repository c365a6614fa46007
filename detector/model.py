"""A model version: both branches, their banks, the settings and the training cohort's identity.

Saved as one directory: ``model.pt`` (tensors) and ``model.json`` (the same metadata, readable).
"""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from detector import __version__
from detector.global_branch import GlobalModel
from detector.local_slot import LocalRealisation, make_local
from detector.settings import ModelSettings

# 2 (December 2026): the local branch is a slot (settings.local_realisation); format-1 files hold
# settings that were removed and a local branch without a realisation: retrain them.
FORMAT_VERSION = 2


def pick_device(device: str | None = None) -> torch.device:
    """``cuda`` when asked for or available, else ``cpu``."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA device is available")
    return torch.device(device)


@dataclass
class FusionModel:
    settings: ModelSettings
    global_model: GlobalModel
    local_model: LocalRealisation
    device: torch.device
    meta: dict = field(default_factory=dict)

    @classmethod
    def new(cls, settings: ModelSettings, device: str | None = None) -> FusionModel:
        dev = pick_device(device)
        return cls(settings, GlobalModel(settings, dev), make_local(settings, dev), dev, {})

    def save(self, out_dir: Path | str) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "detector_version": __version__,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": self.settings.to_dict(),
            "global_extractor": self.global_model.extractor_info,
            "local": self.local_model.info(),
            **self.meta,
        }
        blob = {
            # plain data only (the JSON file's content), so the file loads with weights_only
            "meta": json.loads(json.dumps(meta, default=str)),
            "global": self.global_model.state(),
            "local": self.local_model.state(),
        }
        tmp = out / "model.pt.tmp"
        torch.save(blob, tmp)
        tmp.replace(out / "model.pt")  # never leave a half-written model behind
        (out / "model.json").write_text(json.dumps(meta, indent=2, default=str))
        return out

    @classmethod
    def load(cls, model_dir: Path | str, device: str | None = None) -> FusionModel:
        path = Path(model_dir)
        path = path / "model.pt" if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"no model at {model_dir} (expected a directory with model.pt)")
        try:
            # Tensors and plain data only: a pickle of anything else would run code on loading.
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise ValueError(
                f"{path}: refused: the file holds Python objects besides tensors and plain data, and "
                "loading them could run code; only weights-only model files are read (a model saved "
                "by this detector's train is one)"
            ) from None
        meta = blob["meta"]
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: model format {meta.get('format_version')} is not supported (this detector reads "
                f"format {FORMAT_VERSION}); train the model again"
            )
        try:
            settings = ModelSettings.from_dict(meta.get("settings"))
        except ValueError as e:
            # name the file: a site may hold many model versions
            raise ValueError(f"{path}: model settings: {e}") from None
        model = cls.new(settings, device)
        model.global_model.load_state(blob["global"])
        model.local_model.load_state(blob["local"])
        model.meta = {k: v for k, v in meta.items() if k not in {"settings"}}
        return model
