"""The admin role in Django's admin site (issue 12, finding 6): no token visible anywhere, no
self-promotion, every change and every look at patient data audited, and an instance's file path
neither editable nor followed outside the media folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from knox.models import AuthToken

from tests.webapp.factories import PatientFactory, UserFactory
from tests.webapp.test_dicomweb import FRAME_ACCEPT, ct, first_instance, urls  # noqa: F401  (ct: fixture)
from webapp.accounts import roles
from webapp.accounts.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.admin)
    return client


def test_no_admin_page_shows_an_api_token(admin_client, world):
    instance, key = AuthToken.objects.create(user=world.radiologist)
    assert admin_client.get("/admin/authtoken/tokenproxy/").status_code == 404
    assert admin_client.get("/admin/knox/authtoken/").status_code == 404
    for page in ("/admin/", f"/admin/auth/user/{world.radiologist.pk}/change/", "/admin/auth/user/"):
        r = admin_client.get(page)
        assert (
            r.status_code == 200
            and key.encode() not in r.content
            and instance.digest.encode() not in r.content
        )
    assert not any(p.startswith(("authtoken.", "knox.")) for p in world.admin.get_all_permissions())


def _user_form(user, **fields) -> dict:
    data = {"username": user.username, "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    data |= {"is_active": "on", "is_staff": "on"}
    return data | fields


def test_an_admin_cannot_make_themselves_superuser_or_change_their_own_access(admin_client, world):
    me = world.admin
    r = admin_client.post(
        f"/admin/auth/user/{me.pk}/change/", _user_form(me, is_superuser="on", groups=[], first_name="Boss")
    )
    assert r.status_code == 302, r.content[-2000:]
    me.refresh_from_db()
    assert not me.is_superuser and me.first_name == "Boss"  # the rest of the form was saved
    assert set(me.groups.values_list("name", flat=True)) == {roles.ADMIN}


def test_an_admin_cannot_make_anyone_superuser_nor_widen_a_role(admin_client, world):
    other = world.radiologist
    group = other.groups.get()
    form = _user_form(other, is_superuser="on", groups=[group.pk])
    assert admin_client.post(f"/admin/auth/user/{other.pk}/change/", form).status_code == 302
    other.refresh_from_db()
    assert not other.is_superuser and other.groups.get() == group
    assert admin_client.get("/admin/auth/group/").status_code == 200  # roles are shown ...
    assert (
        admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "x"}).status_code == 403
    )  # ... not edited


def test_a_superuser_account_is_out_of_an_admins_reach(admin_client):
    root = UserFactory(username="root")
    root.is_superuser = root.is_staff = True
    root.save()
    assert admin_client.get(f"/admin/auth/user/{root.pk}/password/").status_code == 403
    assert admin_client.post(f"/admin/auth/user/{root.pk}/delete/", {"post": "yes"}).status_code == 403


def test_patient_data_seen_or_changed_in_the_admin_is_audited(admin_client, world):
    patient = PatientFactory(patient_name="DOE^JANE")
    listed = admin_client.get("/admin/studies/patient/")
    assert listed.status_code == 200 and b"DOE^JANE" in listed.content
    row = AuditEvent.objects.get(action="admin.listed", object_type="studies.patient")
    assert str(patient.pk) in row.details["ids"] and row.actor == world.admin
    assert admin_client.get(f"/admin/studies/patient/{patient.pk}/change/").status_code == 200
    assert AuditEvent.objects.filter(action="admin.viewed", object_id=str(patient.pk)).count() == 1
    r = admin_client.post(
        f"/admin/studies/patient/{patient.pk}/change/",
        {
            "patient_id": patient.patient_id,
            "issuer_of_patient_id": "",
            "patient_name": "DOE^JANET",
            "sex": "",
        },
    )
    assert r.status_code == 302, r.content[-2000:]
    changed = AuditEvent.objects.get(action="admin.changed", object_id=str(patient.pk))
    assert changed.details["change"] == [{"changed": {"fields": ["Patient name"]}}]


def test_an_instance_file_path_is_not_editable_in_the_admin(admin_client, world):
    instance = first_instance(world.study_a)
    page = admin_client.get(f"/admin/studies/instance/{instance.pk}/change/")
    assert page.status_code == 200 and b'name="file_path"' not in page.content
    r = admin_client.post(
        f"/admin/studies/instance/{instance.pk}/change/", {"file_path": "../../../../etc/hostname"}
    )
    assert r.status_code == 403
    instance.refresh_from_db()
    assert not instance.file_path.startswith("..")


@pytest.mark.parametrize("endpoint", ["instance", "frames", "instance-metadata"])
def test_a_stored_path_outside_the_media_folder_is_never_served(world, ct, api, endpoint):  # noqa: F811
    ours, _ = ct
    instance = first_instance(ours)
    instance.file_path = "../../../../../../../../etc/hostname"
    instance.save(update_fields=["file_path"])
    accept = {"frames": FRAME_ACCEPT, "instance": "application/dicom"}.get(endpoint, "application/dicom+json")
    r = api(world.radiologist).get(urls(ours)[endpoint], HTTP_ACCEPT=accept)
    assert r.status_code == 500 and "cannot be read" in r.json()["detail"]
    hostname = Path("/etc/hostname").read_bytes().strip()
    body = b"".join(r.streaming_content) if r.streaming else r.content
    assert hostname not in body
