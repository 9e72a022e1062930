"""Console pages of the core: the party-report queue (党员报到审核)."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request
from werkzeug.wrappers import Response

from server.auth.policy import Principal
from server.console import Counter, MenuEntry, current_staff, register_pages, staff_communities
from server.console.actions import approve_ticked, attempt, back
from server.console.args import int_arg, page_arg
from server.db import page_count
from server.users import services

bp = Blueprint("console_users", __name__, url_prefix="/console", template_folder="templates")

PAGE_SIZE = 50
STATUS_LABELS = {"pending": "待审核", "approved": "已通过", "rejected": "已驳回"}


def init_app(app: Flask) -> None:
    """Hang the party-report queue on the console."""
    register_pages(
        app,
        bp,
        menu=[MenuEntry("党员报到", "console_users.party_reports", order=10)],
        counters=[Counter("党员报到待审核", _pending_reports, "console_users.party_reports", order=10)],
    )


def _pending_reports(principal: Principal) -> int:
    return services.pending_party_reports(principal)


@bp.route("/party-reports")
def party_reports() -> str:
    """The queue of party reports, oldest first, by status (default: waiting) and community, in pages."""
    principal = current_staff()
    status = request.args.get("status", "pending")
    if status not in STATUS_LABELS:
        status = ""
    community_id = int_arg("community")
    page = page_arg()
    reports, total = services.list_party_reports(principal, status or None, page, PAGE_SIZE, community_id)
    return render_template(
        "console/users/party_reports.html",
        reports=reports,
        total=total,
        status=status,
        community_id=community_id,
        communities=staff_communities(principal),
        page=page,
        pages=page_count(total, PAGE_SIZE),
        labels=STATUS_LABELS,
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


@bp.route("/party-reports/approve", methods=["POST"])
def approve_party_reports() -> Response:
    """Approve the ticked reports, each on its own; the outcome of every one is flashed."""
    principal = current_staff()
    return approve_ticked(
        "console_users.party_reports",
        "请先勾选要通过的党员报到",
        lambda report_id: services.approve_party_report(principal, report_id),
    )
