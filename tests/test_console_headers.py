"""The console's security headers (issue 16, F16) and the templates that let its strict CSP hold."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "server" / "console" / "static"
STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
TEMPLATES = sorted(
    path
    for path in ROOT.glob("**/templates/**/*.html")
    if not {".venv", "node_modules", "var"} & set(path.relative_to(ROOT).parts)
)
# What a strict CSP refuses in markup: a script without src, an event handler attribute (onclick=, htmx's
# hx-on), a javascript: URL, a <style> element, a style="" attribute.
INLINE = {
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "event handler attribute": re.compile(r"\s(?:on[a-z]+|hx-on[:\w-]*)\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "<style> element": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
}
LINKED = re.compile(r"url_for\('console\.static', filename='([^']+)'\)")


def assert_console_headers(response) -> None:
    """The four headers every console page carries."""
    assert response.headers["Content-Security-Policy"] == STRICT
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_login_page_allows_only_the_apps_own_files_and_no_framing(client: FlaskClient) -> None:
    response = client.get("/console/login")
    assert response.status_code == 200
    assert_console_headers(response)


@pytest.mark.parametrize(
    "path", ["/console/", "/console/members", "/console/activities", "/console/redemptions"]
)
def test_console_pages_of_a_logged_in_staff_member_carry_the_headers(console, make_staff, path: str) -> None:
    response = console(make_staff(org="C1")).get(path)
    assert response.status_code == 200
    assert_console_headers(response)


def test_the_console_error_page_and_the_login_redirect_carry_them_too(console, make_staff, client) -> None:
    missing = console(make_staff(org="C1")).get("/console/activities/999999")
    assert missing.status_code == 404
    assert "text/html" in missing.content_type
    assert_console_headers(missing)
    redirect = client.get("/console/members")
    assert redirect.status_code == 302
    assert_console_headers(redirect)


def test_the_consoles_own_scripts_are_served_unsniffed(client: FlaskClient) -> None:
    response = client.get("/console/static/console.js")
    assert response.status_code == 200
    assert response.mimetype in {"text/javascript", "application/javascript"}
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_the_api_docs_page_allows_its_one_inline_script_by_hash_not_every_inline_script(
    client: FlaskClient,
) -> None:
    response = client.get("/api/docs")
    html = response.get_data(as_text=True)
    (script,) = re.findall(
        r"<script>(.*?)</script>", html, re.DOTALL
    )  # Swagger UI's start, from flask-smorest
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = dict(
        part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_every_template_is_scanned() -> None:
    names = {path.name for path in TEMPLATES}
    assert {"base.html", "login.html", "screen.html", "member.html", "detail.html"} <= names
    assert len(TEMPLATES) > 30


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_template_holds_what_the_csp_refuses(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    found = {
        f"{what}: {match.group(0).strip()}"
        for what, pattern in INLINE.items()
        for match in pattern.finditer(text)
    }
    assert found == set(), "move it to server/console/static (console.js's data- attributes, a stylesheet)"


def test_every_static_file_a_template_links_exists() -> None:
    linked = {name for path in TEMPLATES for name in LINKED.findall(path.read_text(encoding="utf-8"))}
    assert {"console.js", "console.css", "pages/checkin-screen.js"} <= linked
    assert sorted(name for name in linked if not (STATIC / name).is_file()) == []
