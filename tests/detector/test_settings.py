"""Model settings: validated on construction, refused when unknown, exact through JSON and model files."""

import json
from pathlib import Path

import pytest
import torch

from detector.global_branch import VIEWS
from detector.model import FusionModel
from detector.settings import TEST_SETTINGS, ModelSettings


def test_json_round_trip_is_exact_and_keeps_tuples():
    for s in (
        ModelSettings(),
        TEST_SETTINGS,
        ModelSettings(window_hu=(-900, 100), fusion_band_pct=(80.0, 95.5), local_projection="mean"),
    ):
        back = ModelSettings.from_json(s.to_json())
        assert back == s
        assert isinstance(back.window_hu, tuple) and isinstance(back.fusion_band_pct, tuple)
    # ints in JSON become the float settings they stand for
    assert ModelSettings.from_json('{"working_spacing_mm": 2}').working_spacing_mm == 2.0


def test_unknown_key_is_refused_and_named():
    with pytest.raises(ValueError, match="unknown key 'foo'"):
        ModelSettings.from_dict({**ModelSettings().to_dict(), "foo": 1})
    with pytest.raises(ValueError, match="unknown keys 'foo', 'bar'"):
        ModelSettings.from_json('{"foo": 1, "bar": 2}')
    with pytest.raises(ValueError, match="not valid JSON"):
        ModelSettings.from_json("{")
    with pytest.raises(ValueError, match="mapping"):
        ModelSettings.from_json("[1, 2]")
    # overrides keep refusing unknown names (a KeyError that lists the known ones)
    with pytest.raises(KeyError, match="unknown model setting 'foo'"):
        ModelSettings().with_overrides({"foo": "1"})


def test_removed_settings_are_unknown_keys():
    for key in ("local_features", "global_view_combine", "fusion_rule", "local_bank_mode"):
        with pytest.raises(ValueError, match=f"unknown key '{key}'"):
            ModelSettings.from_dict({key: "x"})


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("local_projection", "median", "'max', 'mean'"),
        ("local_realisation", "pixels", "'fpi', 'csi'"),
        ("global_extractor", "wide_resnet50_2", "'efficientnet_lite0_imagenet' or 'local_file:<path>'"),
        ("global_extractor", "local_file:", "'efficientnet_lite0_imagenet' or 'local_file:<path>'"),
    ],
)
def test_unknown_mode_is_refused_naming_field_value_and_choices(field, value, allowed):
    with pytest.raises(ValueError) as e:
        ModelSettings(**{field: value})
    assert str(e.value) == f"{field}: {value!r} is not allowed; allowed: {allowed}"
    with pytest.raises(ValueError, match=field):
        ModelSettings().with_overrides({field: value})


def test_modes_and_extractor_files_that_exist_are_accepted():
    assert ModelSettings(local_projection="mean", local_realisation="csi").fusion_rule == "published"
    assert ModelSettings().fusion_rule == "standardized"  # fpi's local score is a z-score
    assert ModelSettings(global_extractor="local_file:/models/lite0.pt").global_extractor.endswith("lite0.pt")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"working_spacing_mm": 0.0}, "working_spacing_mm: 0.0 must be positive"),
        ({"local_cube_vox": -8}, "local_cube_vox: -8 must be positive"),
        ({"local_epochs": -1}, "local_epochs: -1 must not be negative"),
        ({"local_percentile": 101.0}, "local_percentile: 101.0 must be a percentile in [0, 100]"),
        ({"fusion_band_pct": (82.0, 104.0)}, "fusion_band_pct: (82.0, 104.0) must be a percentile"),
        ({"fusion_band_pct": (94.0, 82.0)}, "fusion_band_pct: (94.0, 82.0) must be (low, high)"),
        ({"window_hu": (0.0, -800.0)}, "window_hu: (0.0, -800.0) must be (low, high)"),
        ({"global_coreset_ratio": 0.0}, "global_coreset_ratio: 0.0 must be in (0, 1]"),
        ({"local_grid": 9.0}, "local_grid: 9.0 is not a whole number"),
        ({"cuda_bf16": 1}, "cuda_bf16: 1 is not a boolean"),
        ({"denoise_sigma_mm": float("nan")}, "denoise_sigma_mm: nan is not a number"),
        ({"window_hu": (-800.0,)}, "window_hu: (-800.0,) is not a list of 2 numbers"),
    ],
)
def test_values_out_of_range_or_of_the_wrong_type_are_refused(changes, message):
    with pytest.raises(ValueError) as e:
        ModelSettings(**changes)
    assert str(e.value).startswith(message)


