"""Patients across cohorts (issue 12, finding 1): the same PatientID uploaded into two cohorts is
two records, so a coordinator of cohort B never sees the name and birth date cohort A uploaded;
within one cohort a demographic mismatch is the file's verdict, never merged silently."""

from __future__ import annotations

import datetime as dt
import io

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.webapp.test_ingest import upload, verdicts
from webapp.studies.models import Patient, Study

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


def _new_study(files, **attributes) -> list[tuple[str, bytes]]:
    """Phantom slices re-issued as a new study (fresh study, series and SOP UIDs)."""
    study, series = generate_uid(), generate_uid()
    out = []
    for path in files[:2]:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append((f"{study[-8:]}-{path.name}", buf.getvalue()))
    return out


SECRET = {"PatientID": "MRN-0001", "PatientName": "SECRET^REAL^PATIENT", "PatientBirthDate": "19510203"}


def test_another_cohorts_upload_of_the_same_patient_id_never_shows_its_demographics(world, api, phantoms):
    files = phantoms.files(0)
    a = verdicts(upload(api(world.coordinator), world.cohort_a, _new_study(files, **SECRET)))
    assert {v for v, _ in a.values()} == {"accepted"}
    theirs = _new_study(files, PatientID="MRN-0001", PatientName="OTHER^PERSON", PatientBirthDate="19800101")
    b_response = upload(api(world.other_coordinator), world.cohort_b, theirs)
    b = verdicts(b_response)
    assert {v for v, _ in b.values()} == {"accepted"}  # refusing would tell B that the ID exists elsewhere
    assert "SECRET" not in str(b_response.json())
    [b_study_id] = b_response.json()["study_ids"]
    seen = api(world.other_coordinator).get(f"/api/studies/{b_study_id}/").json()
    assert (seen["patient_name"], seen["patient_birth_date"]) == ("OTHER^PERSON", "1980-01-01")
    qido = api(world.other_coordinator).get(
        "/dicomweb/studies?PatientID=MRN-0001", HTTP_ACCEPT="application/dicom+json"
    )
    assert qido.status_code == 200 and "SECRET" not in qido.content.decode()
    # two records, one per cohort; A's is untouched
    assert Patient.objects.filter(patient_id="MRN-0001").count() == 2
    a_study = Study.objects.exclude(pk=b_study_id).get(patient__patient_id="MRN-0001")
    assert (a_study.patient.patient_name, a_study.patient.birth_date) == (
        "SECRET^REAL^PATIENT",
        dt.date(1951, 2, 3),
    )


def test_a_demographic_mismatch_within_a_cohort_is_the_files_verdict(world, api, phantoms):
    files = phantoms.files(0)
    upload(api(world.coordinator), world.cohort_a, _new_study(files, **SECRET))
    changed = _new_study(files, PatientID="MRN-0001", PatientName="SOMEONE^ELSE", PatientBirthDate="19510203")
    got = verdicts(upload(api(world.coordinator), world.cohort_a, changed))
    for verdict, reason in got.values():
        assert verdict == "rejected" and "another name" in reason and "nothing was merged" in reason
    assert Patient.objects.get(patient_id="MRN-0001").patient_name == "SECRET^REAL^PATIENT"
    same = _new_study(files, **SECRET)  # a new study of the same patient, same demographics: fine
    assert {v for v, _ in verdicts(upload(api(world.coordinator), world.cohort_a, same)).values()} == {
        "accepted"
    }
