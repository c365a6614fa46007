"""OpenAPI schema and docs pages: complete, and served without any CDN."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/api/auth/token/": {"post"},
    "/api/cohorts/": {"get", "post"},
    "/api/cohorts/{id}/": {"get"},
    "/api/cohorts/{id}/upload/": {"post"},
    "/api/cohorts/{id}/labels/": {"post"},
    "/api/cohorts/{id}/members/": {"post"},
    "/api/studies/": {"get"},
    "/api/studies/{id}/": {"get"},
    "/api/model-versions/": {"get"},
    "/api/model-versions/{id}/": {"get"},
    "/api/model-versions/{id}/activate/": {"post"},
    "/api/model-versions/import/": {"post"},
    "/api/model-versions/train/": {"post"},
    "/api/training-jobs/": {"get"},
    "/api/training-jobs/{id}/": {"get"},
    "/api/training-jobs/{id}/cancel/": {"post"},
    "/api/cohorts/{id}/detect/": {"post"},
    "/api/studies/{id}/detect/": {"post"},
    "/api/jobs/": {"get"},
    "/api/jobs/{id}/": {"get"},
    "/api/jobs/{id}/cancel/": {"post"},
    "/api/studies/{id}/result/": {"get"},
    "/api/studies/{id}/maps/{kind}/": {"get"},
    "/api/results/": {"get"},
    "/api/cohorts/{id}/calibrate/": {"post"},
    "/api/calibrations/": {"get"},
    "/api/calibrations/{id}/": {"get"},
    "/api/calibrations/{id}/roc/": {"get"},
    "/api/calibrations/{id}/cancel/": {"post"},
    "/api/calibrations/latest/": {"get"},
}


def test_schema_lists_every_endpoint(client):
    r = client.get("/api/schema/?format=json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path, methods in ENDPOINTS.items():
        assert methods <= set(paths[path]), path
    upload = paths["/api/cohorts/{id}/upload/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    params = {p["name"] for p in paths["/api/studies/"]["get"]["parameters"]}
    assert {"cohort", "page", "page_size", "patient_id"} <= params


def test_docs_page_loads_assets_from_our_static_files(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(not a.startswith(("http:", "https:", "//")) for a in assets), assets
    assert "/static/drf_spectacular_sidecar/" in html
    assert "googleapis" not in html and "validator.swagger.io" not in html
    for asset in assets:
        if asset.startswith("/static/"):
            served = client.get(asset)
            assert served.status_code == 200, asset


def test_schema_generates_without_warnings_and_validates(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/cohorts/{id}/upload/" in out.read_text()
