"""Security headers on every page (CSP, nosniff, frame options) and the deploy check's teeth."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.test_settings import STRONG_KEY, run_django

HTML_PAGES = ["/admin/login/", "/lab/", "/smoke_orders/board/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", HTML_PAGES)
def test_html_pages_carry_a_strict_csp_nosniff_and_frame_options(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@pytest.mark.parametrize("path", HTML_PAGES)
def test_html_pages_have_no_inline_script(path: str) -> None:
    body = Client().get(path).content.decode()
    for tag in body.split("<script")[1:]:
        attributes = tag.split(">", 1)[0]
        # A JSON data block (json_script) is never executed, so CSP does not govern it.
        if 'type="application/json"' in attributes:
            continue
        assert " src=" in attributes, f"inline <script> on {path}"


def test_check_deploy_fails_when_hardening_is_turned_off() -> None:
    """The deploy check passing (tests/test_settings.py) means something: here it fails."""
    env = {
        "DJANGO_ALLOWED_HOSTS": "example.com",
        "DJANGO_SECRET_KEY": STRONG_KEY,
        "DJANGO_SECURE_HSTS_SECONDS": "0",
    }
    result = run_django(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # SECURE_HSTS_SECONDS not set
