"""Tiny train -> score -> evaluate through the public commands, and maps that line up."""

import json

import nibabel as nib
import numpy as np
import pytest

from detector.cli import main
from detector.cohort import discover
from detector.global_branch import back_project, lung_mips
from detector.io import read_series, write_nifti
from detector.lab.evaluate import score_cohort
from detector.lab.phantom import generate_cohort, make_phantom
from detector.lab.prepared_cache import PreparedCache
from detector.model import FusionModel
from detector.pipeline import prepare_for_model
from detector.preprocess import to_ct_grid
from detector.score import score_volume
from detector.settings import TEST_SETTINGS


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohorts")
    generate_cohort(root / "train", 3, 0, seed=501, size="tiny", progress=False)
    generate_cohort(root / "test", 2, 2, seed=502, size="tiny", progress=False)
    return root


@pytest.fixture(scope="module")
def model_dir(cohorts):
    out = cohorts / "model"
    overrides = []
    for k, v in TEST_SETTINGS.to_dict().items():
        if v != getattr(type(TEST_SETTINGS)(), k):
            overrides += ["--set", f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"]
    rc = main(
        [
            "train",
            "--normals",
            str(cohorts / "train"),
            "--out",
            str(out),
            "--device",
            "cpu",
            "--quiet",
            "--cache",  # the lab's prepared-study cache; that it changes nothing: test_prepared_cache
            str(cohorts / "train_cache"),
            *overrides,
        ]
    )
    assert rc == 0
    assert len(list((cohorts / "train_cache").glob("*.npz"))) == len(discover(cohorts / "train"))
    return out


def test_model_file_records_settings_and_cohort(model_dir):
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["settings"]["local_cube_vox"] == TEST_SETTINGS.local_cube_vox
    assert meta["training"]["n_normals"] == 3
    assert len(meta["training"]["normal_study_uids"]) == 3
    assert meta["global_extractor"]["architecture"] == "efficientnet-lite0"
    assert len(meta["global_extractor"]["weights_sha256"]) == 64


def test_score_writes_result_and_maps_on_the_ct_grid(model_dir, cohorts, tmp_path):
    entries = discover(cohorts / "test")
    study = next(e for e in entries if e.label == "abnormal").folder
    assert (
        main(
            [
                "score",
                "--model",
                str(model_dir),
                "--study",
                str(study),
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    res = json.loads((tmp_path / "result.json").read_text())
    for k in ("global_score", "local_score", "fused_score"):
        assert np.isfinite(res[k])
    assert res["peaks"] and len(res["peaks"][0]["center_lps_mm"]) == 3
    # every finding is described for a reader; the strongest finding's score is the study's own
    for peak in res["peaks"]:
        assert peak["zone"]["lung"] in ("left", "right") and peak["zone"]["level"] in (
            "upper",
            "middle",
            "lower",
        )
        assert peak["zone"]["depth"] in ("central", "peripheral") and peak["size_mm"] > 0
    assert max(p["score"] for p in res["peaks"]) <= res["fused_score"] + 1e-3
    ct = read_series(study)
    for name in ("global", "local", "fused"):
        img = nib.load(tmp_path / f"{name}_map.nii.gz")
        assert img.shape == ct.shape[::-1]  # NIfTI is (x, y, z)
        # voxel (0,0,0) of the map sits where the CT's first voxel sits (RAS = LPS with x, y negated)
        ras = img.affine @ np.array([0, 0, 0, 1.0])
        np.testing.assert_allclose(ras[:3] * [-1, -1, 1], ct.geometry.origin_lps_mm, atol=1e-3)
    fused = nib.load(tmp_path / "fused_map.nii.gz").get_fdata()
    assert fused.min() >= 0.0 and fused.max() <= 1.0 + 1e-3


def test_reloaded_model_scores_identically(model_dir, cohorts):
    vol = read_series(discover(cohorts / "test")[0].folder)
    a = score_volume(FusionModel.load(model_dir, "cpu"), vol)
    b = score_volume(FusionModel.load(model_dir, "cpu"), vol)
    assert a.fused_score == pytest.approx(b.fused_score, rel=1e-6)


def test_evaluate_writes_metrics_roc_and_tables(model_dir, cohorts, tmp_path):
    rc = main(
        [
            "evaluate",
            "--model",
            str(model_dir),
            "--cohort",
            str(cohorts / "test"),
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert rc == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    for k in (
        "auc_global",
        "auc_local",
        "auc_fused",
        "localization_hit_rate",
        "localization_top3_hit_rate",
        "localization_mean_mm",
        "localization_global_map_hit_rate",
        "localization_local_map_hit_rate",
    ):
        assert k in m
    assert set(m["operating_points"]["fused"]) == {"balanced", "high_sensitivity", "high_specificity"}
    assert m["n_normal"] == 2 and m["n_abnormal"] == 2
    assert set(m["per_lesion_type"]) == {"solid_nodule", "ground_glass"}
    assert (tmp_path / "roc.png").stat().st_size > 1000
    assert (tmp_path / "per_study.csv").read_text().count("\n") == 5


def test_tune_sets_the_fusion_weight_from_a_labelled_cohort(model_dir, cohorts, tmp_path):
    out = tmp_path / "tuned"
    rc = main(
        ["tune", "--model", str(model_dir), "--cohort", str(cohorts / "test"), "--out", str(out), "--quiet"]
    )
    assert rc == 0
    meta = json.loads((out / "model.json").read_text())
    tuning = meta["tuning"]
    assert meta["settings"]["fusion_weight"] == tuning["fusion_weight"]
    best = max(tuning["auc_by_weight"].values())
    assert tuning["auc_by_weight"][str(tuning["fusion_weight"])] == best
    assert tuning["n_normal"] == 2 and tuning["n_abnormal"] == 2
    assert FusionModel.load(out).settings.fusion_weight == tuning["fusion_weight"]


def test_tune_writes_what_evaluate_of_the_tuned_model_would(model_dir, cohorts, tmp_path):
    """`tune --evaluate-out` reuses its scoring pass: the same files `evaluate` of the tuned model
    writes on that cohort, fused scores at the weight chosen (not the model's weight before).
    Both run with `--cache`; `evaluate` reads every study from what `tune` left there."""
    base = FusionModel.load(model_dir)
    base.settings = base.settings.with_overrides({"fusion_weight": 0.0})  # any choice changes it
    before = base.save(tmp_path / "weight0")
    rc = main(
        [
            "tune",
            "--model",
            str(before),
            "--cohort",
            str(cohorts / "test"),
            "--out",
            str(tmp_path / "tuned"),
            "--evaluate-out",
            str(tmp_path / "from_tune"),
            "--cache",
            str(tmp_path / "cache"),  # filled here, read by `evaluate` below: the files must agree
            "--quiet",
        ]
    )
    assert rc == 0
    assert FusionModel.load(tmp_path / "tuned").settings.fusion_weight > 0
    rc = main(
        [
            "evaluate",
            "--model",
            str(tmp_path / "tuned"),
            "--cohort",
            str(cohorts / "test"),
            "--out",
            str(tmp_path / "evaluated"),
            "--cache",
            str(tmp_path / "cache"),
            "--quiet",
        ]
    )
    assert rc == 0
    assert len(list((tmp_path / "cache").glob("*.npz"))) == len(discover(cohorts / "test"))
    for name in ("per_study.csv", "metrics.json"):
        from_tune = (tmp_path / "from_tune" / name).read_text()
        evaluated = (tmp_path / "evaluated" / name).read_text()
        if name == "metrics.json":  # the model block names the model file each was given
            from_tune, evaluated = (
                {k: v for k, v in json.loads(t).items() if k != "model"} for t in (from_tune, evaluated)
            )
        assert from_tune == evaluated, name


def test_global_map_peaks_at_a_large_subpleural_lesion(tmp_path):
    """Geometry end to end: the map written as NIfTI, read back through its own affine,
    puts its maximum on the phantom's lesion."""
    s = TEST_SETTINGS.with_overrides({"working_spacing_mm": 2.0, "global_image_px": 112})
    model = FusionModel.new(s, "cpu")
    feats = []
    for seed in range(801, 805):
        prep = prepare_for_model(make_phantom(seed, "small").volume, s)
        feats.append(model.global_model.features(lung_mips(prep.branch_hu, prep.core, s)))
    model.global_model.fit(feats)
    ph = make_phantom(810, "small", lesion_type="consolidation", lesion_site="subpleural")
    prep = prepare_for_model(ph.volume, s)
    g, _, maps2d = model.global_model.score(lung_mips(prep.branch_hu, prep.core, s))
    gmap = to_ct_grid(
        back_project(maps2d, prep.lungs).numpy(), prep.working.geometry, ph.volume.geometry, ph.volume.shape
    )
    path = write_nifti(gmap, ph.volume.geometry, tmp_path / "g.nii.gz")
    img = nib.load(path)
    ijk = np.unravel_index(np.argmax(img.get_fdata()), img.shape)
    peak_lps = (img.affine @ np.array([*ijk, 1.0]))[:3] * [-1, -1, 1]
    dist = np.linalg.norm(peak_lps - np.asarray(ph.lesion.center_lps_mm))
    assert dist <= ph.lesion.diameter_mm / 2 + 10, f"global peak {dist:.1f} mm from the lesion centre"


def test_both_local_realisations_train_save_and_score(cohorts, tmp_path):
    """The slot's two realisations through the same train -> save -> load -> score path: the
    CPU default ("fpi", also in the tests above) and the paper's ("csi", for GPUs)."""
    from detector.train import train

    entries = discover(cohorts / "train")
    vol = read_series(discover(cohorts / "test")[0].folder)
    for realisation in ("fpi", "csi"):
        settings = TEST_SETTINGS.with_overrides({"local_realisation": realisation})
        model = train(entries, settings, "cpu", progress=False, log=lambda _: None)
        assert model.meta["training"]["local_realisation"] == realisation
        saved = model.save(tmp_path / realisation)
        meta = json.loads((saved / "model.json").read_text())
        assert meta["local"]["realisation"] == realisation
        result = score_volume(FusionModel.load(saved, "cpu"), vol)
        local = result.maps["local"]
        assert local.shape == result.maps["fused"].shape
        assert np.all(local[~result.lungs.both] == 0) and np.isfinite(result.fused_score)
        assert result.n_cubes > 0


def test_scoring_through_the_prepared_cache_scores_as_without_it(model_dir, cohorts, tmp_path):
    """`tune --cache` / `evaluate --cache` must judge a model exactly as a fresh read would."""
    model = FusionModel.load(model_dir)
    entries = discover(cohorts / "test")
    plain = score_cohort(model, entries, progress=False)
    cache = PreparedCache(tmp_path)
    filled = score_cohort(model, entries, progress=False, cache=cache)
    reused = score_cohort(model, entries, progress=False, cache=cache)
    assert cache.misses == len(entries) and cache.hits == len(entries)
    assert plain == filled == reused
