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
# Radiologists read the worklists assigned to them.
_READ_WORKLISTS = {"worklists.view_worklist", "worklists.add_read"}
# Coordinators build worklists from their cohorts and assign them.
_BUILD_WORKLISTS = {"worklists.view_worklist", "worklists.add_worklist", "worklists.assign_worklist"}
# Coordinators send results to the site's PACS (and see which nodes there are to send to).
_SEND_RESULTS = {"pacs.send_results", "pacs.view_dicomnode"}
_COORDINATE = {
    "cohorts.add_cohort",
    "cohorts.change_cohort",
    "cohorts.upload_studies",
    "cohorts.attach_labels",
    "cohorts.manage_members",
}

# Admins hold every permission of these apps (user management included) ...
# (not authtoken: API tokens are credentials, and nobody sees another user's)
ADMIN_APPS = ("auth", "accounts", "studies", "cohorts", "detection", "worklists", "pacs")
# ... except rewriting history: audit rows and reads are append-only for everyone (a read is
# corrected by an amendment, a new version); and except the roles themselves: the groups'
# permissions are this file's, so an admin cannot widen a role (or their own) in the admin site.
ADMIN_EXCLUDED = {
    "auth.add_group",
    "auth.change_group",
    "auth.delete_group",
    "auth.add_permission",
    "auth.change_permission",
    "auth.delete_permission",
    "accounts.add_auditevent",
    "accounts.change_auditevent",
    "accounts.delete_auditevent",
    "worklists.change_read",
    "worklists.delete_read",
    # the pseudonym map is the ingest's record: read by admins, written by nobody else
    "studies.add_pseudonym",
    "studies.change_pseudonym",
    "studies.delete_pseudonym",
    # what crossed the network is the receiver's and the sender's record
    "pacs.add_receivedstudy",
    "pacs.change_receivedstudy",
    "pacs.add_resultobject",
    "pacs.change_resultobject",
    "pacs.add_delivery",
    "pacs.change_delivery",
}

ROLE_PERMISSIONS: dict[str, set[str]] = {
    RADIOLOGIST: _READ_STUDIES | _READ_RESULTS | _READ_WORKLISTS,
    COORDINATOR: _READ_STUDIES
    | _READ_RESULTS
    | _COORDINATE
    | _RUN_DETECTION
    | _BUILD_WORKLISTS
    | _SEND_RESULTS,
    # ADMIN is computed from ADMIN_APPS at sync time; listed here are the ones it must have.
    ADMIN: _READ_STUDIES
    | _READ_RESULTS
    | _COORDINATE
    | _RUN_DETECTION
    | _BUILD_WORKLISTS
    | _SEND_RESULTS
    | {
        "cohorts.view_all_cohorts",
        "worklists.review_agreement",
        "accounts.view_auditevent",
        "detection.import_modelversion",
        "detection.train_modelversion",
        "detection.activate_modelversion",
        "detection.view_trainingjob",
        "detection.run_calibration",
    },
}
