"""``manage.py demo``: the web platform's demo data, made through the same services and worker
jobs as real use, down to the radiologist's triaged worklist. A Celery worker must be running (scripts/demo.sh starts one).

Idempotent: generated phantoms, cohorts, the demo model, results and the calibration are reused
when present, so running it again only does what is missing.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.accounts.services import create_demo_users
from webapp.cohorts import services as cohort_services
from webapp.cohorts.models import Cohort, CohortLabel, CohortMember, CohortStudy
from webapp.detection import services
from webapp.detection.models import Calibration, DetectionJob, Job, JobStatus, ModelVersion, TrainingJob
from webapp.detection.selectors import active_model_version, latest_calibration
from webapp.pacs.models import DicomNode
from webapp.worklists import services as worklist_services
from webapp.worklists.models import Worklist

DEFAULT_PASSWORD = "fusionscreen-demo"
MODEL_NAME = "demo (brief training)"
# The demo trains briefly so a fresh 2-core machine gets through it in minutes: 4 normals, a
# coarser working grid and a fifth of the default local training steps. Its figures show the
# platform working, not the method's quality (docs/results.md has those).
DEMO_SETTINGS = {"working_spacing_mm": 2.0, "global_image_px": 112}
DEMO_LOCAL_STEPS = 600
# (folder, seed, normals, abnormals): seed streams disjoint from each other and the engine demo's.
PHANTOMS = {
    "normal_reference": ("train_normals", 5100, 4, 0),
    "screening": ("screening", 5200, 3, 3),
    "calibration": ("calibration", 5300, 4, 4),
}
COHORT_NAMES = {
    "normal_reference": "Demo normal reference",
    "screening": "Demo screening",
    "calibration": "Demo calibration (labelled)",
}


WORKLIST_NAME = "Demo screening triage"


def demo_worklist(coordinator, screening: Cohort, radiologist) -> Worklist:
    """The screening cohort's worklist of the active model's results, assigned to the demo
    radiologist (built by the coordinator, as in real use; an existing one is kept)."""
    worklist = Worklist.objects.filter(
        name=WORKLIST_NAME, cohort=screening, model_version=active_model_version()
    ).first()
    if worklist is None:
        return worklist_services.build_worklist(
            coordinator, screening, name=WORKLIST_NAME, readers=[radiologist.get_username()]
        )
    worklist_services.assign_worklist(coordinator, worklist, [radiologist.get_username()])
    return worklist


class Command(BaseCommand):
    help = (
        "Demo users, synthetic cohorts, a briefly trained model, detection, calibration and the "
        "radiologist's worklist (needs a worker)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="where phantoms go (default var/demo-web)")
        parser.add_argument("--size", default="small", choices=("tiny", "small"), help="phantom size")
        parser.add_argument(
            "--epochs",
            type=int,
            default=DEMO_LOCAL_STEPS,
            help="the demo model's local training length (steps of the default fpi realisation)",
        )
        parser.add_argument("--timeout", type=int, default=1800, help="seconds to wait for each worker job")

    def handle(self, *args, out: Path | None, size: str, epochs: int, timeout: int, **options) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                "the demo writes demo users and synthetic patients: not in DJANGO_ENV=production"
            )
        self.timeout = timeout
        started = time.monotonic()
        out = (out or Path(settings.VAR_DIR) / "demo-web").resolve()
        password = os.environ.get("DEMO_PASSWORD") or DEFAULT_PASSWORD
        create_demo_users(None, password, reset_passwords=True)
        users = get_user_model().objects.in_bulk(
            ["admin", "coordinator", "radiologist"], field_name="username"
        )
        admin, coordinator, radiologist = users["admin"], users["coordinator"], users["radiologist"]

        folders = {purpose: self._phantoms(out, purpose, size) for purpose in PHANTOMS}
        cohorts = {purpose: self._cohort(purpose, coordinator, radiologist) for purpose in PHANTOMS}

        self._ingest(coordinator, cohorts["normal_reference"], folders["normal_reference"])
        version = self._model(admin, cohorts["normal_reference"], epochs)

        # Uploading into a screening cohort while a model is active queues detection by itself.
        self._ingest(coordinator, cohorts["screening"], folders["screening"])
        launch = services.launch_detection_for_cohort(coordinator, cohorts["screening"])
        self._say(
            f"detection with {version.name!r}: {len(launch.existing)} jobs queued by the upload or earlier, "
            f"{len(launch.created)} launched now"
        )
        jobs = [self._wait(job, "detection") for job in [*launch.created, *launch.existing]]
        for job in jobs:
            if job.status == JobStatus.DONE:
                self._say(
                    f"  {job.study.patient.patient_id}: fused score {job.result.fused_score:.3f} ({job.worker})"
                )

        self._ingest(coordinator, cohorts["calibration"], folders["calibration"])
        calibration_cohort = cohorts["calibration"]
        if not CohortLabel.objects.filter(cohort=calibration_cohort).exists():
            with (folders["calibration"] / "labels.csv").open("rb") as f:
                cohort_services.attach_labels(coordinator, calibration_cohort, File(f, name="labels.csv"))
        calibration = latest_calibration(version)
        if calibration is None or calibration.cohort_id != calibration_cohort.pk:
            calibration = self._wait(services.launch_calibration(admin, calibration_cohort), "calibration")
        if calibration.status == JobStatus.DONE:
            auc = ", ".join(f"{k} {v:.2f}" for k, v in calibration.auc.items())
            balanced = calibration.point("balanced")
            self._say(
                f"calibration on {calibration.n_normal} normal + {calibration.n_abnormal} abnormal: AUC {auc}; "
                f"balanced point: fused >= {balanced.threshold:.3f}, sensitivity "
                f"{balanced.sensitivity:.2f}, specificity {balanced.specificity:.2f}"
            )
        try:
            worklist = demo_worklist(coordinator, cohorts["screening"], radiologist)
            self._say(
                f"worklist {worklist.name!r}: {worklist.items.count()} studies, "
                f"{'blinded (shuffled; the AI is shown after each read)' if worklist.blinded else 'most anomalous first'}, "
                f"assigned to {radiologist.get_username()}"
            )
        except ValidationError as e:  # no detection finished: the jobs above said why
            self._say(f"no worklist: {'; '.join(e.messages)}")
        # A scanner that may push to the DICOM receiver (scripts/demo.sh starts one): its AE title
        # files what it sends into the screening cohort.
        DicomNode.objects.get_or_create(
            name="demo-scanner", defaults={"ae_title": "DEMO-SCANNER", "cohort": cohorts["screening"]}
        )
        self._say(
            f"DICOM node demo-scanner: calling AE DEMO-SCANNER pushes into {cohorts['screening'].name!r}"
        )
        self._say(f"demo data ready in {time.monotonic() - started:.0f} s")
        self.stdout.write(
            f"logins: admin, coordinator, radiologist; password: {password}"
            f"{'' if os.environ.get('DEMO_PASSWORD') else ' (set DEMO_PASSWORD to choose one)'}"
        )

    # --- steps ---------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def _phantoms(self, out: Path, purpose: str, size: str) -> Path:
        from detector.lab.phantom import generate_cohort

        name, seed, normals, abnormals = PHANTOMS[purpose]
        folder = out / f"{name}-{size}"
        if not (folder / "labels.csv").is_file():
            self._say(f"generating {normals} normal + {abnormals} abnormal {size} phantoms in {folder}")
            t0 = time.monotonic()
            generate_cohort(folder, normals, abnormals, seed, size, progress=False)
            self._say(f"  ({time.monotonic() - t0:.0f} s)")
        return folder

    def _cohort(self, purpose: str, coordinator, radiologist) -> Cohort:
        cohort = Cohort.objects.filter(name=COHORT_NAMES[purpose], purpose=purpose).first()
        if cohort is None:
            cohort = cohort_services.create_cohort(coordinator, name=COHORT_NAMES[purpose], purpose=purpose)
        if not CohortMember.objects.filter(cohort=cohort, user=radiologist).exists():
            cohort_services.add_member(coordinator, cohort, radiologist.get_username())
        return cohort

    def _ingest(self, coordinator, cohort: Cohort, folder: Path) -> None:
        expected = len({p.parent for p in folder.rglob("*.dcm")})
        if CohortStudy.objects.filter(cohort=cohort).count() >= expected:
            return
        t0 = time.monotonic()
        # One zip per cohort: the same path as a browser upload, one open file instead of hundreds.
        with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
            archive = Path(tmp) / f"{folder.name}.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
                for path in sorted(folder.rglob("*.dcm")):
                    zf.write(path, path.relative_to(folder).as_posix())
            with archive.open("rb") as f:
                result = cohort_services.upload_to_cohort(coordinator, cohort, [File(f, name=archive.name)])
        summary = result.summary()
        self._say(
            f"uploaded into {cohort.name!r}: {summary['accepted']} accepted, {summary['duplicate']} duplicate, "
            f"{summary['rejected']} rejected, {len(result.study_ids)} studies ({time.monotonic() - t0:.0f} s)"
        )

    def _model(self, admin, normals: Cohort, epochs: int) -> ModelVersion:
        version = ModelVersion.objects.filter(name=MODEL_NAME).first()
        if version is not None and version.status == ModelVersion.Status.FAILED:
            raise CommandError(
                f"the demo model failed to train earlier ({version.training_job.error}); "
                "start again from an empty database (delete var/db.sqlite3 and var/media)"
            )
        if version is None:
            self._say(
                f"training the demo model on {normals.study_links.count()} normals, {epochs} local steps: a brief "
                "training so the demo is quick, not a model to judge the method by"
            )
            job = services.launch_training(
                admin,
                normals,
                name=MODEL_NAME,
                epochs=epochs,
                settings_overrides=DEMO_SETTINGS,
                activate=True,
            )
            job = self._wait(job, "training")
            if job.status != JobStatus.DONE:
                raise CommandError(f"training {job.status}: {job.error}")
            self._say(f"  trained in {job.timings.get('total', 0):.0f} s on {job.device} by {job.worker}")
            version = ModelVersion.objects.get(pk=job.model_version_id)
        elif version.status == ModelVersion.Status.TRAINING:
            self._wait(TrainingJob.objects.get(model_version=version), "training")
            version.refresh_from_db()
        if active_model_version() is None:
            services.activate_model_version(admin, version)
            version.refresh_from_db()
        return version

    def _wait(self, job: Job, what: str) -> Job:
        """Follow a job until it ends, printing its stage; explain if no worker picks it up."""
        model = type(job)
        deadline = time.monotonic() + self.timeout
        idle_since = time.monotonic()
        last = ""
        while time.monotonic() < deadline:
            job = model.objects.get(pk=job.pk)
            line = f"  {what} {job.pk}: {job.status} {job.progress:.0%} {job.stage}"
            if line != last and what != "detection":
                self._say(line)
                last = line
            if job.is_terminal:
                if job.status != JobStatus.DONE:
                    self._say(f"  {what} {job.pk} {job.status}: {job.error}")
                return job
            busy = any(
                m.objects.filter(status=JobStatus.RUNNING).exists()
                for m in (DetectionJob, TrainingJob, Calibration)
            )
            if busy:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 120:
                raise CommandError(
                    f"{what} job {job.pk} has waited two minutes and no worker is running anything: start one "
                    f"with `celery -A webapp worker -Q {job.queue}` (scripts/demo.sh does)"
                )
            time.sleep(1.0)
        raise CommandError(f"{what} job {job.pk} did not finish within {self.timeout} s")
