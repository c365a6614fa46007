"""Model versions: import a model directory, activate one, train one from a normal reference
cohort (a training job)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from webapp.accounts.services import audit
from webapp.cohorts.models import Cohort, CohortStudy
from webapp.core.errors import Conflict, require
from webapp.detection.detections import check_cohort
from webapp.detection.jobs import (
    enqueue_on_commit,
    new_task_fields,
)
from webapp.detection.models import (
    ModelVersion,
    TrainingJob,
)

log = logging.getLogger(__name__)

User = AbstractBaseUser | None


MODEL_FILES = ("model.pt", "model.json")


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


def retire_model_version(acting_user: User, version: ModelVersion, *, restore: bool = False) -> ModelVersion:
    """Retire a ready, inactive version (it stays with its results, calibrations and reads, but
    cannot be made active), or restore a retired one to ready."""
    require(acting_user, "detection.activate_modelversion", "retire model versions")
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        before, after = (
            (ModelVersion.Status.RETIRED, ModelVersion.Status.READY)
            if restore
            else (ModelVersion.Status.READY, ModelVersion.Status.RETIRED)
        )
        if version.is_active:
            raise Conflict(f"model version {version.name!r} is active: activate another one first")
        if version.status != before:
            raise Conflict(f"model version {version.name!r} is {version.status}, not {before}")
        version.status = after
        version.save(update_fields=["status"])
        audit(
            acting_user,
            "model_version.restored" if restore else "model_version.retired",
            version,
            details={"name": version.name},
        )
    return version


def _training_settings(overrides: dict[str, Any]) -> dict[str, Any]:
    """Validate ``name: value`` setting overrides against the detector's ModelSettings."""
    from detector.settings import ModelSettings

    try:
        return ModelSettings.checked_overrides(overrides or {})
    except (KeyError, TypeError, ValueError) as e:
        raise ValidationError({"settings": str(e).strip("'\"")}) from None


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
    check_cohort(acting_user, cohort)
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
            **new_task_fields(),
        )
        audit(
            acting_user,
            "model_version.training_launched",
            version,
            details={"cohort": cohort.pk, "studies": n_studies, "epochs": epochs, "settings": overrides},
        )
        enqueue_on_commit([job])
    return job
