"""De-identification on the way in, per cohort (issue 12, finding 2).

A cohort created with ``deidentify`` applies the DICOM basic confidentiality profile (PS3.15
Annex E, by dicognito) to every file before anything reads it: the stored bytes, the rows, the
API and DICOMweb carry pseudonyms; the pseudonym map is kept apart and readable by admins only;
the original PatientID appears in no audit row and no export; labels written with the
hospital's identifiers still find their studies.
"""

from __future__ import annotations

import hashlib
import io
import json

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pydicom.uid import generate_uid

from tests.webapp.conftest import zip_folder
from tests.webapp.test_ingest import upload, verdicts
from webapp.accounts.models import AuditEvent
from webapp.cohorts.models import Cohort, CohortLabel
from webapp.studies.models import Instance, Patient, Pseudonym, Study

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]

MRN, NAME, BORN = "MRN-SECRET-77", "SECRET^REAL^PATIENT", "19510203"


def identified_study(files, **extra) -> tuple[str, list[tuple[str, bytes]]]:
    """Two phantom slices re-issued as a new study of our identified patient."""
    study, series = generate_uid(), generate_uid()
    out = []
    for path in files[:2]:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientID, ds.PatientName, ds.PatientBirthDate = MRN, NAME, BORN
        ds.InstitutionName = "Saint Secret Hospital"
        ds.add_new(0x00091001, "LO", "private note about " + NAME)  # a private element
        ds.private_block(0x0009, "ACME", create=True).add_new(0x02, "LO", MRN)
        for keyword, value in extra.items():
            setattr(ds, keyword, value)
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append((f"{path.name}", buf.getvalue()))
    return study, out


@pytest.fixture
def research(world, api) -> Cohort:
    r = api(world.coordinator).post(
        "/api/cohorts/", {"name": "research", "purpose": "calibration", "deidentify": True}, format="json"
    )
    assert r.status_code == 201 and r.json()["deidentify"] is True
    return Cohort.objects.get(pk=r.json()["id"])


def stored_bytes(study: Study) -> bytes:
    return b"".join(i.absolute_path.read_bytes() for i in Instance.objects.filter(series__study=study))


def test_stored_files_rows_api_and_dicomweb_carry_only_pseudonyms(world, api, phantoms, research):
    original_uid, parts = identified_study(phantoms.files(0), BurnedInAnnotation="NO")
    response = upload(api(world.coordinator), research, parts)
    assert {v for v, _ in verdicts(response).values()} == {"accepted"}
    assert MRN not in response.content.decode() and original_uid not in response.content.decode()
    [study] = Study.objects.filter(cohort_links__cohort=research)
    assert study.study_instance_uid != original_uid
    assert study.patient.patient_id != MRN and "SECRET" not in study.patient.patient_name
    assert str(study.patient.birth_date) != "1951-02-03"
    data = stored_bytes(study)
    for secret in (MRN, "SECRET", "Saint Secret", original_uid, "private note"):
        assert secret.encode() not in data, secret
    ds = pydicom.dcmread(Instance.objects.filter(series__study=study).first().absolute_path)
    # recorded in the file (dicognito says YES only where the pixels carry no text)
    assert ds.PatientIdentityRemoved == "YES" and "DICOGNITO" in str(ds.DeidentificationMethod)
    assert ds.Modality == "CT" and ds.pixel_array.shape == (ds.Rows, ds.Columns)  # still an image
    seen = api(world.coordinator).get(f"/api/studies/{study.pk}/").content.decode()
    assert MRN not in seen and "SECRET" not in seen
    qido = api(world.coordinator).get("/dicomweb/studies", HTTP_ACCEPT="application/dicom+json")
    assert qido.status_code == 200 and MRN not in qido.content.decode()
    # the map: kept apart, one row per study, with the originals
    row = Pseudonym.objects.get(study_instance_uid=study.study_instance_uid)
    assert (row.original_patient_id, row.original_study_instance_uid) == (MRN, original_uid)
    assert row.scope == f"cohort:{research.pk}" and row.patient_id == study.patient.patient_id


def test_the_same_file_twice_is_a_duplicate_and_a_patients_studies_stay_together(
    world, api, phantoms, research
):
    _, parts = identified_study(phantoms.files(0))
    upload(api(world.coordinator), research, parts)
    again = verdicts(upload(api(world.coordinator), research, parts))
    assert {v for v, _ in again.values()} == {"duplicate"}
    _, second_study = identified_study(phantoms.files(0))
    assert {v for v, _ in verdicts(upload(api(world.coordinator), research, second_study)).values()} == {
        "accepted"
    }
    assert Patient.objects.filter(scope=f"cohort:{research.pk}").count() == 1
    assert Study.objects.filter(patient__scope=f"cohort:{research.pk}").count() == 2


