"""Model versions, detection jobs and their results, training jobs and calibrations.

Every job is a row with an explicit state machine (``JobStatus``): queued -> running -> done,
failed or cancelled. Workers move a job only with the row locked and only along
``TRANSITIONS``; progress, stage, timings, worker host, device and errors live on the row.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from webapp.cohorts.models import Cohort
from webapp.detection.points import OperatingPoint, points_of
from webapp.studies.models import UID_MAX_LENGTH, Study


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})
LIVE = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
# The legal moves. running -> running is a redelivered task re-claiming a job whose worker was
# lost; running -> queued is a retry after a transient error. Terminal states never change.
TRANSITIONS: dict[str, frozenset[str]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.DONE: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


class IllegalTransition(Exception):
    """A job was asked to move to a state its current state cannot reach."""

    def __init__(self, job: Job, target: str) -> None:
        super().__init__(f"{job._meta.verbose_name} {job.pk} is {job.status}; it cannot become {target}")
        self.current = job.status
        self.target = target


class Job(models.Model):
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0)  # 0..1
    stage = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Incremented by every worker that claims the job; only the latest claimant may finish it.
    attempts = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    queue = models.CharField(max_length=16, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    device = models.CharField(max_length=32, blank=True)
    timings = models.JSONField(default=dict, blank=True)  # seconds per stage
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set by the claim and every checkpoint: a running job whose heartbeat is old has lost its
    # worker (webapp.detection.sweep re-queues it; a file-system broker never redelivers).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the broker took the job's message; None while it never did (the sweep sends it again).
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=JobStatus.values), name="%(app_label)s_%(class)s_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0.0) & Q(progress__lte=1.0),
                name="%(app_label)s_%(class)s_progress_0_1",
            ),
        ]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def can_move_to(self, target: str) -> bool:
        return target in TRANSITIONS[self.status]

    def transition_to(self, target: str, **fields) -> None:
        """Move to ``target`` and save, or raise IllegalTransition. Call with the row locked
        (select_for_update inside a transaction) so no other process moves it meanwhile."""
        if not self.can_move_to(target):
            raise IllegalTransition(self, target)
        self.status = target
        for name, value in fields.items():
            setattr(self, name, value)
        if target in TERMINAL and "finished_at" not in fields:
            self.finished_at = timezone.now()
        self.save(update_fields=["status", "finished_at", *fields])


class ModelVersion(models.Model):
    """One detector model directory (model.pt + model.json) the site can score with."""

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        # kept with its results, calibrations and reads, but never made active again until restored
        RETIRED = "retired", "Retired"

    class Source(models.TextChoices):
        IMPORTED = "imported", "Imported"
        TRAINED = "trained", "Trained here"

    name = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    source = models.CharField(max_length=16, choices=Source.choices)
    is_active = models.BooleanField(default=False)
    # Relative to MEDIA_ROOT (models/<uuid>/), so the media folder can move.
    directory = models.CharField(max_length=400, blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    detector_version = models.CharField(max_length=32, blank=True)
    detector_settings = models.JSONField(default=dict, blank=True)  # model.json "settings"
    meta = models.JSONField(default=dict, blank=True)  # the rest of model.json
    training_cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="trained_model_versions"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Exactly one active model version at a time, enforced by the database.
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="detection_one_active_model_version"
            ),
            models.CheckConstraint(
                condition=Q(is_active=False) | Q(status="ready"), name="detection_active_model_is_ready"
            ),
        ]
        permissions = [
            ("import_modelversion", "Can import a detector model directory"),
            ("train_modelversion", "Can train a model version from a normal reference cohort"),
            ("activate_modelversion", "Can choose the active model version"),
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (active)' if self.is_active else ''}"

    @property
    def path(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.directory


class TrainingJob(Job):
    """Training one model version from a normal reference cohort (the version is created at launch
    with status training and becomes ready or failed with the job)."""

    model_version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE, related_name="training_job")
    cohort = models.ForeignKey(Cohort, null=True, on_delete=models.SET_NULL, related_name="training_jobs")
    # the local branch's training length (fpi steps or csi epochs); None: the settings' own
    epochs = models.PositiveIntegerField(null=True, blank=True)
    settings_overrides = models.JSONField(default=dict, blank=True)
    activate_when_done = models.BooleanField(default=False)

    class Meta(Job.Meta):
        abstract = False

    def __str__(self) -> str:
        return f"training {self.model_version.name} ({self.status})"


class DetectionJob(Job):
    """Scoring one study with one model version."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="detection_jobs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="detection_jobs")
    cohort = models.ForeignKey(  # the cohort it was launched from, if any
        Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="detection_jobs"
    )
    # Rows inserted by one launch share this, so the launch enqueues exactly the rows it created.
    launch_batch = models.UUIDField(null=True, blank=True, db_index=True)

    class Meta(Job.Meta):
        abstract = False
        constraints = [
            *Job.Meta.constraints,
            # One job per study and model version, unless earlier ones failed or were cancelled.
            models.UniqueConstraint(
                fields=["study", "model_version"],
                condition=Q(status__in=["queued", "running", "done"]),
                name="detection_one_live_job_per_study_model",
            ),
        ]
        permissions = [("launch_detection", "Can launch and cancel detection on studies they can see")]

    def __str__(self) -> str:
        return f"detection of study {self.study_id} with {self.model_version_id} ({self.status})"


