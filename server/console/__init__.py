"""The staff console's shell: login, layout, the today page; features register their pages with it."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask, current_app, request
from flask_wtf.csrf import generate_csrf

from server.console.auth import console_principal, current_staff, error_page, protect
from server.console.registry import Counter, MenuEntry, Panel, register_pages, registry
from server.schemas import SERVER_ZONE

__all__ = [
    "Counter",
    "MenuEntry",
    "Panel",
    "current_staff",
    "error_page",
    "init_app",
    "protect",
    "register_pages",
]


def init_app(app: Flask) -> None:
    """Register the shell and its settings: HttpOnly, SameSite=Lax and (in production) Secure cookies."""
    from server.console.blueprint import bp

    # Flask's defaults exist for these keys, so they are set, not defaulted.
    app.config.update(
        SESSION_COOKIE_NAME="linli_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config.get("ENV_NAME") == "production",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=10),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    registry(app)
    app.register_blueprint(bp)
    app.context_processor(_layout_values)
    app.add_template_filter(_localtime, "localtime")


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
    return {"staff": principal.staff if principal else None, "menu": entries, "csrf_token": generate_csrf}
