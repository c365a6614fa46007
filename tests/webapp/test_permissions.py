"""Every endpoint x every role (and anonymous), on our cohort's data (A) and another cohort's (B).

The world: cohort A has the coordinator and the radiologist as members; cohort B (calibration)
belongs to another coordinator; the admin is in no cohort and sees all. Role refusals are 403,
another cohort's objects are 404 (their existence is not disclosed), anonymous is 401.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.accounts.models import AuditEvent

pytestmark = pytest.mark.django_db

ROLES = ("radiologist", "coordinator", "admin", "anonymous")
LABELS_CSV = (
    b"study_instance_uid,patient_id,folder,label,lesion_type,lesion_center_x_mm,lesion_center_y_mm,"
    b"lesion_center_z_mm,lesion_diameter_mm\n1.2.3,P1,P1/CT,normal,,,,,\n"
)


def _upload():
    return {"file": [SimpleUploadedFile("x.dcm", b"not dicom")]}


def _labels():
    return {"file": SimpleUploadedFile("labels.csv", LABELS_CSV)}


STOW_BOUNDARY = "perm-boundary"
STOW = f'multipart/related; type="application/dicom"; boundary={STOW_BOUNDARY}'


def _stow():
    """A STOW-RS body whose one part is not DICOM: past the access checks, nothing is stored (409)."""
    part = f"--{STOW_BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\nnot dicom\r\n"
    return f"{part}--{STOW_BOUNDARY}--\r\n".encode()


# (case id, method, url with {A}/{B}/{study_A}/{study_B}, body factory, format or content type,
# {role: status})
CASES = [
    ("token", "post", "/api/auth/token/", None, "json", dict.fromkeys(ROLES, 200)),
    # every signed-in user revokes their own tokens (the API clients here sign in with one)
    (
        "token-revoke",
        "post",
        "/api/auth/token/revoke/",
        None,
        "json",
        {**dict.fromkeys(ROLES, 200), "anonymous": 401},
    ),
    (
        "token-revoke-all",
        "post",
        "/api/auth/token/revoke-all/",
        None,
        "json",
        {**dict.fromkeys(ROLES, 200), "anonymous": 401},
    ),
    (
        "api-root",
        "get",
        "/api/",
        None,
        None,
        {"radiologist": 200, "coordinator": 200, "admin": 200, "anonymous": 401},
    ),
    ("schema", "get", "/api/schema/", None, None, dict.fromkeys(ROLES, 200)),
    ("docs", "get", "/api/docs/", None, None, dict.fromkeys(ROLES, 200)),
    (
        "cohort-list",
        "get",
        "/api/cohorts/",
        None,
        None,
        {"radiologist": 200, "coordinator": 200, "admin": 200, "anonymous": 401},
    ),
    (
        "cohort-create",
        "post",
        "/api/cohorts/",
        lambda: {"name": "new", "purpose": "screening"},
        "json",
        {"radiologist": 403, "coordinator": 201, "admin": 201, "anonymous": 401},
    ),
    (
        "cohort-detail-A",
        "get",
        "/api/cohorts/{A}/",
        None,
        None,
        {"radiologist": 200, "coordinator": 200, "admin": 200, "anonymous": 401},
    ),
    (
        "cohort-detail-B",
        "get",
        "/api/cohorts/{B}/",
        None,
        None,
        {"radiologist": 404, "coordinator": 404, "admin": 200, "anonymous": 401},
    ),
    (
        "upload-A",
        "post",
        "/api/cohorts/{A}/upload/",
        _upload,
        "multipart",
        {"radiologist": 403, "coordinator": 200, "admin": 200, "anonymous": 401},
    ),
    (
        "upload-B",
        "post",
        "/api/cohorts/{B}/upload/",
        _upload,
        "multipart",
        {"radiologist": 403, "coordinator": 404, "admin": 200, "anonymous": 401},
    ),
    # A is a screening cohort: past the access checks, the purpose rule answers 400
    (
        "labels-A",
        "post",
        "/api/cohorts/{A}/labels/",
        _labels,
        "multipart",
        {"radiologist": 403, "coordinator": 400, "admin": 400, "anonymous": 401},
    ),
    (
        "labels-B",
        "post",
        "/api/cohorts/{B}/labels/",
        _labels,
        "multipart",
        {"radiologist": 403, "coordinator": 404, "admin": 200, "anonymous": 401},
    ),
    (
        "members-A",
        "post",
        "/api/cohorts/{A}/members/",
        lambda: {"username": "boss"},
        "json",
        {"radiologist": 403, "coordinator": 201, "admin": 201, "anonymous": 401},
    ),
    (
        "members-B",
        "post",
        "/api/cohorts/{B}/members/",
        lambda: {"username": "rad"},
        "json",
        {"radiologist": 403, "coordinator": 404, "admin": 201, "anonymous": 401},
    ),
    (
        "study-list",
        "get",
        "/api/studies/",
        None,
        None,
        {"radiologist": 200, "coordinator": 200, "admin": 200, "anonymous": 401},
    ),
    (
        "study-list-A",
        "get",
        "/api/studies/?cohort={A}",
        None,
        None,
        {"radiologist": 200, "coordinator": 200, "admin": 200, "anonymous": 401},
    ),
    (
        "study-list-B",
        "get",
        "/api/studies/?cohort={B}",
        None,
        None,
        {"radiologist": 404, "coordinator": 404, "admin": 200, "anonymous": 401},
    ),
    (
        "study-detail-A",
        "get",
        "/api/studies/{study_A}/",
        None,
        None,
        {"radiologist": 200, "coordinator": 200, "admin": 200, "anonymous": 401},
    ),
    (
        "study-detail-B",
        "get",
        "/api/studies/{study_B}/",
        None,
        None,
        {"radiologist": 404, "coordinator": 404, "admin": 200, "anonymous": 401},
    ),
    (
        "study-detail-missing",
        "get",
        "/api/studies/999999/",
        None,
        None,
        {"radiologist": 404, "coordinator": 404, "admin": 404, "anonymous": 401},
    ),
    # STOW-RS stores into the cohort named by ?cohort= (uploaders only; another cohort is 404).
    # Past the access checks, the body's one part is not DICOM: nothing stored, 409.
    (
        "stow-A",
        "post",
        "/dicomweb/studies?cohort={A}",
        _stow,
        STOW,
        {"radiologist": 403, "coordinator": 409, "admin": 409, "anonymous": 401},
    ),
    (
        "stow-B",
        "post",
        "/dicomweb/studies?cohort={B}",
        _stow,
        STOW,
        {"radiologist": 403, "coordinator": 404, "admin": 409, "anonymous": 401},
    ),
    (
        "stow-study-A",
        "post",
        "/dicomweb/studies/1.2.3?cohort={A}",
        _stow,
        STOW,
        {"radiologist": 403, "coordinator": 409, "admin": 409, "anonymous": 401},
    ),
    (
        "stow-study-B",
        "post",
        "/dicomweb/studies/1.2.3?cohort={B}",
        _stow,
        STOW,
        {"radiologist": 403, "coordinator": 404, "admin": 409, "anonymous": 401},
    ),
]


def _params():
    for case_id, method, url, body, fmt, expected in CASES:
        for role in ROLES:
            yield pytest.param(method, url, body, fmt, role, expected[role], id=f"{case_id}-{role}")


@pytest.mark.parametrize(("method", "url", "body", "fmt", "role", "status"), list(_params()))
def test_endpoint_role_matrix(world, api, method, url, body, fmt, role, status):
    url = url.format(
        A=world.cohort_a.pk, B=world.cohort_b.pk, study_A=world.study_a.pk, study_B=world.study_b.pk
    )
    user = world.user(role)
    data = body() if body else None
    if url == "/api/auth/token/":
        # the token endpoint is where anonymous clients become users: log in as the role's user
        data = {"username": (user or world.radiologist).username, "password": "test-password-1"}
        user = None
    if data is None:
        response = getattr(api(user), method)(url)
    elif fmt and "/" in fmt:  # a raw body of that content type (STOW-RS)
        response = getattr(api(user), method)(url, data, content_type=fmt)
    else:
        response = getattr(api(user), method)(url, data, format=fmt)
    assert response.status_code == status, response.content[:300]


def test_anonymous_gets_a_token_challenge(api):
    response = api(None).get("/api/cohorts/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_bad_credentials_get_no_token(world, api):
    response = api(None).post("/api/auth/token/", {"username": "rad", "password": "wrong"}, format="json")
    assert response.status_code == 400 and "token" not in response.json()
    assert AuditEvent.objects.filter(action="auth.login_failed", details__username="rad").exists()


def test_lists_hold_only_what_the_role_may_see(world, api):
    def ids(user, url):
        return sorted(row["id"] for row in api(user).get(url).json()["results"])

    a, b = world.cohort_a.pk, world.cohort_b.pk
    assert ids(world.radiologist, "/api/cohorts/") == [a]
    assert ids(world.coordinator, "/api/cohorts/") == [a]
    assert ids(world.other_coordinator, "/api/cohorts/") == [b]
    assert ids(world.admin, "/api/cohorts/") == sorted([a, b])
    assert ids(world.radiologist, "/api/studies/") == [world.study_a.pk]
    assert ids(world.other_coordinator, "/api/studies/") == [world.study_b.pk]
    assert ids(world.admin, "/api/studies/") == sorted([world.study_a.pk, world.study_b.pk])


def test_a_user_without_a_role_sees_nothing(world, api):
    from tests.webapp.factories import CohortMemberFactory, UserFactory

    nobody = UserFactory(username="norole")
    CohortMemberFactory(cohort=world.cohort_a, user=nobody)  # membership alone is not enough
    assert api(nobody).get("/api/cohorts/").status_code == 403
    assert api(nobody).get(f"/api/studies/{world.study_a.pk}/").status_code == 403


def test_inactive_user_token_is_refused(world, api):
    client = api(world.coordinator)
    world.coordinator.is_active = False
    world.coordinator.save()
    assert client.get("/api/cohorts/").status_code == 401