class DetectionResult(models.Model):
    """The detector's output for one study: three patient scores (higher = more anomalous), the
    top peaks in LPS mm, and three maps on the CT's own grid (format: webapp.detection.maps)."""

    job = models.OneToOneField(DetectionJob, on_delete=models.CASCADE, related_name="result")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="detection_results")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="detection_results"
    )
    series_instance_uid = models.CharField(max_length=UID_MAX_LENGTH)
    global_score = models.FloatField()
    local_score = models.FloatField()
    fused_score = models.FloatField(db_index=True)
    local_normality = models.FloatField(null=True, blank=True)
    view_scores = models.JSONField(default=dict, blank=True)
    n_cubes = models.PositiveIntegerField(default=0)
    peaks = models.JSONField(default=list, blank=True)  # [{center_lps_mm, value, extent_mm, side}]
    # The CT grid the maps lie on: shape_zyx, spacing_zyx_mm, origin_lps_mm, direction_zyx.
    grid = models.JSONField(default=dict)
    maps_directory = models.CharField(max_length=400)  # relative to MEDIA_ROOT
    maps = models.JSONField(default=dict)  # kind -> file, dtype, offset, scale, sha256, sizes
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "model_version"], name="detection_one_result_per_study_model"
            )
        ]

    def __str__(self) -> str:
        return f"result of study {self.study_id}: fused {self.fused_score:.3f}"

    @property
    def maps_path(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.maps_directory


class Calibration(Job):
    """A model version scored on a labelled calibration cohort: ROC and AUC per branch and the
    named operating points, from which every fused score gets its meaning."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="calibrations")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="calibrations")
    n_normal = models.PositiveIntegerField(default=0)
    n_abnormal = models.PositiveIntegerField(default=0)
    n_unreadable = models.PositiveIntegerField(default=0)
    auc = models.JSONField(default=dict, blank=True)  # branch -> AUC
    roc = models.JSONField(default=dict, blank=True)  # branch -> {fpr, tpr, thresholds}
    operating_points = models.JSONField(default=dict, blank=True)  # branch -> name -> sens/spec/...
    per_study = models.JSONField(default=list, blank=True)  # the scores every figure comes from
    roc_plot = models.CharField(max_length=400, blank=True)  # PNG, relative to MEDIA_ROOT

    class Meta(Job.Meta):
        abstract = False
        permissions = [("run_calibration", "Can calibrate a model version on a labelled cohort")]

    def __str__(self) -> str:
        return f"calibration of {self.model_version_id} on cohort {self.cohort_id} ({self.status})"

    def points(self, branch: str = "fused") -> dict[str, OperatingPoint]:
        """The named operating points of a branch (the fused score's by default)."""
        return points_of(self.operating_points, branch)

    def point(self, name: str, branch: str = "fused") -> OperatingPoint | None:
        return self.points(branch).get(name)
