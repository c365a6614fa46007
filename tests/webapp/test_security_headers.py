"""Issue 12, finding 11: a Content-Security-Policy and a Permissions-Policy on every response.

The policy forbids inline script everywhere (the viewer's WebAssembly decoders get
'wasm-unsafe-eval', never 'unsafe-eval'), and the templates carry no inline script or event
handler that the policy would silently break. The browser tests (tests/browser) run every page
under this policy and fail on any violation Chromium reports.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.webapp.factories import UserFactory
from webapp.accounts import roles

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.mark.parametrize(
    ("url", "signed_in"),
    [("/accounts/login/", False), ("/", True), ("/api/schema/?format=json", False), ("/api/studies/", True)],
)
def test_every_response_carries_the_policies(client, url, signed_in):
    if signed_in:
        client.force_login(UserFactory(username="rad", role=roles.RADIOLOGIST))
    r = client.get(url)
    assert r.status_code == 200
    csp = directives(r["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert "'unsafe-eval'" not in r["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp["style-src"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert "blob:" in csp["worker-src"]
    policy = r["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "fullscreen=(self)"):
        assert feature in policy


def test_only_the_api_docs_page_allows_inline_styles_and_its_scripts_stay_external(client):
    r = client.get("/api/docs/")
    assert r.status_code == 200
    csp = directives(r["Content-Security-Policy"])
    assert "'unsafe-inline'" in csp["style-src"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.content.decode()), "inline script"
    start = client.get("/api/docs/?script=")
    assert start.status_code == 200 and "javascript" in start["Content-Type"]
    assert "SwaggerUIBundle" in start.content.decode()


def test_templates_hold_no_inline_script_or_event_handler():
    """What the policy would block at run time, found before: every page's script is a file."""
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    offenders = []
    for path in (REPO / "webapp").rglob("*.html"):
        text = path.read_text()
        if inline_script.search(text) or handler.search(text):
            offenders.append(str(path.relative_to(REPO)))
    assert not offenders, offenders
