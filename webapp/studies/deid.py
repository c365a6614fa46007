"""De-identification on the way in, for cohorts that ask for it (research cohorts).

The DICOM basic application level confidentiality profile (PS3.15 Annex E) as implemented by
dicognito, a maintained de-identifier built on pydicom: names, IDs, UIDs, addresses and
equipment identifiers replaced by pseudonyms, dates and times shifted by one offset (so
intervals between a patient's studies survive), PatientIdentityRemoved and
DeidentificationMethod recorded. Private elements are removed as well (Annex E removes them
unless a site vouches for them), and an image that declares text burned into its pixels is
refused, since no header profile removes that.

The pseudonyms are a pure function of the cohort's secret seed and the original value: the
same patient uploaded twice gets the same pseudonym (duplicates stay duplicates, a patient's
studies stay together), and a labels CSV written with the hospital's own identifiers can be
translated without keeping the originals anywhere but the admin-only pseudonym map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydicom
from dicognito.anonymizer import Anonymizer
from pydicom.dataset import Dataset, FileMetaDataset

from webapp.studies.dicom import Rejected

PROFILE = "DICOM PS3.15 Annex E basic profile (dicognito), private elements removed"


@dataclass(frozen=True)
class Originals:
    """What the pseudonym map keeps of one file's identity."""

    patient_id: str
    issuer_of_patient_id: str
    study_instance_uid: str


class Deidentifier:
    """One cohort's de-identification: consistent for every file uploaded into it."""

    def __init__(self, seed: str) -> None:
        if not seed:
            raise ValueError("a de-identified cohort needs its secret seed")
        self._anonymizer = Anonymizer(seed=seed)

    def rewrite(self, path: Path) -> Originals:
        """De-identify the DICOM file at ``path`` in place; return the identifiers it had."""
        ds = pydicom.dcmread(path)
        if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
            raise Rejected(
                "this image declares text burned into its pixels (BurnedInAnnotation YES): "
                "a de-identified cohort cannot take it"
            )
        originals = Originals(
            patient_id=str(ds.get("PatientID", "")),
            issuer_of_patient_id=str(ds.get("IssuerOfPatientID", "")),
            study_instance_uid=str(ds.get("StudyInstanceUID", "")),
        )
        try:
            ds.remove_private_tags()
            self._anonymizer.anonymize(ds)
            ds.save_as(path, enforce_file_format=True)
        except Exception as e:  # an element the profile cannot rewrite: the file is not stored
            raise Rejected(f"could not be de-identified ({type(e).__name__}: {str(e)[:200]})") from None
        return originals

    def pseudonyms(self, patient_id: str, study_instance_uid: str) -> tuple[str, str]:
        """The pseudonyms this cohort gives a PatientID and a StudyInstanceUID (for labels)."""
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.PatientID = patient_id
        ds.StudyInstanceUID = study_instance_uid
        self._anonymizer.anonymize(ds)
        return str(ds.PatientID), str(ds.StudyInstanceUID)
