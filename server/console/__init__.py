"""The staff console's shell: login, layout, the today page; features register their pages with it."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask, current_app, request, url_for
from flask_wtf.csrf import generate_csrf

from server.clock import SERVER_ZONE
from server.console import errors, headers
from server.console.auth import console_principal, current_staff, protect, staff_communities
from server.console.errors import error_page
from server.console.registry import Counter, MemberSection, MenuEntry, Panel, register_pages, registry

__all__ = [
    "Counter",
    "MemberSection",
    "MenuEntry",
    "Panel",
    "current_staff",
    "error_page",
    "init_app",
    "protect",
    "register_pages",
    "staff_communities",
]


def init_app(app: Flask) -> None:
    """Register the shell, its error pages and its settings (unless the config set them already)."""
    from server.console.blueprint import bp

    _default_settings(app)
    registry(app)
    app.register_blueprint(bp)
    # Before errors: after-request hooks run last-registered first, so the headers see the finished page.
    headers.init_app(app)
    errors.init_app(app)
    app.context_processor(_layout_values)
    app.add_template_filter(_localtime, "localtime")


def _default_settings(app: Flask) -> None:
    """HttpOnly, SameSite=Lax and (in production) Secure session cookies, 10 hours, CSRF tokens as long.

    Flask has defaults for most of these keys, so a value still equal to Flask's default counts as not set;
    anything else (a ``create_app`` override) is kept."""
    defaults = {
        "SESSION_COOKIE_NAME": "linli_console",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": app.config.get("ENV_NAME") == "production",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=10),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    }
    for key, value in defaults.items():
        if key not in app.config or app.config[key] == app.default_config.get(key):
            app.config[key] = value


def _localtime(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as staff read it, in the server's zone (Asia/Shanghai)."""
    return moment.astimezone(SERVER_ZONE).strftime(fmt) if moment else "—"


def _layout_values() -> dict[str, object]:
    if not request.path.startswith("/console"):
        return {}
    principal = console_principal()
    entries = []
    if principal is not None:
        entries = [
            m
            for m in sorted(registry(current_app).menu, key=lambda m: m.order)
            if not m.admin_only or principal.is_admin
        ]
    return {
        "staff": principal.staff if principal else None,
        "menu": entries,
        "csrf_token": generate_csrf,
        "page_url": _page_url,
    }


def _page_url(number: int) -> str:
    """This page with the same filters, at page ``number`` (for the pager)."""
    values = {**(request.view_args or {}), **request.args.to_dict(), "page": number}
    return url_for(str(request.endpoint), **values)
