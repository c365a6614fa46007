"""A model version's detector settings as an admin reads them: grouped by the part of the method
they belong to, each with its value and whether it is the detector's default (and the default
when it is not). Only the local realisation the model uses is shown."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from detector.settings import ModelSettings

SECTIONS = (
    (
        "Preparation",
        ("working_spacing_mm", "window_hu", "lung_threshold_hu", "denoise_sigma_mm", "mask_rim_mm"),
    ),
    ("Global branch", ("global_",)),
    ("Local branch", ("local_realisation",)),
    ("Local branch: foreign-patch network", ("fpi_",)),
    ("Local branch: contrastive encoders (paper)", ("local_",)),
    ("Fusion and findings", ("fusion_", "peak_", "display_")),
)


@dataclass(frozen=True)
class SettingRow:
    name: str
    label: str
    value: str
    default: str
    is_default: bool


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " – ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _label(name: str) -> str:
    for prefix in ("fpi_", "global_", "local_", "fusion_"):
        if name.startswith(prefix) and name != "local_realisation":
            name = name[len(prefix) :]
    for unit, words in (("_mm", " (mm)"), ("_px", " (pixels)"), ("_hu", " (HU)"), ("_pct", " (percentile)")):
        if name.endswith(unit):
            name = name[: -len(unit)] + words
    name = name.replace("_", " ")
    return name[:1].upper() + name[1:]


def _section(name: str) -> str:
    for title, keys in SECTIONS:
        if any(name == k or (k.endswith("_") and name.startswith(k)) for k in keys):
            if title == "Local branch: contrastive encoders (paper)" and name == "local_realisation":
                continue
            return title
    return "Speed and precision"


def settings_sections(stored: dict[str, Any]) -> list[tuple[str, list[SettingRow]]]:
    """(section title, rows) for the stored settings of a model version."""
    defaults = {f.name: getattr(ModelSettings(), f.name) for f in fields(ModelSettings)}
    realisation = stored.get("local_realisation", defaults["local_realisation"])
    hidden = "local_" if realisation == "fpi" else "fpi_"
    grouped: dict[str, list[SettingRow]] = {}
    for name, value in stored.items():
        if name.startswith(hidden) and name != "local_realisation":
            continue
        default = defaults.get(name)
        is_default = default is not None and _text(default) == _text(value)
        row = SettingRow(
            name, _label(name), _text(value), _text(default) if default is not None else "–", is_default
        )
        grouped.setdefault(_section(name), []).append(row)
    order = [t for t, _ in SECTIONS] + ["Speed and precision"]
    return [(t, grouped[t]) for t in order if t in grouped]
