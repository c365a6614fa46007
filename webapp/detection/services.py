"""Detection actions: import, train and activate model versions; launch and cancel detection;
view results and maps; calibrate.

Each takes the acting user (``None`` is the shell or the system: trusted), checks role and object
access itself, runs in one transaction, writes its audit row inside it, and sends Celery tasks
with ``transaction.on_commit`` so a worker never looks for a row that is not committed yet.
Tasks are sent by name: the web process never imports the detector's heavy modules for that.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.accounts.services import audit
from webapp.cohorts.models import Cohort, CohortStudy
from webapp.cohorts.selectors import visible_cohorts, visible_studies
from webapp.core.errors import Conflict, require
from webapp.detection.models import (
    LIVE,
    Calibration,
    DetectionJob,
    DetectionResult,
    Job,
    JobStatus,
    ModelVersion,
    TrainingJob,
)
from webapp.detection.points import interpret
from webapp.detection.selectors import active_model_version, labelled_studies, latest_calibration
from webapp.studies.models import Study

log = logging.getLogger(__name__)

User = AbstractBaseUser | None

TASK_DETECT = "detection.run_detection_job"
TASK_TRAIN = "detection.train_model_version"
TASK_CALIBRATE = "detection.run_calibration"
_TASK_FOR = {DetectionJob: TASK_DETECT, TrainingJob: TASK_TRAIN, Calibration: TASK_CALIBRATE}
_KWARG_FOR = {DetectionJob: "job_id", TrainingJob: "training_job_id", Calibration: "calibration_id"}
MODEL_FILES = ("model.pt", "model.json")


def _check_cohort(user: User, cohort: Cohort) -> None:
    if user is not None and not visible_cohorts(user).filter(pk=cohort.pk).exists():
        raise Cohort.DoesNotExist


# --- sending jobs to the workers ------------------------------------------------------------
def _send(jobs: list[Job]) -> None:
    app = current_app  # the project's Celery app (webapp/celery.py), without importing the project
    for job in jobs:
        try:
            app.send_task(
                _TASK_FOR[type(job)],
                kwargs={_KWARG_FOR[type(job)]: job.pk},
                queue=job.queue,
                task_id=job.task_id,
            )
            type(job).objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(sent_at=timezone.now())
        except Exception as exc:  # the broker is down: say so on the row rather than fail the request
            log.exception("could not send %s %s to the broker", type(job).__name__, job.pk)
            type(job).objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
                error=f"not sent to a worker yet ({exc}); the periodic sweep sends it again"
            )


def send_now(jobs: Iterable[Job]) -> None:
    """Send queued jobs to the broker at once (the sweep's re-send of jobs it never took)."""
    _send(list(jobs))


def enqueue_on_commit(jobs: Iterable[Job]) -> None:
    """Send the jobs to the broker once the transaction that created (or reset) them commits,
    so a worker never picks up a row it cannot see yet."""
    jobs = list(jobs)
    if jobs:
        transaction.on_commit(lambda: _send(jobs))


def _new_task_fields() -> dict[str, str]:
    return {"queue": settings.DETECTION_QUEUE, "task_id": str(uuid.uuid4())}


# --- model versions --------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelFiles:
    """What a detector model directory says about itself (its model.json) and its checksum."""

    detector_settings: dict[str, Any]
    meta: dict[str, Any]
    sha256: str
    detector_version: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link when both lie on one disk (model files are hundreds of MB; the detector
    replaces files rather than rewriting them, and jobs check the checksum), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def describe_model_dir(directory: Path, *, load: bool = True) -> ModelFiles:
    """Check a detector model directory and read its model.json; with ``load`` also load the
    model (on the CPU) so a broken file is refused here rather than in every job."""
    from detector.model import FORMAT_VERSION

    missing = [name for name in MODEL_FILES if not (directory / name).is_file()]
    if missing:
        raise ValidationError(
            {"directory": f"{directory}: not a detector model directory (missing {', '.join(missing)})"}
        )
    try:
        meta = json.loads((directory / "model.json").read_text())
    except (OSError, ValueError) as e:
        raise ValidationError({"directory": f"{directory}/model.json is not readable JSON: {e}"}) from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValidationError(
            {
                "directory": f"{directory}: model format {meta.get('format_version')!r}; this detector "
                f"reads format {FORMAT_VERSION}"
            }
        )
    if load:
        from detector.model import FusionModel

        try:
            FusionModel.load(directory, "cpu")
        except Exception as e:  # any failure to load means every job would fail the same way
            raise ValidationError({"directory": f"{directory}: the model does not load: {e}"}) from None
    return ModelFiles(
        detector_settings=meta.get("settings", {}),
        meta={k: v for k, v in meta.items() if k != "settings"},
        sha256=file_sha256(directory / "model.pt"),
        detector_version=str(meta.get("detector_version", "")),
    )


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "a model version needs a name"})
    if len(name) > 200:
        raise ValidationError({"name": "at most 200 characters"})
    if ModelVersion.objects.filter(name=name).exists():
        raise ValidationError({"name": f"a model version named {name!r} exists already; choose another name"})
    return name


