"""Account pages: 修改密码 for every staff member, 工作人员账号 (unlock codes, disabling) for admins."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from server.auth import services
from server.auth.policy import Principal
from server.auth.sessions import live_session_counts
from server.console import Counter, MenuEntry, current_staff, register_pages
from server.console.actions import attempt, back
from server.console.auth import current_session_id
from server.errors import AppError, Forbidden, message_for

bp = Blueprint("console_staff", __name__, url_prefix="/console", template_folder="templates")


def init_app(app: Flask) -> None:
    """Hang the password page and the admins' staff-accounts page on the console."""
    register_pages(
        app,
        bp,
        menu=[
            MenuEntry("工作人员账号", "console_staff.staff_list", order=85, admin_only=True),
            MenuEntry("修改密码", "console_staff.password", order=95),
        ],
        counters=[
            Counter(
                "账号待解锁", _accounts_needing_unlock, "console_staff.staff_list", order=85, admin_only=True
            )
        ],
    )


def _accounts_needing_unlock(principal: Principal) -> int:
    return services.accounts_needing_unlock(principal)


@bp.route("/password", methods=["GET", "POST"])
def password() -> Any:
    """修改密码: the current password and a new one twice; every other login of the account ends."""
    principal = current_staff()
    assert principal.staff is not None  # noqa: S101  (console principals are staff)
    if request.method == "GET":
        return render_template("console/staff/password.html")
    new, again = request.form.get("new_password", ""), request.form.get("new_password_again", "")
    if new != again:
        return render_template("console/staff/password.html", error="两次输入的新密码不一致"), 422
    try:
        services.change_password(
            principal.staff, request.form.get("current_password", ""), new, current_session_id()
        )
    except AppError as error:
        text = "新密码至少 8 个字符" if error.code == "VALIDATION_ERROR" else message_for(error.code)
        return render_template("console/staff/password.html", error=text), error.status_code
    flash("密码已修改，其他设备上的登录已全部退出", "ok")
    return redirect(url_for("console_staff.password"))


def _admin() -> Any:
    principal = current_staff()
    if not principal.is_admin:
        raise Forbidden(details={"requires": "admin"})
    return principal


@bp.route("/staff")
def staff_list() -> str:
    """工作人员账号: the accounts of the admin's subtree with their login state."""
    principal = _admin()
    accounts = services.staff_of_subtree(principal)
    ids = [a.id for a in accounts]
    locked, sessions = services.locked_address_counts(ids), live_session_counts(ids)
    rows = [
        {"account": a, "locked_addresses": locked.get(a.id, 0), "sessions": sessions.get(a.id, 0)}
        for a in accounts
    ]
    return render_template("console/staff/list.html", rows=rows, me=principal.staff.id)


@bp.route("/staff/<int:staff_id>/unlock-code", methods=["POST"])
def unlock_code(staff_id: int) -> Any:
    """生成解锁码: a one-time code shown on this page once, to be told to the staff member by phone."""
    principal = _admin()
    try:
        staff = services.staff_in_scope(principal, staff_id)
    except AppError as error:
        flash(f"{message_for(error.code)}（{error.code}）", "error")
        return back("console_staff.staff_list")
    code = services.create_unlock_code(principal, staff)
    minutes = int(services.UNLOCK_CODE_TTL.total_seconds() // 60)
    page = render_template("console/staff/unlock_code.html", account=staff, code=code, minutes=minutes)
    return page, 200, {"Cache-Control": "no-store"}


@bp.route("/staff/<int:staff_id>/disable", methods=["POST"])
def disable(staff_id: int) -> Response:
    """停用: the account's console sessions, access and refresh tokens end at once."""
    principal = _admin()
    attempt(lambda: services.set_staff_active(principal, staff_id, False), "已停用，该账号的所有登录已退出")
    return back("console_staff.staff_list")


@bp.route("/staff/<int:staff_id>/enable", methods=["POST"])
def enable(staff_id: int) -> Response:
    """启用: the account may log in again."""
    principal = _admin()
    attempt(lambda: services.set_staff_active(principal, staff_id, True), "已启用")
    return back("console_staff.staff_list")
