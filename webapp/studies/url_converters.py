"""The ``<uid:...>`` path converter for DICOM UIDs (dotted digits), used by the STOW-RS and the
DICOMweb routes. Importing this module registers it (Django keeps one global converter table)."""

from django.urls import register_converter


class UidConverter:
    regex = r"[0-9]+(?:\.[0-9]+)*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UidConverter, "uid")
