"""Console tests in a real browser: Debian's Chromium driven by Playwright, against the app on localhost."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tests.conftest import Staff

CHROMIUM = os.environ.get("LINLI_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def live_url(app: Flask) -> Iterator[str]:
    """The test app served over HTTP on a free port (threaded, like a real server)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's package; Playwright's own browser downloads cannot work here)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("LINLI_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_url: str) -> Iterator[Any]:
    """A fresh browser context (its own cookies) and page; Chinese locale, a desk-sized window."""
    context = browser.new_context(
        base_url=live_url, locale="zh-CN", viewport={"width": 1366, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def console_login(page: Any) -> Callable[[Staff], Any]:
    """Log a staff member in through the login form; returns the page, on the today page."""

    def login(staff: Staff) -> Any:
        page.goto("/console/login")
        page.get_by_label("用户名").fill(staff.username)
        page.get_by_label("密码").fill(staff.password)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/console/")
        return page

    return login


def csrf_of(html: str) -> str:
    """The CSRF token a console page carries (its <meta> or a form's hidden field)."""
    found = re.search(r'name="csrf[-_]token" (?:content|value)="([^"]+)"', html)
    assert found is not None, "no CSRF token on the page"
    return found[1]


@pytest.fixture
def client_login(client: FlaskClient) -> Callable[[Staff], str]:
    """Log a staff member in to the console with the test client; returns the CSRF token to post with."""

    def login(staff: Staff) -> str:
        token = csrf_of(client.get("/console/login").get_data(as_text=True))
        form = {"username": staff.username, "password": staff.password, "csrf_token": token}
        assert client.post("/console/login", data=form).status_code == 302
        return csrf_of(client.get("/console/").get_data(as_text=True))

    return login
