"""Console pages of points: members' points, a member's history and the adjustment form."""

from __future__ import annotations

import re
import secrets

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from points import services
from server.auth.policy import Principal, staff_scope_ids
from server.console import MenuEntry, current_staff, register_pages
from server.console.args import page_arg
from server.console.registry import registry
from server.db import db, page_count
from server.errors import AppError, message_for
from server.extensions import limiter
from server.orgs.services import org_names
from server.users import services as users
from server.users.models import User

bp = Blueprint("console_points", __name__, url_prefix="/console", template_folder="templates")

MEMBERS_PAGE_SIZE = 30
HISTORY_PAGE_SIZE = 20
ADJUST_TOKEN = re.compile(r"^[0-9a-f]{32}$")
AMOUNT = re.compile(r"^[+-]?\d{1,7}$")


def init_app(app: Flask) -> None:
    """Hang the members' pages on the console."""
    register_pages(app, bp, menu=[MenuEntry("居民积分", "console_points.members", order=33)])


# --- members --------------------------------------------------------------------------------------------


def _search_limit() -> str:
    """Read at each request, so a changed setting (or a test) takes effect at once."""
    return str(current_app.config["MEMBER_SEARCH_RATE_LIMIT"])


def _staff_key() -> str:
    """Searches are counted per staff account, wherever they log in from."""
    staff = current_staff().staff
    return f"member-search:staff:{staff.id if staff is not None else 'none'}"


def _not_a_search() -> bool:
    """The list without words is browsing, not a search: not counted."""
    return not request.args.get("q", "").strip()


@bp.route("/members")
@limiter.limit(_search_limit, key_func=_staff_key, exempt_when=_not_a_search)
def members() -> str:
    """Search the members of the staff member's communities by name, the whole phone number, or its last
    four digits with a name (never by part of a number); searches are rate-limited and audited."""
    principal = current_staff()
    typed = request.args.get("q", "").strip()[:50]
    page = page_arg()
    found, total = users.search_members(principal, typed, page, MEMBERS_PAGE_SIZE)
    balances = services.member_balances([u.id for u in found])
    names = org_names(staff_scope_ids(principal))
    return render_template(
        "console/points/members.html",
        members=found,
        balances=balances,
        names=names,
        q=typed,
        total=total,
        page=page,
        pages=page_count(total, MEMBERS_PAGE_SIZE),
    )


@bp.route("/members/<int:user_id>")
def member(user_id: int) -> str:
    """A member's points: available and held, the history (paged), recent redemptions, the adjustment form."""
    principal = current_staff()
    user = services.member_for_staff(principal, user_id)
    page = page_arg()
    history, total = services.history_of(user.id, page, HISTORY_PAGE_SIZE)
    return render_template(
        "console/points/member.html",
        member=user,
        balance=services.balance_of(user.id),
        history=history,
        total=total,
        page=page,
        pages=page_count(total, HISTORY_PAGE_SIZE),
        sections=_member_sections(principal, user),
        disabled_by=users.staff_names({user.disabled_by_id}).get(user.disabled_by_id or 0, ""),
        # One key per rendered form: submitting it twice adjusts once.
        adjust_token=secrets.token_hex(16),
    )


def _member_sections(principal: Principal, user: User) -> list[tuple[str, Markup]]:
    """What other features show on a member's page (the store: recent redemptions), in their order."""
    shown = []
    for section in sorted(registry(current_app).member_sections, key=lambda s: s.order):
        html = section.render(principal, user)
        if html is not None:
            shown.append((section.title, html))
    return shown


@bp.route("/members/<int:user_id>/adjust", methods=["POST"])
def adjust(user_id: int) -> Response:
    """Correct a member's points (signed amount, reason); the form's key makes a repeat a no-op."""
    principal = current_staff()
    assert principal.staff is not None  # noqa: S101  (the console logs in staff only)
    target = redirect(url_for("console_points.member", user_id=user_id))
    token = request.form.get("adjust_token", "")
    raw_amount = request.form.get("amount", "").strip().replace("＋", "+").replace("－", "-")
    reason = request.form.get("reason", "")
    if not ADJUST_TOKEN.fullmatch(token):
        flash(f"{message_for('CSRF_INVALID')}（CSRF_INVALID）", "error")
        return target
    if not AMOUNT.fullmatch(raw_amount) or int(raw_amount) == 0:
        flash(f"{message_for('INVALID_AMOUNT')}（INVALID_AMOUNT）", "error")
        return target
    amount = int(raw_amount)
    key = f"console-adjust:{principal.staff.id}:{token}"
    try:
        with db.session.begin_nested():
            result = services.adjust(principal, user_id, amount, reason, key)
    except AppError as error:
        flash(f"{message_for(error.code)}（{error.code}）", "error")
        return target
    if result.status == "done":
        flash(f"已调整 {amount:+d} 积分", "ok")
    elif result.status == "already_done":
        flash("这次调整已经记过账，没有重复调整", "ok")
    else:
        code = result.code or "CONFLICT"
        flash(f"{message_for(code)}（{code}）", "error")
    return target


@bp.route("/members/<int:user_id>/disable", methods=["POST"])
def disable(user_id: int) -> Response:
    """停用账号: the resident can no longer log in or use the mini program (with a reason, audited)."""
    principal = current_staff()
    target = redirect(url_for("console_points.member", user_id=user_id))
    try:
        with db.session.begin_nested():
            user = users.disable_user(principal, user_id, request.form.get("reason", ""))
    except AppError as error:
        flash(f"{message_for(error.code)}（{error.code}）", "error")
        return target
    flash(f"已停用账号：{user.disabled_reason}", "ok")
    return target


@bp.route("/members/<int:user_id>/enable", methods=["POST"])
def enable(user_id: int) -> Response:
    """恢复账号: the resident may log in again."""
    principal = current_staff()
    target = redirect(url_for("console_points.member", user_id=user_id))
    try:
        with db.session.begin_nested():
            users.enable_user(principal, user_id)
    except AppError as error:
        flash(f"{message_for(error.code)}（{error.code}）", "error")
        return target
    flash("已恢复账号，居民可以重新登录", "ok")
    return target