def make_active(acting_user: User, version: ModelVersion) -> None:
    """Make ``version`` the only active one (inside the caller's transaction)."""
    previous = list(ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=version.pk))
    ModelVersion.objects.filter(pk__in=[v.pk for v in previous]).update(is_active=False)
    version.is_active = True
    version.save(update_fields=["is_active"])
    audit(
        acting_user,
        "model_version.activated",
        version,
        details={"name": version.name, "previous": [v.name for v in previous]},
    )


def import_model_version(
    acting_user: User,
    source: Path | str,
    *,
    name: str = "",
    activate: bool = False,
    from_import_root: bool = True,
) -> ModelVersion:
    """Copy a detector model directory into the site's media and register it as a model version.

    Through the API (``from_import_root``) the directory must lie under MODEL_IMPORT_ROOT; the
    shell command may name any directory.
    """
    require(acting_user, "detection.import_modelversion", "import model versions")
    if activate:
        require(acting_user, "detection.activate_modelversion", "activate model versions")
    source = Path(source)
    if from_import_root:
        root = Path(settings.MODEL_IMPORT_ROOT).resolve()
        resolved = (root / source).resolve() if not source.is_absolute() else source.resolve()
        if not resolved.is_relative_to(root):
            raise ValidationError(
                {"directory": f"model directories are imported from under {root}; copy it there first"}
            )
        source = resolved
    if not source.is_dir():
        raise ValidationError({"directory": f"{source}: no such directory"})
    name = _check_name(name or source.name)
    files = describe_model_dir(source)
    relative = Path("models") / uuid.uuid4().hex
    target = Path(settings.MEDIA_ROOT) / relative
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True)
    try:
        for file_name in MODEL_FILES:
            _link_or_copy(source / file_name, partial / file_name)
        partial.rename(target)
        with transaction.atomic():
            version = ModelVersion.objects.create(
                name=name,
                status=ModelVersion.Status.READY,
                source=ModelVersion.Source.IMPORTED,
                directory=relative.as_posix(),
                model_sha256=files.sha256,
                detector_version=files.detector_version,
                detector_settings=files.detector_settings,
                meta=files.meta,
                created_by=acting_user,
            )
            audit(
                acting_user,
                "model_version.imported",
                version,
                details={"name": name, "source": str(source), "sha256": files.sha256},
            )
            if activate:
                make_active(acting_user, version)
    except IntegrityError:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        raise ValidationError({"name": f"a model version named {name!r} exists already"}) from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        raise
    return version


def activate_model_version(acting_user: User, version: ModelVersion) -> ModelVersion:
    """Make this version the one new detection jobs use (exactly one is active)."""
    require(acting_user, "detection.activate_modelversion", "activate model versions")
    try:
        with transaction.atomic():
            version = ModelVersion.objects.select_for_update().get(pk=version.pk)
            if version.status != ModelVersion.Status.READY:
                raise Conflict(
                    f"model version {version.name!r} is {version.status}; only a ready one can be active"
                )
            if not version.is_active:
                make_active(acting_user, version)
    except IntegrityError:
        # Two activations raced; the database kept exactly one. The caller may simply retry.
        raise Conflict("another model version was activated at the same moment; try again") from None
    return version


