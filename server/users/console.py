"""Console pages of the core: the party-report queue (党员报到审核), the community-move queue (社区迁移审核)
and the moves on a member's page."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request
from markupsafe import Markup
from werkzeug.wrappers import Response

from server.auth.policy import Principal
from server.console import (
    Counter,
    MemberSection,
    MenuEntry,
    current_staff,
    register_pages,
    staff_communities,
)
from server.console.actions import approve_ticked, attempt, back
from server.console.args import queue_args
from server.db import page_count
from server.users import moves, services, volunteers
from server.users.models import COMMUNITY_MOVE_STATUSES, VOLUNTEER_APPLICATION_STATUSES, User

bp = Blueprint("console_users", __name__, url_prefix="/console", template_folder="templates")

PAGE_SIZE = 50
STATUS_LABELS = {"pending": "待审核", "approved": "已通过", "rejected": "已驳回"}
MOVE_LABELS = {"pending": "待审核", "approved": "已迁入", "rejected": "已驳回", "cancelled": "已撤回"}
assert set(MOVE_LABELS) == set(COMMUNITY_MOVE_STATUSES)  # noqa: S101  (a label for every status)
APPLICATION_LABELS = {"pending": "待审核", "accepted": "已通过", "declined": "未通过", "withdrawn": "已撤回"}
assert set(APPLICATION_LABELS) == set(VOLUNTEER_APPLICATION_STATUSES)  # noqa: S101


def init_app(app: Flask) -> None:
    """Hang the party-report and community-move queues and a member's moves on the console."""
    register_pages(
        app,
        bp,
        menu=[
            MenuEntry("党员报到", "console_users.party_reports", order=10),
            MenuEntry("社区迁移", "console_users.community_moves", order=11),
            MenuEntry("志愿者", "console_users.volunteer_roster", order=12),
        ],
        counters=[
            Counter("党员报到待审核", _pending_reports, "console_users.party_reports", order=10),
            Counter("社区迁移待审核", _pending_moves, "console_users.community_moves", order=11),
            Counter("志愿者申请待审核", _pending_applications, "console_users.volunteer_roster", order=12),
        ],
        member_sections=[MemberSection("社区迁移记录", _member_moves, order=40)],
    )


def _pending_reports(principal: Principal) -> int:
    return services.pending_party_reports(principal)


def _pending_moves(principal: Principal) -> int:
    return moves.pending_moves(principal)


def _pending_applications(principal: Principal) -> int:
    return volunteers.pending_applications(principal)


@bp.route("/party-reports")
def party_reports() -> str:
    """The queue of party reports, oldest first, by status (default: waiting) and community, in pages."""
    principal = current_staff()
    args = queue_args(STATUS_LABELS, "pending")
    reports, total = services.list_party_reports(
        principal, args.status or None, args.page, PAGE_SIZE, args.community_id
    )
    return render_template(
        "console/users/party_reports.html",
        reports=reports,
        total=total,
        status=args.status,
        community_id=args.community_id,
        communities=staff_communities(principal),
        page=args.page,
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


# --- community moves (社区迁移) -------------------------------------------------------------------------


@bp.route("/community-moves")
def community_moves() -> str:
    """Moves into the staff member's communities, oldest first, by status (default: waiting) and community."""
    principal = current_staff()
    args = queue_args(MOVE_LABELS, "pending")
    found, total = moves.list_moves(principal, args.status or None, args.page, PAGE_SIZE, args.community_id)
    return render_template(
        "console/users/community_moves.html",
        moves=found,
        total=total,
        status=args.status,
        community_id=args.community_id,
        communities=staff_communities(principal),
        page=args.page,
        pages=page_count(total, PAGE_SIZE),
        labels=MOVE_LABELS,
    )


@bp.route("/community-moves/<int:move_id>/approve", methods=["POST"])
def approve_move(move_id: int) -> Response:
    """Approve one move: the resident now lives in the new community."""
    attempt(lambda: moves.approve_move(current_staff(), move_id), "已通过社区迁移")
    return back("console_users.community_moves")


@bp.route("/community-moves/<int:move_id>/reject", methods=["POST"])
def reject_move(move_id: int) -> Response:
    """Reject one move with a reason; the resident stays where they live."""
    reason = request.form.get("reason", "")
    attempt(lambda: moves.reject_move(current_staff(), move_id, reason), "已驳回社区迁移")
    return back("console_users.community_moves")


@bp.route("/community-moves/approve", methods=["POST"])
def approve_moves() -> Response:
    """Approve the ticked moves, each on its own; the outcome of every one is flashed."""
    principal = current_staff()
    return approve_ticked(
        "console_users.community_moves",
        "请先勾选要通过的社区迁移",
        lambda move_id: moves.approve_move(principal, move_id),
    )


def _member_moves(principal: Principal, member: User) -> Markup | None:
    """Where the member lived: their moves, newest first (nothing when there are none)."""
    history = moves.moves_of_member(principal, member)
    if not history:
        return None
    return Markup(  # noqa: S704  (render_template's output, which Jinja has already escaped)
        render_template("console/users/_member_moves.html", moves=history, labels=MOVE_LABELS)
    )


# --- volunteers (志愿者申请 and 志愿者名册) ---------------------------------------------------------------


@bp.route("/volunteers")
def volunteer_roster() -> str:
    """Volunteer applications (default: waiting) and the roll of the staff member's communities."""
    principal = current_staff()
    args = queue_args(APPLICATION_LABELS, "pending")
    applications, total = volunteers.list_applications(
        principal, args.status or None, args.page, PAGE_SIZE, args.community_id
    )
    return render_template(
        "console/users/volunteers.html",
        applications=applications,
        total=total,
        roster=volunteers.roster(principal, args.community_id),
        status=args.status,
        community_id=args.community_id,
        communities=staff_communities(principal),
        page=args.page,
        pages=page_count(total, PAGE_SIZE),
        labels=APPLICATION_LABELS,
    )


@bp.route("/volunteer-applications/<int:application_id>/accept", methods=["POST"])
def accept_application(application_id: int) -> Response:
    """Accept one application: the resident is on the volunteer roll."""
    attempt(lambda: volunteers.accept_application(current_staff(), application_id), "已通过志愿者申请")
    return back("console_users.volunteer_roster")


@bp.route("/volunteer-applications/<int:application_id>/decline", methods=["POST"])
def decline_application(application_id: int) -> Response:
    """Decline one application with a reason."""
    reason = request.form.get("reason", "")
    attempt(
        lambda: volunteers.decline_application(current_staff(), application_id, reason), "已拒绝志愿者申请"
    )
    return back("console_users.volunteer_roster")


@bp.route("/volunteer-applications/accept", methods=["POST"])
def accept_applications() -> Response:
    """Accept the ticked applications, each on its own; the outcome of every one is flashed."""
    principal = current_staff()
    return approve_ticked(
        "console_users.volunteer_roster",
        "请先勾选要通过的志愿者申请",
        lambda application_id: volunteers.accept_application(principal, application_id),
    )


@bp.route("/volunteers/<int:community_id>/<int:user_id>/remove", methods=["POST"])
def remove_volunteer(community_id: int, user_id: int) -> Response:
    """Take a volunteer off the community's roll."""
    attempt(lambda: services.remove_volunteer(current_staff(), community_id, user_id), "已移出志愿者名册")
    return back("console_users.volunteer_roster")
