"""The three roles and the permissions each one holds. The groups in the database are kept equal
to this table by ``services.ensure_roles`` (run after every migrate)."""

from __future__ import annotations

RADIOLOGIST = "radiologist"
COORDINATOR = "coordinator"
ADMIN = "admin"
ROLES = (RADIOLOGIST, COORDINATOR, ADMIN)

_READ_STUDIES = {
    "cohorts.view_cohort",
    "studies.view_patient",
    "studies.view_study",
    "studies.view_series",
    "studies.view_instance",
}
# Results and what they mean: every role that reads studies.
_READ_RESULTS = {
    "detection.view_modelversion",
    "detection.view_detectionresult",
    "detection.view_calibration",
}
# Coordinators launch detection on their cohorts and follow its jobs.
_RUN_DETECTION = {"detection.view_detectionjob", "detection.launch_detection"}
_COORDINATE = {
    "cohorts.add_cohort",
    "cohorts.change_cohort",
    "cohorts.upload_studies",
    "cohorts.attach_labels",
    "cohorts.manage_members",
}

# Admins hold every permission of these apps (user management included) ...
ADMIN_APPS = ("auth", "authtoken", "accounts", "studies", "cohorts", "detection")
# ... except rewriting history: audit rows are append-only for everyone.
ADMIN_EXCLUDED = {"accounts.add_auditevent", "accounts.change_auditevent", "accounts.delete_auditevent"}

ROLE_PERMISSIONS: dict[str, set[str]] = {
    RADIOLOGIST: _READ_STUDIES | _READ_RESULTS,
    COORDINATOR: _READ_STUDIES | _READ_RESULTS | _COORDINATE | _RUN_DETECTION,
    # ADMIN is computed from ADMIN_APPS at sync time; listed here are the ones it must have.
    ADMIN: _READ_STUDIES
    | _READ_RESULTS
    | _COORDINATE
    | _RUN_DETECTION
    | {
        "cohorts.view_all_cohorts",
        "accounts.view_auditevent",
        "detection.import_modelversion",
        "detection.train_modelversion",
        "detection.activate_modelversion",
        "detection.view_trainingjob",
        "detection.run_calibration",
    },
}
