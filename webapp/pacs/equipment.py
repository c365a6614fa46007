"""Who made a derived DICOM object: the same equipment module on every SEG, Parametric Map and
SR, naming the model version (and the detector's version) that produced the result."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from highdicom import AlgorithmIdentificationSequence
from highdicom.sr import AlgorithmIdentification
from pydicom.sr.codedict import codes

MANUFACTURER = "FusionScreen"
# Our own codes (PS3.16 8.2: a private coding scheme designator starts with 99).
SCHEME = "99FSCREEN"


@dataclass(frozen=True)
class Equipment:
    model_name: str  # the model version's name
    software_version: str  # the detector's version

    @property
    def kwargs(self) -> dict:
        """The equipment arguments every highdicom constructor takes."""
        return {
            "manufacturer": MANUFACTURER,
            "manufacturer_model_name": self.model_name[:64],
            "software_versions": self.software_version[:64] or "unknown",
            "device_serial_number": settings.DICOM_AE_TITLE,
        }

    def algorithm_sequence(self) -> AlgorithmIdentificationSequence:
        return AlgorithmIdentificationSequence(
            name="FusionScreen anomaly detection",
            family=codes.cid7162.ArtificialIntelligence,
            version=f"{self.model_name} ({self.software_version})"[:64],
        )

    def algorithm_id(self) -> AlgorithmIdentification:
        return AlgorithmIdentification(
            name="FusionScreen anomaly detection", version=f"{self.model_name} ({self.software_version})"[:64]
        )
