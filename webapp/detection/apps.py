from django.apps import AppConfig


class DetectionConfig(AppConfig):
    name = "webapp.detection"
    label = "detection"
    verbose_name = "Detection"

    def ready(self) -> None:
        from webapp.cohorts.signals import studies_added
        from webapp.detection.services import detect_after_ingest

        # Studies uploaded into a screening cohort are queued for detection with the active model.
        studies_added.connect(detect_after_ingest, dispatch_uid="detection.detect_after_ingest")
