"""The server-rendered pages: every page x every role (and anonymous, and a radiologist of cohort
A to whom its worklist is not assigned), on cohort A's data and cohort B's; then what each page
shows its roles, the forms (CSRF, upload verdicts, detection, cancel, assign) and the audit rows
page views leave."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.webapp.reading import BALANCED, Reading, calibration, make_reading, read_body
from webapp.accounts.models import AuditEvent
from webapp.detection.models import DetectionJob
from webapp.worklists.models import WorklistAssignment

pytestmark = pytest.mark.django_db

ROLES = ("radiologist", "unassigned", "coordinator", "admin", "anonymous")
LOGIN = 302  # anonymous users are sent to the login page


def _t(rad, unassigned, coord, admin, anon=LOGIN) -> dict[str, int]:
    return dict(zip(ROLES, (rad, unassigned, coord, admin, anon)))


ALL = _t(200, 200, 200, 200)
# (case id, method, url, form data, {role: status}); POSTs that succeed redirect (302).
CASES = [
    ("dashboard", "get", "/", None, ALL),
    ("cohorts", "get", "/cohorts/", None, ALL),
    ("cohort-create", "post", "/cohorts/", {"name": "new", "purpose": "screening"}, _t(403, 403, 302, 302)),
    ("cohort-A", "get", "/cohorts/{A}/", None, ALL),
    ("cohort-B", "get", "/cohorts/{B}/", None, _t(404, 404, 404, 200)),
    ("cohort-missing", "get", "/cohorts/999999/", None, _t(404, 404, 404, 404)),
    ("upload-A", "post", "/cohorts/{A}/upload/", "upload", _t(403, 403, 200, 200)),
    ("upload-B", "post", "/cohorts/{B}/upload/", "upload", _t(403, 403, 404, 200)),
    ("detect-A", "post", "/cohorts/{A}/detect/", {}, _t(403, 403, 302, 302)),
    ("detect-B", "post", "/cohorts/{B}/detect/", {}, _t(403, 403, 404, 302)),
    # past the checks, A (screening, no file sent, not labelled) is refused with a message: 302
    ("labels-A", "post", "/cohorts/{A}/labels/", {}, _t(403, 403, 302, 302)),
    ("labels-B", "post", "/cohorts/{B}/labels/", {}, _t(403, 403, 404, 302)),
    ("calibrate-A", "post", "/cohorts/{A}/calibrate/", {}, _t(403, 403, 403, 302)),
    ("calibrate-B", "post", "/cohorts/{B}/calibrate/", {}, _t(403, 403, 403, 302)),
    ("members-A", "post", "/cohorts/{A}/members/", {"username": "rad2"}, _t(403, 403, 302, 302)),
    ("members-B", "post", "/cohorts/{B}/members/", {"username": "rad2"}, _t(403, 403, 404, 302)),
    ("jobs", "get", "/jobs/", None, _t(403, 403, 200, 200)),
    ("jobs-queued", "get", "/jobs/?status=queued&cohort={A}", None, _t(403, 403, 200, 200)),
    ("job-cancel-A", "post", "/jobs/{queued_a}/cancel/", {}, _t(403, 403, 302, 302)),
    ("job-cancel-B", "post", "/jobs/{queued_b}/cancel/", {}, _t(403, 403, 404, 302)),
    ("models", "get", "/models/", None, ALL),
    ("model-version", "get", "/models/{version}/", None, ALL),
    ("model-version-retire", "post", "/models/{other_version}/retire/", {}, _t(403, 403, 403, 302)),
    ("calibrations", "get", "/calibrations/", None, ALL),
    ("calibration-A", "get", "/calibrations/{cal_a}/", None, ALL),
    ("calibration-B", "get", "/calibrations/{cal_b}/", None, _t(404, 404, 404, 200)),
    ("worklists", "get", "/worklists/", None, ALL),
    ("worklist-new", "get", "/worklists/new/", None, _t(403, 403, 200, 200)),
    ("worklist-new-A", "get", "/worklists/new/?cohort={A}", None, _t(403, 403, 200, 200)),
    ("worklist-new-B", "get", "/worklists/new/?cohort={B}", None, _t(403, 403, 404, 200)),
    ("worklist-build-A", "post", "/worklists/new/", {"cohort": "{A}", "name": "x"}, _t(403, 403, 302, 302)),
    ("worklist-A", "get", "/worklists/{wl_a}/", None, _t(200, 404, 200, 200)),
    ("worklist-B", "get", "/worklists/{wl_b}/", None, _t(404, 404, 404, 200)),
    ("worklist-assign-A", "post", "/worklists/{wl_a}/assign/", {"reader": "rad2"}, _t(403, 403, 302, 302)),
    ("worklist-assign-B", "post", "/worklists/{wl_b}/assign/", {"reader": "rad-b"}, _t(403, 403, 404, 302)),
    ("review", "get", "/review/", None, _t(403, 403, 403, 200)),
    ("audit", "get", "/audit/?user=rad&since=2000-01-01", None, _t(403, 403, 403, 200)),
    # Signing in and out, and the password change (anyone signed in, for themselves).
    ("login", "get", "/accounts/login/", None, _t(302, 302, 302, 302, 200)),  # signed in: home
    (
        "login-post",
        "post",
        "/accounts/login/",
        {"username": "rad", "password": "wrong"},
        _t(302, 302, 302, 302, 200),
    ),
    ("logout", "post", "/accounts/logout/", {}, _t(302, 302, 302, 302, 302)),  # to the login page
    ("password", "get", "/accounts/password/", None, ALL),
    ("password-post", "post", "/accounts/password/", {}, ALL),  # an incomplete form is shown again
    ("password-done", "get", "/accounts/password/done/", None, ALL),
    # The second factor: each user's own (none is set up here; a wrong code re-shows the form).
    ("2fa", "get", "/accounts/2fa/", None, ALL),
    ("2fa-setup", "get", "/accounts/2fa/setup/", None, ALL),
    ("2fa-setup-post", "post", "/accounts/2fa/setup/", {"code": "1"}, ALL),
    ("2fa-verify", "get", "/accounts/2fa/verify/", None, ALL),
    ("2fa-verify-post", "post", "/accounts/2fa/verify/", {"code": "1"}, ALL),
    ("2fa-recovery", "post", "/accounts/2fa/recovery-codes/", {}, _t(302, 302, 302, 302, 302)),
    ("2fa-disable", "post", "/accounts/2fa/disable/", {}, _t(302, 302, 302, 302, 302)),
    # The viewer: a study of the user's cohorts, where its detection stands, a worklist item.
    ("viewer-A", "get", "/viewer/studies/{study_A}/", None, ALL),
    ("viewer-B", "get", "/viewer/studies/{study_B}/", None, _t(404, 404, 404, 200)),
    ("viewer-status-A", "get", "/viewer/studies/{study_A}/detection-status/", None, ALL),
    ("viewer-status-B", "get", "/viewer/studies/{study_B}/detection-status/", None, _t(404, 404, 404, 200)),
    # an item opens its study (302) for whoever sees the item: its reader, the cohort's coordinator
    ("viewer-item-A", "get", "/viewer/items/{item_a}/", None, _t(302, 404, 302, 302)),
    ("viewer-item-B", "get", "/viewer/items/{item_b}/", None, _t(404, 404, 404, 302)),
    ("viewer-item-missing", "get", "/viewer/items/999999/", None, _t(404, 404, 404, 404)),
]


@pytest.fixture
def reading(world) -> Reading:
    return make_reading(world)


@pytest.fixture
def ids(world, reading) -> dict[str, int]:
    other = reading.version.__class__.objects.create(name="other", source="imported", directory="models/x")
    return {
        "A": world.cohort_a.pk,
        "B": world.cohort_b.pk,
        "study_A": world.study_a.pk,
        "study_B": world.study_b.pk,
        "item_a": reading.items_a[0].pk,
        "item_b": reading.item_b.pk,
        "wl_a": reading.worklist_a.pk,
        "wl_b": reading.worklist_b.pk,
        "cal_a": calibration(world.cohort_a, other).pk,
        "cal_b": reading.calibration.pk,
        "version": reading.version.pk,
        "other_version": other.pk,
        "queued_a": DetectionJob.objects.create(study=world.study_a, model_version=other, queue="cpu").pk,
        "queued_b": DetectionJob.objects.create(study=world.study_b, model_version=other, queue="cpu").pk,
    }


def signed_in(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _params():
    for case_id, method, url, data, expected in CASES:
        for role in ROLES:
            yield pytest.param(method, url, data, role, expected[role], id=f"{case_id}-{role}")


@pytest.fixture
def viewer_bundle(settings, tmp_path):
    """A stand-in for the viewer's Vite build (its manifest is all the page reads)."""
    folder = tmp_path / "dist"
    folder.mkdir()
    (folder / "manifest.json").write_text(
        json.dumps({"src/main.js": {"file": "assets/main.js", "isEntry": True}})
    )
    settings.VIEWER_BUNDLE_DIR = folder