def _training_settings(overrides: dict[str, Any]) -> dict[str, Any]:
    """Validate ``name: value`` setting overrides against the detector's ModelSettings."""
    from detector.settings import ModelSettings

    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in (overrides or {}).items()}
    try:
        ModelSettings().with_overrides(clean)
    except (KeyError, TypeError, ValueError) as e:
        raise ValidationError({"settings": str(e).strip("'\"")}) from None
    return {k: list(v) if isinstance(v, tuple) else v for k, v in clean.items()}


def launch_training(
    acting_user: User,
    cohort: Cohort,
    *,
    name: str,
    epochs: int | None = None,
    settings_overrides: dict[str, Any] | None = None,
    activate: bool = False,
) -> TrainingJob:
    """Train a new model version from a normal reference cohort as a worker job."""
    require(acting_user, "detection.train_modelversion", "train model versions")
    if activate:
        require(acting_user, "detection.activate_modelversion", "activate model versions")
    _check_cohort(acting_user, cohort)
    if cohort.purpose != Cohort.Purpose.NORMAL_REFERENCE:
        raise ValidationError(
            {"cohort": f"models train on normal reference cohorts; this one's purpose is {cohort.purpose}"}
        )
    n_studies = CohortStudy.objects.filter(cohort=cohort).count()
    if n_studies < 2:
        raise ValidationError(
            {"cohort": f"training needs at least 2 normal studies; the cohort has {n_studies}"}
        )
    if epochs is not None and not 1 <= epochs <= 100_000:
        raise ValidationError({"epochs": "epochs must be between 1 and 100000"})
    overrides = _training_settings(settings_overrides or {})
    with transaction.atomic():
        name = _check_name(name)
        version = ModelVersion.objects.create(
            name=name,
            status=ModelVersion.Status.TRAINING,
            source=ModelVersion.Source.TRAINED,
            training_cohort=cohort,
            created_by=acting_user,
        )
        job = TrainingJob.objects.create(
            model_version=version,
            cohort=cohort,
            epochs=epochs,
            settings_overrides=overrides,
            activate_when_done=activate,
            requested_by=acting_user,
            **_new_task_fields(),
        )
        audit(
            acting_user,
            "model_version.training_launched",
            version,
            details={"cohort": cohort.pk, "studies": n_studies, "epochs": epochs, "settings": overrides},
        )
        enqueue_on_commit([job])
    return job


# --- detection jobs --------------------------------------------------------------------------
@dataclass
class LaunchResult:
    model_version: ModelVersion
    created: list[DetectionJob] = field(default_factory=list)
    existing: list[DetectionJob] = field(default_factory=list)  # queued, running or done already


def _no_active_model() -> ValidationError:
    return ValidationError(
        {"model_version": "no model version is active: an admin must import or train one and activate it"}
    )


def launch_detection(
    acting_user: User,
    study_ids: Iterable[int],
    *,
    cohort: Cohort | None = None,
    model_version: ModelVersion | None = None,
    reason: str = "requested",
) -> LaunchResult:
    """One detection job per study with the model version (the active one by default), unless a
    queued, running or finished job exists for that study and version already."""
    version = model_version or active_model_version()
    if version is None:
        raise _no_active_model()
    if version.status != ModelVersion.Status.READY:
        raise ValidationError({"model_version": f"model version {version.name!r} is {version.status}"})
    wanted = sorted(set(study_ids))
    with transaction.atomic():
        live = DetectionJob.objects.filter(
            study_id__in=wanted,
            model_version=version,
            status__in=[*LIVE, JobStatus.DONE],
        )
        existing = list(live)
        have = {job.study_id for job in existing}
        batch = uuid.uuid4()
        DetectionJob.objects.bulk_create(
            [
                DetectionJob(
                    study_id=sid,
                    model_version=version,
                    cohort=cohort,
                    requested_by=acting_user,
                    launch_batch=batch,
                    **_new_task_fields(),
                )
                for sid in wanted
                if sid not in have
            ],
            batch_size=500,
            # A concurrent launch may have inserted the same (study, version) meanwhile: the
            # database's unique constraint keeps one, and we enqueue only the rows we inserted.
            ignore_conflicts=True,
        )
        created = list(DetectionJob.objects.filter(launch_batch=batch).order_by("pk"))
        target: Cohort | Study | None = cohort
        if target is None and len(wanted) == 1:
            target = Study(pk=wanted[0])
        audit(
            acting_user,
            "detection.launched",
            target,
            object_type="" if target is not None else "studies.study",
            details={
                "reason": reason,
                "model_version": version.name,
                "created": len(created),
                "existing": len(existing),
                "job_ids": [j.pk for j in created][:1000],
            },
        )
        enqueue_on_commit(created)
    return LaunchResult(version, created, existing)


