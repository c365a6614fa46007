"""The site's Content-Security-Policy is enforced in the browser and the tests see violations.

Every browser test fails on a violation (tests/browser/conftest.py); this one shows that the
watch is real: an inline script injected into a signed-in page does not run and is reported.
"""

from __future__ import annotations

import pytest

from tests.browser import conftest

pytestmark = [pytest.mark.slow]


def test_an_injected_inline_script_is_refused_and_reported(browser, site):
    context = browser.new_context()
    page = context.new_page()
    try:
        site.login(page, next_path="/")
        page.wait_for_url("**/")
        page.evaluate(
            """() => { const s = document.createElement('script');
                       s.textContent = 'window.__injected = true';
                       document.body.appendChild(s); }"""
        )
        page.wait_for_timeout(200)
        assert page.evaluate("() => window.__injected === undefined")
        reported = list(conftest._CSP_VIOLATIONS)
        assert any("inline script" in v for v in reported), reported
    finally:
        conftest._CSP_VIOLATIONS.clear()  # the refusal was this test's point, not a failure
        context.close()


def test_the_api_documentation_renders_under_the_policy(browser, site):
    path, rendered = "/api/docs/", ".swagger-ui .info .title"
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(site.url + path)
        page.wait_for_selector(rendered, timeout=30_000)
        assert "FusionScreen API" in page.locator(rendered).first.inner_text()
        assert not errors, errors
    finally:
        context.close()
