"""Large request bodies only for a signed-in user's uploads (issue 12, finding 8). Before, the
streaming upload handler served every view and the CSRF check parsed multipart bodies before
authentication: an anonymous 40 MB POST to the login page was written to the upload folder."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from webapp.studies import uploads

pytestmark = pytest.mark.django_db
BIG = 3 * 1024 * 1024  # over REQUEST_MAX_BYTES (2.5 MiB)


@pytest.fixture
def disk_writes(monkeypatch) -> list[str]:
    """The upload parts that were streamed to a temporary file."""
    written: list[str] = []
    original = uploads.DiskUploadedFile.__init__

    def spy(self, name, *args, **kwargs):
        written.append(name)
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(uploads.DiskUploadedFile, "__init__", spy)
    return written


def _big_file() -> SimpleUploadedFile:
    return SimpleUploadedFile("big.bin", b"\0" * BIG, content_type="application/octet-stream")


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/admin/login/", "/api/auth/token/", "/cohorts/{A}/upload/"]
)
def test_an_anonymous_large_body_is_refused_before_it_reaches_the_disk(world, disk_writes, path):
    r = Client().post(
        path.format(A=world.cohort_a.pk), {"username": "x", "password": "y", "file": _big_file()}
    )
    assert r.status_code == 413 and "only a signed-in user's uploads" in r.json()["detail"]
    assert disk_writes == []


def test_an_anonymous_large_upload_to_the_api_is_refused_too(world, api, disk_writes):
    r = api(None).post(f"/api/cohorts/{world.cohort_a.pk}/upload/", {"file": _big_file()}, format="multipart")
    assert r.status_code == 413 and disk_writes == []


def test_a_signed_in_users_large_body_outside_the_upload_views_is_refused(world, api, disk_writes):
    r = api(world.coordinator).post(
        "/api/cohorts/", {"name": "x" * BIG, "purpose": "screening"}, format="json"
    )
    assert r.status_code == 413 and disk_writes == []


def test_a_signed_in_coordinators_large_upload_streams_to_disk_and_gets_its_verdict(world, api, disk_writes):
    r = api(world.coordinator).post(
        f"/api/cohorts/{world.cohort_a.pk}/upload/", {"file": _big_file()}, format="multipart"
    )
    assert r.status_code in (200, 201, 400), r.content[:300]
    assert disk_writes == ["big.bin"]
    assert "big.bin" in str(r.json())  # a verdict for the file (not DICOM), not a refusal of the request


def test_a_signed_in_session_uploads_through_the_page(world, client, disk_writes):
    client.force_login(world.coordinator)
    r = client.post(f"/cohorts/{world.cohort_a.pk}/upload/", {"file": _big_file()})
    assert r.status_code == 200 and disk_writes == ["big.bin"]
