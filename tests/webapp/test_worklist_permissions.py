"""Every worklist, item and review endpoint x every role (and anonymous), on our cohort's data
(A) and another cohort's (B), plus a second radiologist of cohort A to whom worklist A is not
assigned ("unassigned"). Role refusals are 403; what a user may not see is 404."""

from __future__ import annotations

import pytest

from tests.webapp.reading import Reading, make_reading, read_body

pytestmark = pytest.mark.django_db

ROLES = ("radiologist", "unassigned", "coordinator", "admin", "anonymous")


def _t(rad, unassigned, coord, admin, anon=401) -> dict[str, int]:
    return dict(zip(ROLES, (rad, unassigned, coord, admin, anon)))


# (case id, method, url, json body, {role: status})
CASES = [
    ("worklists-list", "get", "/api/worklists/", None, _t(200, 200, 200, 200)),
    ("worklists-list-A", "get", "/api/worklists/?cohort={A}", None, _t(200, 200, 200, 200)),
    ("build-A", "post", "/api/worklists/", {"name": "n", "cohort": "{A}"}, _t(403, 403, 201, 201)),
    ("build-B", "post", "/api/worklists/", {"name": "n", "cohort": "{B}"}, _t(403, 403, 404, 201)),
    ("worklist-A", "get", "/api/worklists/{wl_a}/", None, _t(200, 404, 200, 200)),
    ("worklist-B", "get", "/api/worklists/{wl_b}/", None, _t(404, 404, 404, 200)),
    ("items-A", "get", "/api/worklists/{wl_a}/items/", None, _t(200, 404, 200, 200)),
    ("items-B", "get", "/api/worklists/{wl_b}/items/", None, _t(404, 404, 404, 200)),
    ("assign-A", "post", "/api/worklists/{wl_a}/assign/", {"readers": ["rad2"]}, _t(403, 403, 200, 200)),
    ("assign-B", "post", "/api/worklists/{wl_b}/assign/", {"readers": ["rad-b"]}, _t(403, 403, 404, 200)),
    ("item-A", "get", "/api/worklist-items/{item_a}/", None, _t(200, 404, 200, 200)),
    ("item-B", "get", "/api/worklist-items/{item_b}/", None, _t(404, 404, 404, 200)),
    ("item-missing", "get", "/api/worklist-items/999999/", None, _t(404, 404, 404, 404)),
    ("start-A", "post", "/api/worklist-items/{item_a}/start/", None, _t(200, 404, 403, 403)),
    ("start-B", "post", "/api/worklist-items/{item_b}/start/", None, _t(404, 404, 403, 403)),
    ("read-A", "post", "/api/worklist-items/{item_a}/read/", "read", _t(201, 404, 403, 403)),
    ("read-B", "post", "/api/worklist-items/{item_b}/read/", "read", _t(404, 404, 403, 403)),
    ("review", "get", "/api/review/agreement/", None, _t(403, 403, 403, 200)),
    (
        "review-filtered",
        "get",
        "/api/review/agreement/?cohort={A}&model_version={version}",
        None,
        _t(403, 403, 403, 200),
    ),
]


def _params():
    for case_id, method, url, body, expected in CASES:
        for role in ROLES:
            yield pytest.param(method, url, body, role, expected[role], id=f"{case_id}-{role}")


@pytest.fixture
def reading(world) -> Reading:
    return make_reading(world)


def _user(world, reading: Reading, role: str):
    return reading.other_radiologist if role == "unassigned" else world.user(role)


@pytest.mark.parametrize(("method", "url", "body", "role", "status"), list(_params()))
def test_worklist_endpoint_role_matrix(world, reading, api, method, url, body, role, status):
    ids = {
        "A": world.cohort_a.pk,
        "B": world.cohort_b.pk,
        "wl_a": reading.worklist_a.pk,
        "wl_b": reading.worklist_b.pk,
        "item_a": reading.items_a[0].pk,
        "item_b": reading.item_b.pk,
        "version": reading.version.pk,
    }
    url = url.format(**ids)
    if body == "read":
        body = read_body()
    elif body is not None:
        body = {
            k: int(v.format(**ids)) if isinstance(v, str) and v.startswith("{") else v
            for k, v in body.items()
        }
    client = api(_user(world, reading, role))
    response = (
        getattr(client, method)(url, body, format="json")
        if body is not None
        else getattr(client, method)(url)
    )
    assert response.status_code == status, response.content[:300]


def test_each_list_holds_only_what_the_user_may_see(world, reading, api):
    def ids(user, url="/api/worklists/"):
        return sorted(row["id"] for row in api(user).get(url).json()["results"])

    assert ids(world.radiologist) == [reading.worklist_a.pk]
    assert ids(reading.other_radiologist) == []
    assert ids(reading.radiologist_b) == [reading.worklist_b.pk]
    assert ids(world.coordinator) == [reading.worklist_a.pk]
    assert ids(world.other_coordinator) == [reading.worklist_b.pk]
    assert ids(world.admin) == sorted([reading.worklist_a.pk, reading.worklist_b.pk])
    # Once assigned, the second radiologist sees it; removed from the cohort, nobody sees it.
    api(world.coordinator).post(
        f"/api/worklists/{reading.worklist_a.pk}/assign/", {"readers": ["rad2"]}, format="json"
    )
    assert ids(reading.other_radiologist) == [reading.worklist_a.pk]
    world.cohort_a.memberships.filter(user=reading.other_radiologist).delete()
    assert ids(reading.other_radiologist) == []


def test_review_disagreements_cover_every_cohort_for_admins_only(world, reading, api):
    api(world.radiologist).post(
        f"/api/worklist-items/{reading.items_a[0].pk}/read/", read_body(verdict="uncertain"), format="json"
    )
    body = api(world.admin).get("/api/review/agreement/").json()
    assert [(row["cohort"], row["reads"], row["uncertain"]) for row in body["rows"]] == [("A", 1, 1)]


def test_the_schema_documents_the_worklist_endpoints(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    for path, methods in {
        "/api/worklists/": {"get", "post"},
        "/api/worklists/{id}/": {"get"},
        "/api/worklists/{id}/items/": {"get"},
        "/api/worklists/{id}/assign/": {"post"},
        "/api/worklist-items/{id}/": {"get"},
        "/api/worklist-items/{id}/start/": {"post"},
        "/api/worklist-items/{id}/read/": {"post"},
        "/api/review/agreement/": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    read = paths["/api/worklist-items/{id}/read/"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert read["$ref"].endswith("/ReadRequestRequest")
