"""The viewer page /viewer/studies/<id>/: login, access through cohort membership, audit, and
the bundle named by Vite's manifest (a fake one here; the browser tests use the real build)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.webapp.factories import UserFactory
from webapp.accounts.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle(settings, tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    folder.mkdir()
    manifest = {
        "src/main.js": {
            "file": "assets/main-abc123.js",
            "isEntry": True,
            "css": ["assets/main-def456.css"],
            "imports": ["_vendor.js"],
        },
        "_vendor.js": {"file": "assets/vendor-789.js"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    settings.VIEWER_BUNDLE_DIR = folder
    return folder


def page(client, user, study):
    if user is not None:
        client.force_login(user)
    return client.get(f"/viewer/studies/{study.pk}/")


@pytest.mark.parametrize(
    ("role", "ours", "theirs"),
    [("radiologist", 200, 404), ("coordinator", 200, 404), ("admin", 200, 200), ("anonymous", 302, 302)],
)
def test_who_may_open_which_study(client, world, bundle, role, ours, theirs):
    user = world.user(role)
    assert page(client, user, world.study_a).status_code == ours
    r = page(client, user, world.study_b)
    assert r.status_code == theirs
    if role == "anonymous":
        assert r["Location"].startswith("/accounts/login/?next=/viewer/studies/")


def test_the_page_loads_the_bundle_with_the_study_config(client, world, bundle):
    r = page(client, world.radiologist, world.study_a)
    html = r.content.decode()
    assert '<script type="module" src="/static/viewer/assets/main-abc123.js"></script>' in html
    assert 'href="/static/viewer/assets/main-def456.css"' in html
    assert 'rel="modulepreload" href="/static/viewer/assets/vendor-789.js"' in html
    for plane in ("axial", "coronal", "sagittal"):
        assert f'data-viewport="{plane}"' in html
    assert world.study_a.patient.patient_id in html
    config = r.context["viewer_config"]
    assert config["studyId"] == world.study_a.pk
    assert config["studyInstanceUID"] == world.study_a.study_instance_uid
    assert config["dicomwebRoot"] == "/dicomweb"
    assert config["loginUrl"].startswith("/accounts/login/?next=")
    # where the next step's overlay will read the detection result and its maps
    assert config["resultUrl"] == f"/api/studies/{world.study_a.pk}/result/"
    assert config["mapUrlTemplate"] == f"/api/studies/{world.study_a.pk}/maps/{{kind}}/"
    assert '<script id="viewer-config" type="application/json">' in html
    # the named operating points come from the site (webapp/detection/points.py), once
    names = [p["name"] for p in config["operatingPoints"]]
    assert (
        names == ["high_sensitivity", "balanced", "high_specificity"] and config["defaultPoint"] == "balanced"
    )
    assert [p["key"] for p in config["operatingPoints"]] == ["1", "2", "3"]
    for p in config["operatingPoints"]:
        assert f'data-op-preset="{p["name"]}"' in html


def test_opening_is_audited_and_refusals_tell_what_to_do(client, world, bundle):
    page(client, world.radiologist, world.study_a)
    event = AuditEvent.objects.get(action="study.viewer_opened")
    assert event.actor == world.radiologist and event.object_id == str(world.study_a.pk)
    assert event.details["study_instance_uid"] == world.study_a.study_instance_uid
    refused = page(client, world.radiologist, world.study_b)
    assert b"cohort you are not a member of" in refused.content
    assert AuditEvent.objects.filter(action="study.viewer_opened").count() == 1
    assert client.get("/viewer/studies/999999/").status_code == 404


def test_a_user_without_a_role_sees_no_study(client, world, bundle):
    assert page(client, UserFactory(username="nobody"), world.study_a).status_code == 404


def test_an_unbuilt_bundle_is_explained(client, world, settings, tmp_path):
    settings.VIEWER_BUNDLE_DIR = tmp_path / "nothing-here"
    r = page(client, world.radiologist, world.study_a)
    assert r.status_code == 503
    assert b"scripts/build-frontend.sh" in r.content


def test_viewer_links_command_prints_the_study_pages(world):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("viewer_links", "--cohort", "A", stdout=out)
    text = out.getvalue()
    assert f"http://127.0.0.1:8000/viewer/studies/{world.study_a.pk}/" in text
    assert f"/viewer/studies/{world.study_b.pk}/" not in text


def test_the_config_names_the_read_form_endpoints_when_opened_for_an_item(client, world, bundle):
    client.force_login(world.radiologist)
    r = client.get(f"/viewer/studies/{world.study_a.pk}/?item=7")
    config = r.context["viewer_config"]
    assert config["item"] == 7
    # Signed out mid-read: the login page brings the reader back to the item.
    assert (
        config["loginUrl"] == f"/accounts/login/?next=%2Fviewer%2Fstudies%2F{world.study_a.pk}%2F%3Fitem%3D7"
    )
    assert config["itemUrlTemplate"] == "/api/worklist-items/{id}/"
    assert config["itemStartUrlTemplate"] == "/api/worklist-items/{id}/start/"
    assert config["itemReadUrlTemplate"] == "/api/worklist-items/{id}/read/"
    assert config["itemViewerUrlTemplate"] == "/viewer/items/{id}/"
    assert config["csrfToken"]
    assert config["detectionStatusUrl"] == f"/viewer/studies/{world.study_a.pk}/detection-status/"
    assert 'data-panel="read"' in r.content.decode()
    assert page(client, world.radiologist, world.study_a).context["viewer_config"]["item"] is None


def test_detection_status_says_why_a_study_has_no_result(client, world):
    from tests.webapp.factories import ModelVersionFactory
    from webapp.detection.models import DetectionJob

    url = f"/viewer/studies/{world.study_a.pk}/detection-status/"
    client.force_login(world.radiologist)
    assert client.get(url).json() == {"state": "none", "job": None}
    version = ModelVersionFactory(is_active=True)
    job = DetectionJob.objects.create(
        study=world.study_a, model_version=version, status="failed", error="CT has 12 slices; 32 needed"
    )
    body = client.get(url).json()
    assert body["state"] == "failed" and body["job"]["error"] == "CT has 12 slices; 32 needed"
    assert body["job"]["model_version"] == version.name
    DetectionJob.objects.create(
        study=world.study_a, model_version=version, status="running", progress=0.4, stage="local branch"
    )
    body = client.get(url).json()
    assert body["state"] == "running" and body["job"]["progress"] == 0.4 and body["job"]["id"] != job.pk
    assert client.get(f"/viewer/studies/{world.study_b.pk}/detection-status/").status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_an_item_link_opens_its_study_with_the_read_form(client, world):
    from tests.webapp.factories import ModelVersionFactory, detection_result
    from webapp.worklists import services

    version = ModelVersionFactory(is_active=True)
    detection_result(world.study_a, version)
    worklist = services.build_worklist(
        world.coordinator,
        world.cohort_a,
        name="W",
        model_version=version,
        readers=[world.radiologist.username],
    )
    item = worklist.items.get()
    client.force_login(world.radiologist)
    r = client.get(f"/viewer/items/{item.pk}/")
    assert r.status_code == 302 and r["Location"] == f"/viewer/studies/{world.study_a.pk}/?item={item.pk}"
    assert client.get("/viewer/items/999999/").status_code == 404