def test_a_cohort_without_the_option_stores_the_files_as_they_came(world, api, phantoms):
    original_uid, parts = identified_study(phantoms.files(0))
    upload(api(world.coordinator), world.cohort_a, parts)
    study = Study.objects.get(study_instance_uid=original_uid)
    assert study.patient.patient_id == MRN and MRN.encode() in stored_bytes(study)
    assert not Pseudonym.objects.exists()


def test_the_original_patient_id_is_in_no_audit_row_and_no_export(world, api, phantoms, research):
    _, parts = identified_study(phantoms.files(0))
    upload(api(world.coordinator), research, parts)
    api(world.admin).get("/api/studies/")
    [study] = Study.objects.filter(cohort_links__cohort=research)
    api(world.admin).get(f"/api/studies/{study.pk}/")
    trail = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert MRN not in trail and "SECRET" not in trail
    export = api(world.admin).get(f"/api/studies/?cohort={research.pk}&format=json").content.decode()
    assert MRN not in export


def test_the_pseudonym_map_is_for_admins_only_and_a_search_there_is_audited_by_hash(
    world, api, client, phantoms, research
):
    _, parts = identified_study(phantoms.files(0))
    upload(api(world.coordinator), research, parts)
    url = "/admin/studies/pseudonym/"
    client.force_login(world.coordinator)
    assert client.get(url).status_code in (302, 403)
    client.force_login(world.admin)
    page = client.get(url, {"q": MRN})
    assert page.status_code == 200 and MRN in page.content.decode()  # the admin may re-identify
    listed = AuditEvent.objects.filter(action="admin.listed").latest("id")
    assert MRN not in json.dumps(listed.details)
    assert hashlib.sha256(MRN.encode()).hexdigest() in listed.details["query"]
    row = Pseudonym.objects.get()
    assert client.post(f"{url}{row.pk}/change/", {"original_patient_id": "X"}).status_code == 403
    assert client.post(f"{url}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Pseudonym.objects.get().original_patient_id == MRN


def test_labels_written_with_the_hospitals_identifiers_find_the_pseudonymised_studies(
    world, api, phantoms, research
):
    client = api(world.coordinator)
    client.post(
        f"/api/cohorts/{research.pk}/upload/",
        {"file": [SimpleUploadedFile("c.zip", zip_folder(phantoms.series_dirs[:2], phantoms.root))]},
        format="multipart",
    )
    r = client.post(
        f"/api/cohorts/{research.pk}/labels/",
        {"file": SimpleUploadedFile("labels.csv", phantoms.labels_csv.read_bytes())},
        format="multipart",
    )
    assert r.status_code == 200, r.content
    assert r.json()["studies_present"] == 2
    stored = set(
        Study.objects.filter(cohort_links__cohort=research).values_list("study_instance_uid", flat=True)
    )
    assert stored <= set(
        CohortLabel.objects.filter(cohort=research).values_list("study_instance_uid", flat=True)
    )
    originals = phantoms.labels_csv.read_text()
    assert not [lab for lab in CohortLabel.objects.filter(cohort=research) if lab.patient_id in originals]


def test_burned_in_text_is_refused_in_a_deidentified_cohort(world, api, phantoms, research):
    _, parts = identified_study(phantoms.files(0), BurnedInAnnotation="YES")
    got = verdicts(upload(api(world.coordinator), research, parts))
    for verdict, reason in got.values():
        assert verdict == "rejected" and "burned into its pixels" in reason
    assert not Study.objects.filter(cohort_links__cohort=research).exists()


def test_the_choice_is_made_at_creation_and_kept(world, api, research):
    r = api(world.coordinator).patch(f"/api/cohorts/{research.pk}/", {"deidentify": False}, format="json")
    assert r.status_code in (403, 405)
    research.refresh_from_db()
    assert research.deidentify and len(research.deid_seed) == 64
    assert "deid_seed" not in api(world.coordinator).get(f"/api/cohorts/{research.pk}/").json()


def test_the_cohort_page_offers_the_choice_and_shows_it(world, client):
    client.force_login(world.coordinator)
    assert 'name="deidentify"' in client.get("/cohorts/").content.decode()
    r = client.post("/cohorts/", {"name": "trial", "purpose": "screening", "deidentify": "on"})
    cohort = Cohort.objects.get(name="trial")
    assert r.status_code == 302 and cohort.deidentify and cohort.deid_seed
    assert "De-identified" in client.get(f"/cohorts/{cohort.pk}/").content.decode()
    client.post("/cohorts/", {"name": "plain", "purpose": "screening"})
    assert not Cohort.objects.get(name="plain").deidentify