@pytest.mark.parametrize(("method", "url", "data", "role", "status"), list(_params()))
def test_page_role_matrix(world, reading, ids, viewer_bundle, monkeypatch, method, url, data, role, status):
    from webapp.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)
    monkeypatch.setattr(app.control, "revoke", lambda *a, **k: None)
    user = reading.other_radiologist if role == "unassigned" else world.user(role)
    url = url.format(**ids)
    client = signed_in(user)
    if method == "get":
        response = client.get(url)
    else:
        if data == "upload":
            data = {"file": SimpleUploadedFile("x.dcm", b"not dicom")}
        else:
            data = {k: v.format(**ids) if isinstance(v, str) else v for k, v in data.items()}
        response = client.post(url, data)
    assert response.status_code == status, response.content[:300]
    if role == "anonymous" and status == LOGIN:
        signed_out = url == "/accounts/logout/"  # nothing to come back to: the plain login page
        assert response["Location"].startswith("/accounts/login/" if signed_out else "/accounts/login/?next=")


# --- what each role sees -------------------------------------------------------------------------
def test_the_radiologists_dashboard_starts_reading_at_the_most_anomalous_unread_item(world, reading):
    first = reading.items_a[0]
    html = signed_in(world.radiologist).get("/").content.decode()
    assert "A triage" in html and "3 unread" in html
    assert f'href="/viewer/studies/{first.study_id}/?item={first.pk}"' in html
    assert "Worklists" in html and "Review" not in html and "Audit" not in html and "Jobs" not in html
    from tests.webapp.conftest import api_client

    api_client(world.radiologist).post(f"/api/worklist-items/{first.pk}/read/", read_body(), format="json")
    second = reading.items_a[1]
    html = signed_in(world.radiologist).get("/").content.decode()
    assert f"?item={second.pk}" in html and "1 read" in html


