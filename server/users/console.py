"""Console pages of the core: the party-report queue (党员报到审核)."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from server.auth.policy import Principal, staff_scope_ids
from server.console import Counter, MenuEntry, current_staff, register_pages
from server.console.actions import attempt, back
from server.db import db
from server.users import services
from server.users.models import PartyReport

bp = Blueprint("console_users", __name__, url_prefix="/console", template_folder="templates")


def init_app(app: Flask) -> None:
    """Hang the party-report queue on the console."""
    register_pages(
        app,
        bp,
        menu=[MenuEntry("党员报到", "console_users.party_reports", order=10)],
        counters=[Counter("党员报到待审核", _pending_reports, "console_users.party_reports", order=10)],
    )


def _pending_reports(principal: Principal) -> int:
    query = select(func.count()).where(
        PartyReport.status == "pending", PartyReport.community_id.in_(staff_scope_ids(principal))
    )
    return int(db.session.scalar(query) or 0)


@bp.route("/party-reports")
def party_reports() -> str:
    """The queue of party reports, oldest first, filtered by status."""
    status = request.args.get("status", "pending")
    page = max(1, request.args.get("page", 1, type=int))
    reports, total = services.list_party_reports(current_staff(), status or None, page, 50)
    return render_template(
        "console/users/party_reports.html", reports=reports, total=total, status=status, page=page
    )


@bp.route("/party-reports/<int:report_id>/approve", methods=["POST"])
def approve_party_report(report_id: int) -> Response:
    """Approve one report."""
    attempt(lambda: services.approve_party_report(current_staff(), report_id), "已通过党员报到")
    return back("console_users.party_reports")


@bp.route("/party-reports/<int:report_id>/reject", methods=["POST"])
def reject_party_report(report_id: int) -> Response:
    """Reject one report with a reason."""
    reason = request.form.get("reason", "")
    attempt(lambda: services.reject_party_report(current_staff(), report_id, reason), "已驳回党员报到")
    return back("console_users.party_reports")
