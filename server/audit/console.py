"""The console's audit page (审计日志): admins read the log of their subtree, filtered and in pages."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, Flask, render_template, request

from server.audit import services
from server.clock import SERVER_ZONE
from server.console import MenuEntry, current_staff, register_pages
from server.console.args import int_arg, page_arg
from server.db import page_count
from server.errors import Forbidden

bp = Blueprint("console_audit", __name__, url_prefix="/console", template_folder="templates")

PAGE_SIZE = 50
SUBJECTS = {
    "user": "居民",
    "wish": "心愿",
    "transaction": "积分流水",
    "checkin": "签到",
    "staff": "工作人员",
    "party_report": "党员报到",
    "community_move": "社区迁移",
}


def init_app(app: Flask) -> None:
    """Register the admins' audit page."""
    register_pages(
        app, bp, menu=[MenuEntry("审计日志", "console_audit.audit_log", order=90, admin_only=True)]
    )


def _day(name: str) -> date | None:
    raw = request.args.get(name, "")
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _start_of(day: date | None) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day, time.min, tzinfo=SERVER_ZONE)


@bp.route("/audit")
def audit_log() -> str:
    """The log, newest first: by action, acting staff, subject and day range."""
    principal = current_staff()
    if not principal.is_admin:
        raise Forbidden(details={"requires": "admin"})
    action = request.args.get("action", "")
    since, until = _day("from"), _day("to")
    found = services.AuditFilter(
        action=action if action in services.ACTIONS else None,
        actor_staff_id=int_arg("staff"),
        subject_kind=request.args.get("subject_kind") or None,
        subject_id=int_arg("subject_id"),
        since=_start_of(since),
        until=_start_of(until + timedelta(days=1)) if until else None,
    )
    page = page_arg()
    entries, total = services.list_entries(principal, found, page, PAGE_SIZE)
    return render_template(
        "console/audit/log.html",
        entries=entries,
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        actions=services.ACTIONS,
        subjects=SUBJECTS,
        action=found.action or "",
        since=since,
        until=until,
        staff_id=found.actor_staff_id,
        subject_kind=found.subject_kind or "",
        subject_id=found.subject_id,
    )
