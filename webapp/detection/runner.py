"""The worker's side of a job's work: read the study, call the detector, save the rows;
train a model version; calibrate one. Claiming, checkpoints and settling are claims.py's."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Count

import detector.train as detector_train
from detector.cohort import CohortEntry
from detector.io import read_volume
from detector.model import FusionModel
from detector.pipeline import Timer
from detector.score import score_volume
from detector.settings import ModelSettings
from webapp.accounts.services import audit
from webapp.cohorts.models import CohortStudy
from webapp.detection import maps
from webapp.detection.calibration import NotCalibratable, calibration_metrics, write_roc_plot
from webapp.detection.claims import (
    Cancelled,
    Checkpoints,
    CheckpointTimer,
    ClaimLost,
    claim,
    owned,
    settle,
)
from webapp.detection.models import (
    Calibration,
    DetectionJob,
    DetectionResult,
    JobStatus,
    ModelVersion,
    TrainingJob,
)
from webapp.detection.selectors import labelled_studies
from webapp.detection.services import describe_model_dir, file_sha256, make_active
from webapp.detection.signals import result_stored
from webapp.studies.models import Series, Study

log = logging.getLogger(__name__)


# Where a detection job is when it enters each stage (the detector's Timer stages + ours).
DETECTION_PROGRESS = {
    "load_model": 0.02,
    "read": 0.05,
    "resample": 0.15,
    "lung_mask": 0.25,
    "global": 0.45,
    "local": 0.65,
    "fusion": 0.85,
    "write_maps": 0.9,
    "save": 0.97,
}


class NoCTSeries(ValueError):
    pass


# --- claiming and finishing ------------------------------------------------------------------


# --- shared pieces ---------------------------------------------------------------------------
_MODELS: dict[tuple[int, str], FusionModel] = {}


def use_torch_threads() -> None:
    """DETECTION_TORCH_THREADS intra-op threads for this worker's torch (0: torch's default, one
    per core). Several workers on one machine each take a share instead of all fighting over
    every core."""
    import torch

    if settings.DETECTION_TORCH_THREADS > 0 and torch.get_num_threads() != settings.DETECTION_TORCH_THREADS:
        torch.set_num_threads(settings.DETECTION_TORCH_THREADS)


def load_model(version: ModelVersion) -> FusionModel:
    """The version's model, kept in memory between jobs (one model per worker process)."""
    use_torch_threads()
    key = (version.pk, version.model_sha256)
    model = _MODELS.get(key)
    if model is None:
        _MODELS.clear()
        if version.model_sha256 and file_sha256(version.path / "model.pt") != version.model_sha256:
            raise ValueError(
                f"model version {version.name!r}: model.pt does not match the checksum recorded at import; "
                "import the model again"
            )
        model = FusionModel.load(version.path, settings.DETECTION_DEVICE)
        _MODELS[key] = model
    return model


def ct_series(study: Study) -> Series:
    """The study's CT series with the most images (scouts and other modalities are skipped)."""
    series = (
        study.series.filter(modality="CT")
        .annotate(n_images=Count("instances"))
        .order_by("-n_images", "series_number", "id")
        .first()
    )
    if series is None:
        raise NoCTSeries(f"study {study.study_instance_uid} has no CT series: detection reads chest CT only")
    return series


def _seconds(timer: Timer, started: float) -> dict[str, float]:
    out = {k: round(v, 3) for k, v in timer.seconds.items()}
    out["total"] = round(time.perf_counter() - started, 3)
    return out


