"""Detection actions, from the units that own them: sending and cancelling jobs (jobs.py),
model versions and training (versions.py), launching detection (detections.py), results and
maps (results.py), calibration (calibrations.py).

Each takes the acting user (``None`` is the shell or the system: trusted), checks role and object
access itself, runs in one transaction, writes its audit row inside it, and sends Celery tasks
with ``transaction.on_commit`` so a worker never looks for a row that is not committed yet.
"""

from webapp.detection.calibrations import launch_calibration, view_calibration
from webapp.detection.detections import (
    LaunchResult,
    detect_after_ingest,
    launch_detection,
    launch_detection_for_cohort,
    launch_detection_for_study,
)
from webapp.detection.jobs import (
    TASK_CALIBRATE,
    TASK_DETECT,
    TASK_TRAIN,
    after_job_ended,
    cancel_job,
    enqueue_on_commit,
    send_now,
)
from webapp.detection.results import (
    media_path,
    record_map_view,
    record_results_list_view,
    result_interpretation,
    view_result,
)
from webapp.detection.versions import (
    MODEL_FILES,
    ModelFiles,
    activate_model_version,
    describe_model_dir,
    file_sha256,
    import_model_version,
    launch_training,
    make_active,
    retire_model_version,
)

__all__ = [
    "LaunchResult",
    "MODEL_FILES",
    "ModelFiles",
    "TASK_CALIBRATE",
    "TASK_DETECT",
    "TASK_TRAIN",
    "activate_model_version",
    "after_job_ended",
    "cancel_job",
    "describe_model_dir",
    "detect_after_ingest",
    "enqueue_on_commit",
    "file_sha256",
    "import_model_version",
    "launch_calibration",
    "launch_detection",
    "launch_detection_for_cohort",
    "launch_detection_for_study",
    "launch_training",
    "make_active",
    "media_path",
    "record_map_view",
    "record_results_list_view",
    "result_interpretation",
    "retire_model_version",
    "send_now",
    "view_calibration",
    "view_result",
]
