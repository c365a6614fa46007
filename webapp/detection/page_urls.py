from django.urls import path

from webapp.detection import pages, version_pages

app_name = "detection_pages"

urlpatterns = [
    path("jobs/", pages.job_monitor, name="jobs"),
    path("jobs/<int:job_id>/cancel/", pages.job_cancel, name="job-cancel"),
    path("calibrations/", pages.calibration_list, name="calibrations"),
    path("calibrations/<int:calibration_id>/", pages.calibration_detail, name="calibration"),
    path("cohorts/<int:cohort_id>/detect/", pages.cohort_detect, name="cohort-detect"),
    path("cohorts/<int:cohort_id>/calibrate/", pages.cohort_calibrate, name="cohort-calibrate"),
    path("models/", version_pages.version_list, name="model_versions"),
    path("models/<int:version_id>/", version_pages.version_detail, name="model_version"),
    path("models/<int:version_id>/<str:action>/", version_pages.version_action, name="model_version_action"),
]