def launch_detection_for_cohort(acting_user: User, cohort: Cohort) -> LaunchResult:
    """Detection for every study of a cohort the user sees."""
    require(acting_user, "detection.launch_detection", "launch detection")
    _check_cohort(acting_user, cohort)
    study_ids = CohortStudy.objects.filter(cohort=cohort).values_list("study_id", flat=True)
    return launch_detection(acting_user, list(study_ids), cohort=cohort, reason="cohort")


def launch_detection_for_study(acting_user: User, study_id: int) -> LaunchResult:
    require(acting_user, "detection.launch_detection", "launch detection")
    study = (visible_studies(acting_user) if acting_user is not None else Study.objects).get(pk=study_id)
    return launch_detection(acting_user, [study.pk], reason="study")


def detect_after_ingest(
    sender: Any, *, cohort: Cohort, study_ids: list[int], acting_user: User, **kwargs: Any
) -> None:
    """``studies_added`` receiver: new studies in a screening cohort are queued for detection
    with the active model (nothing happens while no model is active)."""
    if cohort.purpose != Cohort.Purpose.SCREENING or not study_ids:
        return
    version = active_model_version()
    if version is None:
        return
    launch_detection(acting_user, study_ids, cohort=cohort, model_version=version, reason="ingest")


def cancel_job(acting_user: User, job: Job) -> Job:
    """Cancel a job: a queued one at once (and its task revoked), a running one at its next
    checkpoint (the worker moves it to cancelled), or at once when asked a second time."""
    perm = {
        DetectionJob: "detection.launch_detection",
        TrainingJob: "detection.train_modelversion",
        Calibration: "detection.run_calibration",
    }[type(job)]
    require(acting_user, perm, "cancel this job")
    model = type(job)
    revoke = ""
    with transaction.atomic():
        job = model.objects.select_for_update().get(pk=job.pk)
        who = acting_user.get_username() if acting_user is not None else "the system"
        if job.status == JobStatus.QUEUED:
            job.transition_to(
                JobStatus.CANCELLED, cancel_requested=True, stage="cancelled", error=f"cancelled by {who}"
            )
            after_job_ended(job)
            revoke = job.task_id
        elif job.status == JobStatus.RUNNING and not job.cancel_requested:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested"])
        elif job.status == JobStatus.RUNNING:
            # Asked twice: its worker is gone or stuck (a file-system broker never redelivers a
            # killed worker's task). Safe to end here: if that worker still runs, its next
            # checkpoint finds it no longer owns the job and drops its work.
            job.transition_to(
                JobStatus.CANCELLED,
                stage="cancelled",
                error=f"cancelled by {who} while running; its worker had not stopped it",
            )
            after_job_ended(job)
        else:
            raise Conflict(f"{job._meta.verbose_name} {job.pk} is {job.status} already: nothing to cancel")
        audit(acting_user, f"{job._meta.model_name}.cancel_requested", job, details={"status": job.status})
        if revoke:
            transaction.on_commit(lambda: _revoke(revoke))
    return job


def _revoke(task_id: str) -> None:
    """Best effort: a revoked message is dropped by workers; one that still arrives finds its job
    cancelled and does nothing."""
    try:
        current_app.control.revoke(task_id)
    except Exception:
        log.warning("could not broadcast the revocation of task %s", task_id, exc_info=True)


def after_job_ended(job: Job) -> None:
    """A training job that ends without a model leaves its model version failed."""
    if isinstance(job, TrainingJob) and job.status != JobStatus.DONE:
        ModelVersion.objects.filter(pk=job.model_version_id, status=ModelVersion.Status.TRAINING).update(
            status=ModelVersion.Status.FAILED
        )


