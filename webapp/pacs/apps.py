from django.apps import AppConfig


class PacsConfig(AppConfig):
    """The DICOM network: a C-STORE receiver whose callers map to cohorts, results as DICOM
    objects (Parametric Map, SEG, SR) sent to the hospital's PACS, pulling a study from one."""

    name = "webapp.pacs"
    label = "pacs"
    verbose_name = "PACS"

    def ready(self) -> None:
        from webapp.detection.signals import result_stored
        from webapp.pacs.deliveries import export_after_read, export_after_result
        from webapp.worklists.signals import read_recorded

        # Each stored result and each read gets its DICOM objects, and goes to the nodes that
        # take every result.
        result_stored.connect(export_after_result, dispatch_uid="pacs.export_after_result")
        read_recorded.connect(export_after_read, dispatch_uid="pacs.export_after_read")
