"""Blinded reads (issue 14, item 9): in a blinded worklist the reader sees no AI call, score or
overlay of a study until they have submitted their read of it, the items come shuffled, the
read is recorded as blinded, and the review counts blinded reads apart."""

from __future__ import annotations

import pytest

from tests.webapp.reading import Reading, make_reading, read_body
from tests.webapp.test_pages import signed_in
from webapp.worklists import services
from webapp.worklists.models import Read

pytestmark = pytest.mark.django_db


@pytest.fixture
def reading(world) -> Reading:
    return make_reading(world)


def _blinded(world, reading):
    """A blinded worklist of cohort A's three results (screening: blinded by default)."""
    worklist = services.build_worklist(world.coordinator, world.cohort_a, name="blind", readers=["rad"])
    assert worklist.blinded
    return worklist


def test_screening_worklists_are_blinded_by_default_and_others_not(world, reading, api):
    assert _blinded(world, reading).blinded
    body = api(world.coordinator).post(
        "/api/worklists/", {"name": "open", "cohort": world.cohort_a.pk, "blinded": False}, format="json"
    )
    assert body.status_code == 201 and body.json()["blinded"] is False
    assert not reading.worklist_b.blinded  # a calibration cohort


def test_the_reader_sees_no_ai_until_their_read_and_then_sees_it(world, reading, api):
    worklist = _blinded(world, reading)
    client = api(world.radiologist)
    rows = client.get(f"/api/worklists/{worklist.pk}/items/").json()["results"]
    assert len(rows) == 3
    assert all(r["ai_hidden"] and r["fused_score"] is None and r["calls"] == {} for r in rows)
    item_id = rows[0]["id"]
    detail = client.get(f"/api/worklist-items/{item_id}/").json()
    assert detail["ai_hidden"] and detail["fused_score"] is None and detail["interpretation"] is None
    # the viewer of that study shows no result, map or call, whichever link the reader follows
    page = signed_in(world.radiologist)
    study_id = detail["study"]
    for url in (f"/viewer/studies/{study_id}/?item={item_id}", f"/viewer/studies/{study_id}/"):
        html = page.get(url).content.decode()
        assert '"blinded": true' in html and '"resultUrl": null' in html and '"mapUrlTemplate": null' in html
    html = page.get(f"/worklists/{worklist.pk}/").content.decode()
    assert "Blinded reads" in html and html.count("after your read") == 3

    r = client.post(f"/api/worklist-items/{item_id}/read/", read_body(), format="json")
    assert r.status_code == 201 and r.json()["blinded"] is True
    detail = client.get(f"/api/worklist-items/{item_id}/").json()
    assert not detail["ai_hidden"] and detail["fused_score"] is not None and detail["interpretation"]
    html = page.get(f"/viewer/studies/{study_id}/?item={item_id}").content.decode()
    assert '"blinded": false' in html and '"resultUrl": null' not in html
    assert page.get(f"/worklists/{worklist.pk}/").content.decode().count("after your read") == 2
    # an amendment, made with the AI in view, is not a blinded read
    amended = client.post(
        f"/api/worklist-items/{item_id}/read/", read_body(amend_reason="second look"), format="json"
    )
    assert amended.status_code == 201 and amended.json()["blinded"] is False


def test_coordinators_still_see_the_scores_of_a_blinded_worklist(world, reading, api):
    worklist = _blinded(world, reading)
    rows = api(world.coordinator).get(f"/api/worklists/{worklist.pk}/items/").json()["results"]
    assert all(not r["ai_hidden"] and r["fused_score"] is not None for r in rows)


def test_a_blinded_worklist_is_not_in_score_order(world, reading):
    """Shuffled at build: over a few builds, some order differs from the score order."""
    orders = set()
    for n in range(8):
        worklist = services.build_worklist(world.coordinator, world.cohort_a, name=f"b{n}")
        orders.add(tuple(worklist.items.order_by("position").values_list("fused_score", flat=True)))
    assert len(orders) > 1 and any(list(o) != sorted(o, reverse=True) for o in orders)
    plain = services.build_worklist(world.coordinator, world.cohort_a, name="plain", blinded=False)
    scores = list(plain.items.order_by("position").values_list("fused_score", flat=True))
    assert scores == sorted(scores, reverse=True)


def test_the_review_counts_blinded_reads_apart(world, reading, api):
    worklist = _blinded(world, reading)
    client = api(world.radiologist)
    blinded_item = worklist.items.first()
    client.post(f"/api/worklist-items/{blinded_item.pk}/read/", read_body(), format="json")
    client.post(f"/api/worklist-items/{reading.items_a[0].pk}/read/", read_body(), format="json")
    rows = api(world.admin).get("/api/review/agreement/").json()["rows"]
    cohort_a = {r["blinded"]: r["reads"] for r in rows if r["cohort_id"] == world.cohort_a.pk}
    assert cohort_a == {True: 1, False: 1}
    assert Read.objects.filter(blinded=True).count() == 1


def test_no_other_door_shows_a_blinded_reader_the_ai_before_their_read(world, reading, api):
    """The result API, its maps, the results list, the result's DICOM objects and the cohort
    page hide the study's AI from its blinded reader until the read is in; then they show it."""
    worklist = _blinded(world, reading)
    client = api(world.radiologist)
    [first, *_] = client.get(f"/api/worklists/{worklist.pk}/items/").json()["results"]
    study = client.get(f"/api/worklist-items/{first['id']}/").json()["study"]
    doors = [
        f"/api/studies/{study}/result/",
        f"/api/studies/{study}/maps/fused/",
        f"/api/studies/{study}/dicom/",
    ]
    for url in doors:
        r = client.get(url)
        assert r.status_code == 403 and "blinded read" in r.json()["detail"], url
    listed = {
        row["study"] for row in client.get(f"/api/results/?cohort={world.cohort_a.pk}").json()["results"]
    }
    assert listed == set()  # all three of cohort A's results are in this reader's blinded worklist
    page = signed_in(world.radiologist).get(f"/cohorts/{world.cohort_a.pk}/").content.decode()
    assert page.count("its score shows once your read is in") == 3
    # the coordinator sees everything all along
    assert api(world.coordinator).get(f"/api/studies/{study}/result/").status_code == 200

    assert (
        client.post(f"/api/worklist-items/{first['id']}/read/", read_body(), format="json").status_code == 201
    )
    assert client.get(f"/api/studies/{study}/result/").status_code == 200
    listed = {
        row["study"] for row in client.get(f"/api/results/?cohort={world.cohort_a.pk}").json()["results"]
    }
    assert listed == {study}
