"""The console shell: login, logout, the layout and the today page (features hang their pages on it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from server.auth.blueprint import staff_login_limits
from server.auth.services import check_staff_password
from server.console.auth import (
    console_principal,
    current_staff,
    end_session,
    protect,
    safe_next,
    start_session,
)
from server.console.registry import registry
from server.errors import AppError, message_for

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
protect(bp)


@bp.route("/")
def today() -> str:
    """今日待办: what waits for this staff member, and today's check-ins as they happen."""
    principal = current_staff()
    found = registry(current_app)
    counters = [
        (c, c.count(principal))
        for c in sorted(found.counters, key=lambda c: c.order)
        if not c.admin_only or principal.is_admin
    ]
    panels = sorted(found.panels, key=lambda p: p.order)
    return render_template("console/today.html", counters=counters, panels=panels)


@bp.route("/login", methods=["GET", "POST"])
@staff_login_limits  # the same budget as POST /api/v1/auth/staff
def login() -> Any:
    """The login form; five wrong passwords from one address lock that address out for fifteen minutes,
    and after many failures from anywhere the right password needs an admin's unlock code (解锁码)."""
    if request.method == "GET":
        if console_principal() is not None:
            return redirect(safe_next(request.args.get("next")))
        return render_template("console/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()
    try:
        staff = check_staff_password(
            username, request.form.get("password", ""), request.form.get("unlock_code", "").strip() or None
        )
    except AppError as error:
        page = render_template(
            "console/login.html",
            error=message_for(error.code),
            username=username,
            next=request.form.get("next"),
            ask_unlock_code=error.code == "UNLOCK_CODE_REQUIRED",
        )
        return page, error.status_code
    start_session(staff)
    return redirect(safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End the console session: the stored session ends, so a copied cookie no longer opens anything."""
    end_session()
    flash("已退出登录 (Logged out)")
    return redirect(url_for("console.login"))