def test_the_coordinators_and_admins_dashboards(world, reading, ids):
    html = signed_in(world.coordinator).get("/").content.decode()
    assert "My cohorts" in html and f'href="/cohorts/{world.cohort_a.pk}/"' in html
    assert "Recent detection jobs" in html and f"#{ids['queued_a']}" in html
    assert f"#{ids['queued_b']}" not in html  # another cohort's job
    listed = AuditEvent.objects.filter(action="study.listed", actor=world.coordinator).latest("id")
    assert (
        listed.details["filters"] == {"page": "dashboard"} and world.study_a.pk in listed.details["study_ids"]
    )
    html = signed_in(world.admin).get("/").content.decode()
    for text in (
        "Model versions",
        "reading-model",
        "active",
        "Job health",
        "/admin/auth/user/",
        "Calibrations",
    ):
        assert text in html, text
    assert "Review" in html and "Audit" in html


def test_the_cohort_page_lists_studies_with_viewer_links_and_follows_jobs(world, reading):
    html = signed_in(world.coordinator).get(f"/cohorts/{world.cohort_a.pk}/").content.decode()
    for item in reading.items_a:
        assert f'href="/viewer/studies/{item.study_id}/"' in html
    assert f'data-jobs-url="/api/jobs/?cohort={world.cohort_a.pk}&amp;page_size=500"' in html
    assert "csrfmiddlewaretoken" in html and 'enctype="multipart/form-data"' in html
    assert "Run detection" in html and "webapp/pages.js" in html
    event = AuditEvent.objects.filter(action="study.listed", actor=world.coordinator).latest("id")
    assert sorted(event.details["study_ids"]) == sorted(i.study_id for i in reading.items_a)
    # A radiologist member sees the studies, not the upload form, jobs or the detect button.
    html = signed_in(world.radiologist).get(f"/cohorts/{world.cohort_a.pk}/").content.decode()
    assert "data-jobs-url" not in html and "Upload studies" not in html and "Run detection" not in html
    assert f'href="/viewer/studies/{world.study_a.pk}/"' in html