# --- detection -------------------------------------------------------------------------------
def run_detection(job_id: int, worker: str) -> str:
    """Score one study: claim, read the CT, run the detector, store maps and the result row."""
    job = claim(DetectionJob, job_id, worker)
    if job is None:
        return "skipped"
    attempt = job.attempts
    started = time.perf_counter()
    timer = CheckpointTimer(Checkpoints(DetectionJob, job.pk, attempt), DETECTION_PROGRESS)
    relative = Path("results") / f"job-{job.pk}" / f"attempt-{attempt}"
    out_dir = Path(settings.MEDIA_ROOT) / relative
    try:
        series = ct_series(job.study)
        with timer.stage("load_model"):
            model = load_model(job.model_version)
        with timer.stage("read"):
            volume = read_volume(series.folder, series.series_instance_uid)
        scored = score_volume(model, volume, timer)
        with timer.stage("write_maps"):
            out_dir.mkdir(parents=True, exist_ok=True)
            stored = {
                kind: maps.write_map(out_dir, kind, arr)
                for kind, arr in scored.maps_on_ct_grid(volume).items()
            }
        timer.checkpoint("save", DETECTION_PROGRESS["save"])
        try:
            with owned(DetectionJob, job.pk, attempt) as locked:
                if locked.cancel_requested:
                    raise Cancelled("save")
                result = DetectionResult.objects.create(
                    job=locked,
                    study_id=locked.study_id,
                    model_version_id=locked.model_version_id,
                    series_instance_uid=series.series_instance_uid,
                    global_score=scored.global_score,
                    local_score=scored.local_score,
                    fused_score=scored.fused_score,
                    local_normality=scored.local_normality,
                    view_scores=scored.view_scores,
                    n_cubes=scored.n_cubes,
                    peaks=[p.to_dict() for p in scored.peaks],
                    grid={"shape_zyx": list(volume.shape), **volume.geometry.to_dict()},
                    maps_directory=relative.as_posix(),
                    maps=stored,
                )
                locked.transition_to(
                    JobStatus.DONE,
                    progress=1.0,
                    stage="done",
                    timings=_seconds(timer, started),
                    device=str(model.device),
                )
                audit(
                    None,
                    "detectionjob.done",
                    locked,
                    details={"result": result.pk, "fused_score": scored.fused_score, "worker": worker},
                )
                result_stored.send(sender=DetectionResult, result_id=result.pk)
        except IntegrityError:
            raise ClaimLost from None  # a result for this job or study+version is stored already
    except BaseException as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        return settle(DetectionJob, job.pk, attempt, exc)
    # Earlier attempts of this job (their workers were lost) may have left partial maps behind.
    for sibling in out_dir.parent.iterdir():
        if sibling != out_dir:
            shutil.rmtree(sibling, ignore_errors=True)
    return "done"


# --- training --------------------------------------------------------------------------------
def training_progress(checkpoint: Checkpoints) -> Callable[[str, float], None]:
    """detector.train's progress callback as checkpoints: its fraction of the training spans the
    job's 0.02..0.95 (reading the cohort before, saving the model after)."""

    def on_progress(stage: str, fraction: float) -> None:
        checkpoint(stage, 0.02 + 0.93 * min(max(fraction, 0.0), 1.0))

    return on_progress


def training_entries(job: TrainingJob) -> list[CohortEntry]:
    """The cohort's studies as the detector's cohort entries (each study's CT series folder)."""
    links = (
        CohortStudy.objects.filter(cohort_id=job.cohort_id)
        .select_related("study__patient")
        .order_by("study_id")
    )
    entries = []
    for link in links:
        series = ct_series(link.study)
        entries.append(
            CohortEntry(series.folder, link.study.patient.patient_id, link.study.study_instance_uid, "normal")
        )
    return entries


def run_training(job_id: int, worker: str) -> str:
    """Train a model version on its normal reference cohort and register the model directory."""
    job = claim(TrainingJob, job_id, worker)
    if job is None:
        return "skipped"
    attempt = job.attempts
    started = time.perf_counter()
    checkpoint = Checkpoints(TrainingJob, job.pk, attempt)
    relative = Path("models") / uuid.uuid4().hex
    out_dir = Path(settings.MEDIA_ROOT) / relative
    try:
        if job.cohort_id is None:
            raise ValueError("the training cohort was deleted")
        checkpoint("reading the cohort", 0.01)
        entries = training_entries(job)
        model_settings = ModelSettings().with_overrides(job.settings_overrides)
        use_torch_threads()
        model = detector_train.train(
            entries,
            model_settings,
            settings.DETECTION_DEVICE,
            job.epochs,
            progress=False,  # no bars in a worker's log: the job row has the progress
            log=log.info,
            on_progress=training_progress(checkpoint),
        )
        cohort = job.cohort
        model.meta["training"]["cohort"] = f"FusionScreen cohort {cohort.pk}: {cohort.name}"
        checkpoint("saving the model", 0.97)
        model.save(out_dir)
        files = describe_model_dir(out_dir, load=False)
        with owned(TrainingJob, job.pk, attempt) as locked:
            if locked.cancel_requested:
                raise Cancelled("save")
            version = ModelVersion.objects.select_for_update().get(pk=locked.model_version_id)
            version.status = ModelVersion.Status.READY
            version.directory = relative.as_posix()
            version.model_sha256 = files.sha256
            version.detector_version = files.detector_version
            version.detector_settings = files.detector_settings
            version.meta = files.meta
            version.save()
            timings = {
                **model.meta["training"].get("seconds", {}),
                "total": round(time.perf_counter() - started, 3),
            }
            locked.transition_to(
                JobStatus.DONE, progress=1.0, stage="done", timings=timings, device=str(model.device)
            )
            audit(None, "trainingjob.done", locked, details={"model_version": version.name, "worker": worker})
            if locked.activate_when_done:
                make_active(None, version)
    except BaseException as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        return settle(TrainingJob, job.pk, attempt, exc)
    return "done"


