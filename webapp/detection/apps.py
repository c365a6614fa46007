from django.apps import AppConfig


class DetectionConfig(AppConfig):
    name = "webapp.detection"
    label = "detection"
    verbose_name = "Detection"

    def ready(self) -> None:
        from webapp.cohorts import parts
        from webapp.cohorts.signals import studies_added
        from webapp.detection.cohort_part import cohort_part
        from webapp.detection.services import detect_after_ingest

        parts.register(cohort_part)  # the model, scores, jobs and calibrations on a cohort's page
        # Studies uploaded into a screening cohort are queued for detection with the active model.
        studies_added.connect(detect_after_ingest, dispatch_uid="detection.detect_after_ingest")