# --- results ---------------------------------------------------------------------------------
def view_result(
    acting_user: AbstractBaseUser,
    study_id: int,
    *,
    result_id: int | None = None,
    model_version_id: int | None = None,
) -> DetectionResult:
    """A study's detection result (the active model's, else the newest), audited as a view.

    Study.DoesNotExist when the user may not see the study; DetectionResult.DoesNotExist when
    there is no result yet.
    """
    if not acting_user.has_perm("detection.view_detectionresult"):
        raise PermissionDenied("your role does not allow you to see detection results")
    with transaction.atomic():
        study = visible_studies(acting_user).select_related("patient").get(pk=study_id)
        results = DetectionResult.objects.filter(study=study).select_related("model_version", "job")
        if result_id is not None:
            result = results.get(pk=result_id)
        elif model_version_id is not None:
            result = results.get(model_version_id=model_version_id)
        else:
            result = results.filter(model_version__is_active=True).first() or results.first()
            if result is None:
                raise DetectionResult.DoesNotExist
        audit(
            acting_user,
            "detection.result_viewed",
            result,
            details={
                "study_id": study.pk,
                "study_instance_uid": study.study_instance_uid,
                "patient_id": study.patient.patient_id,
                "model_version": result.model_version.name,
            },
        )
    return result


def record_map_view(acting_user: AbstractBaseUser, result: DetectionResult, kind: str, status: int) -> None:
    """Audit one map download (also a 304 answer: the client showed the map it had)."""
    with transaction.atomic():
        audit(
            acting_user,
            "detection.map_viewed",
            result,
            details={"study_id": result.study_id, "kind": kind, "status": status},
        )


def record_results_list_view(acting_user: AbstractBaseUser, study_ids: list[int], filters: dict) -> None:
    """Audit one page of the results list: patient identifiers and scores were shown."""
    with transaction.atomic():
        audit(
            acting_user,
            "detection.results_listed",
            object_type="detection.detectionresult",
            details={"study_ids": study_ids, "filters": {k: str(v) for k, v in filters.items()}},
        )


def media_path(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def result_interpretation(result: DetectionResult) -> dict[str, Any]:
    """What the fused score means at the named operating points of the newest calibration of
    the result's model version."""
    calibration = latest_calibration(result.model_version)
    if calibration is None:
        return {
            "calibration": None,
            "message": "this model version has not been calibrated yet: the score has no operating point",
            "operating_points": {},
        }
    return {
        "calibration": calibration.pk,
        "calibration_cohort": calibration.cohort_id,
        "calibrated_at": calibration.finished_at,
        "auc_fused": calibration.auc.get("fused"),
        "operating_points": interpret(result.fused_score, calibration.operating_points),
    }


# --- calibration -----------------------------------------------------------------------------
def launch_calibration(
    acting_user: User, cohort: Cohort, *, model_version: ModelVersion | None = None
) -> Calibration:
    """Score a labelled calibration cohort with a model version (the active one by default)."""
    require(acting_user, "detection.run_calibration", "calibrate model versions")
    _check_cohort(acting_user, cohort)
    if cohort.purpose != Cohort.Purpose.CALIBRATION:
        raise ValidationError(
            {
                "cohort": f"calibration needs a labelled calibration cohort; this one's purpose is {cohort.purpose}"
            }
        )
    version = model_version or active_model_version()
    if version is None:
        raise _no_active_model()
    if version.status != ModelVersion.Status.READY:
        raise ValidationError({"model_version": f"model version {version.name!r} is {version.status}"})
    labels = [label for _, label, _ in labelled_studies(cohort)]
    normals, abnormals = labels.count("normal"), labels.count("abnormal")
    if not normals or not abnormals:
        raise ValidationError(
            {
                "cohort": f"calibration needs uploaded studies labelled normal and abnormal; this cohort has "
                f"{normals} normal and {abnormals} abnormal (attach a labels CSV, upload the images)"
            }
        )
    with transaction.atomic():
        calibration = Calibration.objects.create(
            cohort=cohort, model_version=version, requested_by=acting_user, **_new_task_fields()
        )
        audit(
            acting_user,
            "calibration.launched",
            calibration,
            details={
                "cohort": cohort.pk,
                "model_version": version.name,
                "normal": normals,
                "abnormal": abnormals,
            },
        )
        enqueue_on_commit([calibration])
    return calibration


def view_calibration(acting_user: AbstractBaseUser, calibration: Calibration) -> Calibration:
    """Audit a look at a calibration (its per-study scores name patients)."""
    with transaction.atomic():
        audit(acting_user, "calibration.viewed", calibration, details={"cohort": calibration.cohort_id})
    return calibration