def test_uploading_on_the_cohort_page_shows_every_files_verdict(world, phantoms, monkeypatch):
    from webapp.celery import app

    monkeypatch.setattr(app, "send_task", lambda *a, **k: None)
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in phantoms.files(0)[:3]]
    files.append(SimpleUploadedFile("notes.txt", b"not an image"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.coordinator)
    page = client.get(f"/cohorts/{world.cohort_a.pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    refused = client.post(f"/cohorts/{world.cohort_a.pk}/upload/", {"file": files[:1]})
    assert refused.status_code == 403  # no CSRF token
    for f in files:
        f.seek(0)
    r = client.post(f"/cohorts/{world.cohort_a.pk}/upload/", {"file": files, "csrfmiddlewaretoken": token})
    assert r.status_code == 200
    html = r.content.decode()
    assert "3 accepted, 0 duplicate, 1 rejected" in html
    # the studies first: the unrecognised file, then the new study with its three files
    studies = html[html.index("data-upload-studies") : html.index("data-upload-files")]
    assert studies.index('data-outcome="unrecognised"') < studies.index('data-outcome="new"')
    assert "3 / 0 / 0" in studies and "not a DICOM file" in studies
    # every file's verdict, folded below
    files_part = html[html.index("data-upload-files") :]
    assert files_part.count('class="badge accepted"') == 3 and "(4 files)" in files_part
    again = [SimpleUploadedFile(p.name, p.read_bytes()) for p in phantoms.files(0)[:3]]
    html = client.post(
        f"/cohorts/{world.cohort_a.pk}/upload/", {"file": again, "csrfmiddlewaretoken": token}
    ).content.decode()
    assert 'data-outcome="duplicate"' in html and "0 / 3 / 0" in html


def test_upload_over_the_request_limit_is_a_413_page_not_an_error(world, settings):
    settings.INGEST_MAX_REQUEST_BYTES = 100
    r = signed_in(world.coordinator).post(
        f"/cohorts/{world.cohort_a.pk}/upload/", {"file": SimpleUploadedFile("big.dcm", b"x" * 5000)}
    )
    assert r.status_code == 413 and b"limit per request" in r.content


def test_the_job_monitor_filters_by_state_and_cancels(world, reading, ids, monkeypatch):
    from webapp.celery import app

    monkeypatch.setattr(app.control, "revoke", lambda *a, **k: None)
    client = signed_in(world.coordinator)
    html = client.get("/jobs/?status=queued").content.decode()
    assert f"#{ids['queued_a']}" in html and "Cancel" in html
    assert f"#{reading.items_a[0].result.job_id}<" not in html  # done jobs are filtered out
    r = client.post(f"/jobs/{ids['queued_a']}/cancel/", {"next": "/jobs/?status=queued"})
    assert r.status_code == 302 and r["Location"] == "/jobs/?status=queued"
    assert DetectionJob.objects.get(pk=ids["queued_a"]).status == "cancelled"
    assert (
        "is cancelled already"
        in client.post(f"/jobs/{ids['queued_a']}/cancel/", follow=True).content.decode()
    )


def test_the_calibration_page_shows_the_roc_plot_and_operating_points(world, reading, ids):
    html = signed_in(world.other_coordinator).get(f"/calibrations/{ids['cal_b']}/").content.decode()
    assert "Operating points" in html and "balanced" in html and "high_sensitivity" in html
    assert f"{BALANCED:.4f}" in html and "0.850" in html  # the threshold and the fused AUC
    # how far it can be trusted: exact intervals from the counts (9 of 10, 8 of 10), a warning
    assert "(0.55–1.00)" in html and "(0.44–0.97)" in html
    assert "Small calibration cohort" in html
    assert AuditEvent.objects.filter(action="calibration.viewed", object_id=str(ids["cal_b"])).exists()
    cal = reading.calibration
    cal.roc_plot = "calibrations/roc.png"
    cal.save()
    html = signed_in(world.other_coordinator).get(f"/calibrations/{cal.pk}/").content.decode()
    assert f'src="/api/calibrations/{cal.pk}/roc/"' in html


def test_the_triage_page_orders_by_score_and_explains_the_operating_point(world, reading):
    html = signed_in(world.radiologist).get(f"/worklists/{reading.worklist_a.pk}/").content.decode()
    positions = [html.index(f"?item={item.pk}") for item in reading.items_a]
    assert positions == sorted(positions)  # 0.9, 0.7, 0.3
    assert "Fused score ≥ 0.500 is positive" in html and "sensitivity" in html
    assert html.count('class="badge positive"') == 2 and html.count('class="badge negative"') == 1
    assert "Start reading" in html and html.count('class="badge unread"') == 3
    strict = signed_in(world.radiologist).get(f"/worklists/{reading.worklist_a.pk}/?point=high_specificity")
    assert "Fused score ≥ 0.700 is positive" in strict.content.decode()
    assert AuditEvent.objects.filter(action="worklist.items_listed", actor=world.radiologist).count() == 2


def test_a_coordinator_builds_and_assigns_a_worklist_on_the_pages(world, reading):
    client = signed_in(world.coordinator)
    form = client.get(f"/worklists/new/?cohort={world.cohort_a.pk}").content.decode()
    assert 'name="reader" value="rad"' in form and 'name="reader" value="rad2"' in form
    chosen = reading.items_a[1].study_id
    r = client.post(
        "/worklists/new/",
        {
            "cohort": world.cohort_a.pk,
            "name": "subset",
            "subset": "chosen",
            "study": [chosen],
            "reader": ["rad2"],
        },
    )
    assert r.status_code == 302
    worklist = world.cohort_a.worklists.get(name="subset")
    assert list(worklist.items.values_list("study_id", flat=True)) == [chosen]
    assert list(worklist.assignments.values_list("reader__username", flat=True)) == ["rad2"]
    r = client.post(f"/worklists/{worklist.pk}/assign/", {"reader": ["rad"]}, follow=True)
    assert "Assigned." in r.content.decode()
    assert WorklistAssignment.objects.filter(worklist=worklist).count() == 2
    r = client.post("/worklists/new/", {"cohort": world.cohort_a.pk, "name": ""}, follow=True)
    assert "a worklist needs a name" in r.content.decode()


def test_the_review_page_shows_agreement_and_links_disagreements(world, reading):
    from tests.webapp.conftest import api_client

    client = api_client(world.radiologist)
    top, middle, low = reading.items_a
    client.post(f"/api/worklist-items/{top.pk}/read/", read_body(), format="json")  # agree
    client.post(
        f"/api/worklist-items/{middle.pk}/read/", read_body(verdict="normal", lesion_marks=[]), format="json"
    )
    html = signed_in(world.admin).get("/review/").content.decode()
    assert "reading-model" in html and "50.0 %" in html
    assert f'href="/viewer/studies/{middle.study_id}/"' in html and "Disagreements (1)" in html
    assert AuditEvent.objects.filter(action="review.agreement_viewed", actor=world.admin).exists()


def test_the_audit_browser_filters_and_pages(world, reading):
    client = signed_in(world.admin)
    html = client.get("/audit/?user=coord&action=worklist.built").content.decode()
    assert "worklist.built" in html and "1 event" in html
    assert "coord-b" not in html.split("<tbody>")[1]
    assert "Dates are YYYY-MM-DD" in client.get("/audit/?since=yesterday").content.decode()
    assert "No event matches" in client.get("/audit/?until=2000-01-01").content.decode()
    assert AuditEvent.objects.filter(action="audit.browsed", actor=world.admin).count() == 3


def test_the_audit_browser_shows_details_in_words_with_links(world, reading):
    """No dict dumps: labelled values, the objects named linked to their pages."""
    client = signed_in(world.admin)
    html = client.get(
        f"/audit/?object_type=worklists.worklist&object_id={reading.worklist_a.pk}"
    ).content.decode()
    body = html.split("<tbody>")[1]
    assert "{'" not in body and '{"' not in body
    assert (
        f'<a href="/worklists/{reading.worklist_a.pk}/">worklists.worklist {reading.worklist_a.pk}</a>'
        in body
    )
    assert f'<dt>cohort</dt><dd><a href="/cohorts/{world.cohort_a.pk}/">{world.cohort_a.pk}</a></dd>' in body
    client.get(f"/worklists/{reading.worklist_a.pk}/")  # lists the items: study ids in the details
    html = client.get("/audit/?action=worklist.items_listed").content.decode()
    first = reading.items_a[0].study_id
    assert "<dt>study (3)</dt>" in html and f'<a href="/viewer/studies/{first}/">{first}</a>' in html


def test_a_cohort_page_shows_the_calibrations_score_where_no_result_is_stored(world, reading):
    """Calibration scores studies without a stored result itself: the cohort page shows that
    score, marked as the calibration's, instead of "no result"."""
    from tests.webapp.factories import study_in_cohort

    unstored = study_in_cohort(world.cohort_b)
    cal = reading.calibration
    cal.per_study = [{"study_id": unstored.pk, "label": "normal", "fused_score": 0.1234}]
    cal.save()
    html = signed_in(world.other_coordinator).get(f"/cohorts/{world.cohort_b.pk}/").content.decode()
    assert "0.123" in html and f'href="/calibrations/{cal.pk}/"' in html and ">calibration</a>" in html


def test_a_model_version_has_a_page_with_its_settings_calibrations_and_admin_actions(world, reading):
    version = reading.version
    version.detector_settings = {"fpi_steps": 600, "fusion_weight": 20.0, "local_realisation": "fpi"}
    version.meta = {"training": {"n_normals": 24, "cohort": "normals"}}
    version.save()
    other = version.__class__.objects.create(name="older", source="imported", directory="models/old")
    for user in (world.radiologist, world.coordinator):
        html = signed_in(user).get(f"/models/{version.pk}/").content.decode()
        assert "reading-model" in html and "Fusion and findings" in html and "Steps" in html
        assert html.count('class="badge running">changed') == 2  # fpi_steps 600, fusion weight 20
        assert "data-version-actions" not in html  # only admins act
        assert signed_in(user).post(f"/models/{other.pk}/activate/").status_code == 403
    listing = signed_in(world.radiologist).get("/models/").content.decode()
    assert f'href="/models/{version.pk}/"' in listing and f'href="/models/{other.pk}/"' in listing

    admin = signed_in(world.admin)
    assert "data-version-actions" in admin.get(f"/models/{other.pk}/").content.decode()
    # its calibrations, as far as the user may see them (cohort B's: the admin's)
    assert (
        f'href="/calibrations/{reading.calibration.pk}/"'
        in admin.get(f"/models/{version.pk}/").content.decode()
    )
    # the active version cannot be retired; another one can, and then not activated until restored
    page = admin.post(f"/models/{version.pk}/retire/", follow=True).content.decode()
    assert "is active: activate another one first" in page
    admin.post(f"/models/{other.pk}/retire/")
    other.refresh_from_db()
    assert other.status == "retired"
    assert (
        "only a ready one can be active"
        in admin.post(f"/models/{other.pk}/activate/", follow=True).content.decode()
    )
    admin.post(f"/models/{other.pk}/restore/")
    admin.post(f"/models/{other.pk}/activate/")
    other.refresh_from_db()
    assert other.status == "ready" and other.is_active
    assert AuditEvent.objects.filter(action="model_version.retired", object_id=str(other.pk)).exists()
