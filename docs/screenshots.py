"""Take the console's screenshots in docs/screenshots/ from a fresh demo, in Debian's Chromium.

    .venv/bin/python docs/screenshots.py                # every page
    .venv/bin/python docs/screenshots.py today pickup   # some of them

A throwaway SQLite instance is migrated and seeded with ``seed-demo``, served by ``flask dev`` (with its
fake WeChat) on free ports, and each page is opened as the demo's community staff member (or the admin,
for the notifications page) at 1366×900, the size of a desk PC's browser.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _first_link(page: Page, pattern: str) -> str:
    """The first link on the page whose address matches ``pattern`` (e.g. an activity's page)."""
    for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
        if re.search(pattern, href or ""):
            return str(href)
    raise LookupError(f"no link matching {pattern!r} on {page.url}")


def _activity(page: Page, base: str, suffix: str) -> str:
    page.goto(f"{base}/console/activities")
    return _first_link(page, r"^/console/activities/\d+$") + suffix


def _member(page: Page, base: str) -> str:
    page.goto(f"{base}/console/members")
    return _first_link(page, r"^/console/members/\d+$")


# name → (login, the page's address from the base URL)
PAGES: dict[str, tuple[str, Callable[[Page, str], str]]] = {
    "today": ("staff", lambda page, base: "/console/"),
    "party-reports": ("staff", lambda page, base: "/console/party-reports"),
    "redemptions": ("staff", lambda page, base: "/console/redemptions"),
    "pickup": ("staff", lambda page, base: "/console/pickup"),
    "store-items": ("staff", lambda page, base: "/console/store"),
    "member": ("staff", _member),
    "wishes": ("staff", lambda page, base: "/console/wishes"),
    "activities": ("staff", lambda page, base: "/console/activities"),
    "code-screen": ("staff", lambda page, base: _activity(page, base, "/screen")),
    "poster": ("staff", lambda page, base: _activity(page, base, "/poster")),
    "reports": ("staff", lambda page, base: "/console/reports"),
    "notifications": ("admin", lambda page, base: "/console/notifications"),
}
PASSWORDS = {"staff": "linli-staff-demo", "admin": "linli-admin-demo"}


def _serve(instance: str) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(LINLI_INSTANCE_DIR=instance, LINLI_ENV="development")
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run([*FLASK, *command], cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603  (a fixed argv: our flask commands)
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603  (a fixed argv: our flask dev server)
        [*FLASK, "dev", "--port", str(port), "--fake-wechat-port", str(_free_port())],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                return server, base
        except requests.ConnectionError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the demo server did not start")


def _log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORDS[username])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/console/?$"))


def main(names: list[str]) -> None:
    """Serve a demo and take the named screenshots (every one when none is named)."""
    unknown = set(names) - set(PAGES)
    if unknown:
        raise SystemExit(f"unknown pages {sorted(unknown)}; known: {', '.join(PAGES)}")
    with tempfile.TemporaryDirectory() as instance:
        server, base = _serve(instance)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                for login in ("staff", "admin"):
                    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
                    page = context.new_page()
                    _log_in(page, base, login)
                    for name, (who, address) in PAGES.items():
                        if who != login or (names and name not in names):
                            continue
                        page.goto(base + address(page, base))
                        page.wait_for_load_state("networkidle")
                        page.screenshot(path=str(OUT / f"{name}.png"))
                        print(f"docs/screenshots/{name}.png")
                    context.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main(sys.argv[1:])
