"""STOW-RS at /dicomweb/studies[/{study}]?cohort=<id>: a valid CT series, a non-CT file, bodies
that are not multipart/related, a study UID that does not match the URL, the roles; every
answer is DICOM JSON with a reason, never a 5xx, and nothing is half-stored."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from webapp.accounts.models import AuditEvent
from webapp.cohorts.models import CohortStudy
from webapp.studies.models import Instance, Study

pytestmark = pytest.mark.django_db

BOUNDARY = "fusionscreen-test-boundary"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
FAILED, REFERENCED = "00081198", "00081199"
SOP_CLASS, SOP_INSTANCE, RETRIEVE_URL, REASON, COMMENT = (
    "00081150",
    "00081155",
    "00081190",
    "00081197",
    "00000902",
)


def multipart(parts: list[bytes], part_type: str = "application/dicom", boundary: str = BOUNDARY) -> bytes:
    out = b"preamble to be ignored\r\n"
    for data in parts:
        out += f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def stow(client, cohort_id, body: bytes, content_type: str = CONTENT_TYPE, study: str | None = None):
    url = "/dicomweb/studies" + (f"/{study}" if study else "") + (f"?cohort={cohort_id}" if cohort_id else "")
    return client.generic("POST", url, body, content_type=content_type, HTTP_ACCEPT="application/dicom+json")


def items(response, key: str) -> list[dict]:
    return response.json().get(key, {}).get("Value", [])


def value(item: dict, tag: str):
    return (item.get(tag, {}).get("Value") or [None])[0]


def test_a_ct_series_is_stored_into_the_cohort_and_referenced(world, api, phantoms):
    files = phantoms.files(0)
    client = api(world.coordinator)
    r = stow(client, world.cohort_a.pk, multipart([p.read_bytes() for p in files]))
    assert r.status_code == 200, r.content[:500]
    assert r["Content-Type"] == "application/dicom+json"
    referenced = items(r, REFERENCED)
    assert len(referenced) == len(files) and FAILED not in r.json()
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    found = next(i for i in referenced if value(i, SOP_INSTANCE) == first.SOPInstanceUID)
    assert value(found, SOP_CLASS) == first.SOPClassUID
    url = value(found, RETRIEVE_URL)
    assert url.endswith(
        f"/dicomweb/studies/{first.StudyInstanceUID}/series/{first.SeriesInstanceUID}/instances/{first.SOPInstanceUID}"
    )
    study = Study.objects.get(study_instance_uid=first.StudyInstanceUID)
    assert CohortStudy.objects.filter(cohort=world.cohort_a, study=study).exists()
    assert Instance.objects.filter(series__study=study).count() == len(files)
    assert AuditEvent.objects.get(action="cohort.upload").details["accepted"] == len(files)
    # The stored instance comes back through WADO-RS, and the same body again is all duplicates.
    assert client.get(url.split("testserver", 1)[1], HTTP_ACCEPT="application/dicom").status_code == 200
    again = stow(
        client, world.cohort_a.pk, multipart([p.read_bytes() for p in files]), study=first.StudyInstanceUID
    )
    assert again.status_code == 200 and len(items(again, REFERENCED)) == len(files)


def test_a_non_ct_instance_fails_with_its_reason_beside_a_stored_one(world, api, phantoms):
    ct = phantoms.files(1)[0].read_bytes()
    mr = Path(get_testdata_file("MR_small.dcm")).read_bytes()
    r = stow(api(world.coordinator), world.cohort_a.pk, multipart([ct, mr]))
    assert r.status_code == 202, r.content[:500]
    assert len(items(r, REFERENCED)) == 1
    (failed,) = items(r, FAILED)
    mr_ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"), stop_before_pixels=True)
    assert value(failed, SOP_INSTANCE) == mr_ds.SOPInstanceUID
    assert value(failed, SOP_CLASS) == mr_ds.SOPClassUID
    assert value(failed, REASON) == 0x0122
    assert "part-2" in value(failed, COMMENT) and "not CT" in value(failed, COMMENT)


def test_nothing_stored_is_a_409_with_every_reason(world, api, phantoms):
    r = stow(api(world.coordinator), world.cohort_a.pk, multipart([b"not dicom at all", b"\x00" * 200]))
    assert r.status_code == 409
    failed = items(r, FAILED)
    assert [value(f, REASON) for f in failed] == [0xC000, 0xC000]
    assert all("not a DICOM file" in value(f, COMMENT) for f in failed)
    assert not Study.objects.exclude(pk__in=[world.study_a.pk, world.study_b.pk]).exists()


def test_an_instance_of_another_study_than_the_url_fails(world, api, phantoms):
    data = phantoms.files(2)[0].read_bytes()
    r = stow(api(world.coordinator), world.cohort_a.pk, multipart([data]), study="1.2.3.4.5")
    assert r.status_code == 409
    (failed,) = items(r, FAILED)
    assert value(failed, REASON) == 0xA900 and "is not the study in the URL" in value(failed, COMMENT)
    assert not Instance.objects.filter(sop_instance_uid=value(failed, SOP_INSTANCE)).exists()


@pytest.mark.parametrize(
    ("content_type", "body", "status", "says"),
    [
        ('multipart/related; type="application/dicom"', multipart([b"x"]), 400, "no boundary"),
        ("application/dicom", b"DICM", 400, "Content-Type is application/dicom"),
        ("", b"", 400, "Content-Type is missing"),
        (
            CONTENT_TYPE,
            b"no boundary anywhere in here",
            400,
            "the boundary from the Content-Type never appears",
        ),
        (CONTENT_TYPE, f"--{BOUNDARY}--\r\n".encode(), 400, "only the closing boundary"),
        (CONTENT_TYPE, multipart([b"\x00" * 1000])[:-60], 400, "truncated"),
        (
            CONTENT_TYPE,
            f"--{BOUNDARY}\r\nno colon here\r\n\r\nx\r\n--{BOUNDARY}--".encode(),
            400,
            "without a colon",
        ),
        (
            f'multipart/related; type="application/dicom+json"; boundary={BOUNDARY}',
            multipart([b"{}"]),
            415,
            "not accepted",
        ),
    ],
)
def test_a_body_that_is_not_a_stow_request_is_refused_in_dicom_json(
    world, api, content_type, body, status, says
):
    r = stow(api(world.coordinator), world.cohort_a.pk, body, content_type=content_type)
    assert r.status_code == status, r.content[:300]
    assert r["Content-Type"] == "application/dicom+json"
    assert says in value(r.json(), COMMENT)
    assert not AuditEvent.objects.filter(action="cohort.upload").exists()


def test_a_truncated_body_stores_nothing_even_with_complete_parts_before(world, api, phantoms):
    files = [p.read_bytes() for p in phantoms.files(0)[:3]]
    body = multipart(files)
    r = stow(api(world.coordinator), world.cohort_a.pk, body[: len(body) - len(files[-1]) // 2])
    assert r.status_code == 400 and "part 3" in value(r.json(), COMMENT)
    assert not Instance.objects.exclude(series__study__in=[world.study_a, world.study_b]).exists()


def test_the_request_size_limit_answers_413(world, api, settings, phantoms):
    settings.INGEST_MAX_REQUEST_BYTES = 1000
    r = stow(api(world.coordinator), world.cohort_a.pk, multipart([phantoms.files(0)[0].read_bytes()]))
    assert r.status_code == 413 and "limit per request" in value(r.json(), COMMENT)


@pytest.mark.parametrize(
    ("role", "cohort", "status"),
    [
        ("anonymous", "A", 401),
        ("radiologist", "A", 403),
        ("coordinator", "A", 200),
        ("coordinator", "B", 404),
        ("coordinator", None, 400),
        ("admin", "B", 200),
    ],
)
def test_who_may_store_into_which_cohort(world, api, phantoms, role, cohort, status):
    cohort_id = {"A": world.cohort_a.pk, "B": world.cohort_b.pk, None: None}[cohort]
    r = stow(api(world.user(role)), cohort_id, multipart([phantoms.files(0)[0].read_bytes()]))
    assert r.status_code == status, r.content[:300]
    if status == 400:
        assert "?cohort=" in value(r.json(), COMMENT)


def test_other_methods_still_reach_qido_and_session_posts_need_csrf(world, api, client, phantoms):
    r = api(world.radiologist).get("/dicomweb/studies", HTTP_ACCEPT="application/dicom+json")
    assert r.status_code == 200 and isinstance(json.loads(r.content), list)
    # GET of one study is WADO-RS (a multipart of its instances), not JSON; other methods are refused
    r = api(world.radiologist).get("/dicomweb/studies/1.2.3", HTTP_ACCEPT="application/dicom+json")
    assert r.status_code == 406
    r = api(world.radiologist).delete("/dicomweb/studies/1.2.3")
    assert r.status_code == 405 and r["Allow"] == "GET, POST"
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(world.coordinator)
    r = stow(csrf_client, world.cohort_a.pk, multipart([phantoms.files(0)[0].read_bytes()]))
    assert r.status_code == 403


def test_a_signed_in_browser_session_stores_with_its_csrf_header_and_not_without(world, phantoms):
    """A session (the viewer's, a page's script) may STOW-RS like a token: the CSRF token comes in
    the X-CSRFToken header (the body is DICOM, it cannot carry one), checked without parsing it."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.coordinator)
    client.get("/")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    body = multipart([p.read_bytes() for p in phantoms.files(0)])
    before = Instance.objects.count()
    refused = stow(client, world.cohort_a.pk, body)
    assert refused.status_code == 403 and "CSRF" in value(refused.json(), COMMENT)
    assert Instance.objects.count() == before
    url = f"/dicomweb/studies?cohort={world.cohort_a.pk}"
    stored = client.generic(
        "POST",
        url,
        body,
        content_type=CONTENT_TYPE,
        HTTP_ACCEPT="application/dicom+json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert stored.status_code == 200, stored.content[:500]
    assert Instance.objects.count() == before + len(phantoms.files(0))