# --- calibration -----------------------------------------------------------------------------
def run_calibration(calibration_id: int, worker: str) -> str:
    """Score every labelled study of the calibration cohort (reusing stored results of the same
    model version), then ROC, AUC and operating points per branch and the ROC plot."""
    calibration = claim(Calibration, calibration_id, worker)
    if calibration is None:
        return "skipped"
    attempt = calibration.attempts
    started = time.perf_counter()
    checkpoint = Checkpoints(Calibration, calibration.pk, attempt)
    relative = Path("calibrations") / f"calibration-{calibration.pk}" / f"attempt-{attempt}" / "roc.png"
    plot = Path(settings.MEDIA_ROOT) / relative
    try:
        version = calibration.model_version
        studies = labelled_studies(calibration.cohort)
        stored = {
            r.study_id: r
            for r in DetectionResult.objects.filter(
                model_version=version, study__in=[s.pk for s, _, _ in studies]
            )
        }
        rows: list[dict[str, Any]] = []
        model: FusionModel | None = None  # loaded only if a study has no stored result
        for i, (study, label, lesion_type) in enumerate(studies):
            checkpoint(f"scoring study {i + 1} of {len(studies)}", 0.02 + 0.9 * i / max(len(studies), 1))
            row: dict[str, Any] = {
                "study_id": study.pk,
                "study_instance_uid": study.study_instance_uid,
                "patient_id": study.patient.patient_id,
                "label": label,
                "lesion_type": lesion_type,
            }
            result = stored.get(study.pk)
            if result is not None:
                row |= {
                    "global_score": result.global_score,
                    "local_score": result.local_score,
                    "fused_score": result.fused_score,
                    "source": f"detection result {result.pk}",
                }
            else:
                try:
                    series = ct_series(study)
                    model = model or load_model(version)
                    scored = score_volume(model, read_volume(series.folder, series.series_instance_uid))
                    row |= {
                        "global_score": scored.global_score,
                        "local_score": scored.local_score,
                        "fused_score": scored.fused_score,
                        "source": "scored for this calibration",
                    }
                except (ValueError, OSError) as e:  # unreadable studies are reported, not hidden
                    row["error"] = str(e) or type(e).__name__
            rows.append(row)
        checkpoint("ROC and operating points", 0.93)
        try:
            figures = calibration_metrics(rows)
        except NotCalibratable as e:
            raise ValueError(str(e)) from None
        write_roc_plot(
            rows,
            plot,
            f"{version.name} on {calibration.cohort.name}: {figures['n_abnormal']} abnormal vs {figures['n_normal']} normal",
        )
        with owned(Calibration, calibration.pk, attempt) as locked:
            if locked.cancel_requested:
                raise Cancelled("save")
            locked.n_normal = figures["n_normal"]
            locked.n_abnormal = figures["n_abnormal"]
            locked.n_unreadable = sum(1 for r in rows if r.get("error"))
            locked.auc = figures["auc"]
            locked.roc = figures["roc"]
            locked.operating_points = figures["operating_points"]
            locked.per_study = rows
            locked.roc_plot = relative.as_posix()
            locked.save()
            device = model.device if model is not None else "none (stored results only)"
            locked.transition_to(
                JobStatus.DONE,
                progress=1.0,
                stage="done",
                timings={"total": round(time.perf_counter() - started, 3)},
                device=str(device),
            )
            audit(None, "calibration.done", locked, details={"auc": figures["auc"], "worker": worker})
    except BaseException as exc:
        shutil.rmtree(plot.parent, ignore_errors=True)
        return settle(Calibration, calibration.pk, attempt, exc)
    return "done"
