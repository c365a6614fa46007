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
_COORDINATE = {
    "cohorts.add_cohort",
    "cohorts.change_cohort",
    "cohorts.upload_studies",
    "cohorts.attach_labels",
    "cohorts.manage_members",
}

# Admins hold every permission of these apps (user management included) ...
ADMIN_APPS = ("auth", "authtoken", "accounts", "studies", "cohorts")
# ... except rewriting history: audit rows are append-only for everyone.
ADMIN_EXCLUDED = {"accounts.add_auditevent", "accounts.change_auditevent", "accounts.delete_auditevent"}

ROLE_PERMISSIONS: dict[str, set[str]] = {
    RADIOLOGIST: set(_READ_STUDIES),
    COORDINATOR: _READ_STUDIES | _COORDINATE,
    # ADMIN is computed from ADMIN_APPS at sync time; listed here are the ones it must have.
    ADMIN: _READ_STUDIES | _COORDINATE | {"cohorts.view_all_cohorts", "accounts.view_auditevent"},
}