def test_override_text_that_does_not_parse_names_the_setting():
    with pytest.raises(ValueError, match="cuda_bf16: 'maybe' is not a boolean"):
        ModelSettings().with_overrides({"cuda_bf16": "maybe"})
    with pytest.raises(ValueError, match="local_grid: '9.5' is not a whole number"):
        ModelSettings().with_overrides({"local_grid": "9.5"})
    assert ModelSettings().with_overrides({"cuda_bf16": "off", "fusion_band_pct": "80,90"}) == ModelSettings(
        cuda_bf16=False, fusion_band_pct=(80.0, 90.0)
    )


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A small model file (global banks from random features; no training needed)."""
    model = FusionModel.new(TEST_SETTINGS, "cpu")
    g = torch.Generator().manual_seed(0)
    model.global_model.fit([{v: torch.randn(16, 8, generator=g) for v in VIEWS} for _ in range(3)])
    return model.save(tmp_path_factory.mktemp("model") / "m")


def _with_settings(saved, tmp_path, **changes):
    blob = torch.load(saved / "model.pt", map_location="cpu", weights_only=True)
    blob["meta"]["settings"].update(changes)
    out = tmp_path / "edited"
    out.mkdir()
    torch.save(blob, out / "model.pt")
    return out


def test_saved_model_loads_with_its_settings(saved_model):
    assert FusionModel.load(saved_model, "cpu").settings == TEST_SETTINGS


class _RunsCodeWhenUnpickled:
    """What an attacker who can write a model file plants: unpickling it calls Path.touch."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_model_file_that_would_run_code_is_refused_before_anything_runs(saved_model, tmp_path):
    blob = torch.load(saved_model / "model.pt", map_location="cpu", weights_only=True)
    marker = tmp_path / "code-ran"
    blob["global"]["payload"] = _RunsCodeWhenUnpickled(marker)
    evil = tmp_path / "evil"
    evil.mkdir()
    torch.save(blob, evil / "model.pt")
    with pytest.raises(ValueError, match="refused: the file holds Python objects besides tensors"):
        FusionModel.load(evil, "cpu")
    assert not marker.exists()


def test_model_with_an_unknown_setting_is_refused_naming_the_file(saved_model, tmp_path):
    bad = _with_settings(saved_model, tmp_path, foo=1)
    with pytest.raises(ValueError) as e:
        FusionModel.load(bad, "cpu")
    assert str(e.value) == f"{bad / 'model.pt'}: model settings: unknown key 'foo'"


def test_model_with_a_bad_mode_is_refused_naming_the_file(saved_model, tmp_path):
    bad = _with_settings(saved_model, tmp_path, local_realisation="pixels")
    with pytest.raises(ValueError) as e:
        FusionModel.load(bad, "cpu")
    assert str(e.value).startswith(f"{bad / 'model.pt'}: model settings: local_realisation: 'pixels'")


def test_model_trained_with_a_removed_option_is_refused(saved_model, tmp_path):
    bad = _with_settings(saved_model, tmp_path, local_bank_mode="position")
    with pytest.raises(ValueError, match="model settings: unknown key 'local_bank_mode'"):
        FusionModel.load(bad, "cpu")


def test_command_line_refuses_an_unknown_setting_without_a_traceback(tmp_path, capsys):
    from detector.cli import main

    rc = main(["train", "--normals", str(tmp_path), "--out", str(tmp_path / "m"), "--set", "foo=1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: unknown model setting 'foo'") and "Traceback" not in err


def test_checked_overrides_are_typed_and_json_ready_and_go_back_in_unchanged():
    """The one owner of the list/tuple conversion: a training job stores these, the worker
    hands them back to with_overrides."""
    stored = ModelSettings.checked_overrides({"fpi_patch_mm": [4, 40], "fpi_steps": "100"})
    assert stored == {"fpi_patch_mm": [4.0, 40.0], "fpi_steps": 100}
    assert json.loads(json.dumps(stored)) == stored
    again = ModelSettings().with_overrides(stored)
    assert again.fpi_patch_mm == (4.0, 40.0) and again.fpi_steps == 100
    with pytest.raises(KeyError, match="unknown model setting"):
        ModelSettings.checked_overrides({"nope": 1})
    with pytest.raises(ValueError, match="fpi_patch_mm"):
        ModelSettings.checked_overrides({"fpi_patch_mm": [4]})
