from django.apps import AppConfig


class PacsConfig(AppConfig):
    """The DICOM network: a C-STORE receiver whose callers map to cohorts, results as DICOM
    objects (Parametric Map, SEG, SR) sent to the hospital's PACS, pulling a study from one."""

    name = "webapp.pacs"
    label = "pacs"
    verbose_name = "PACS"
