"""Console pages of micro-wishes (微心愿): the review queue with filters, a wish's detail, the actions, and
待确认积分 — the claimers' points staff approve (in bulk) or turn down."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from server.auth.policy import Principal
from server.console import Counter, MenuEntry, current_staff, register_pages, staff_communities
from server.console.actions import approve_ticked, attempt, back
from server.console.args import int_arg, page_arg, queue_args
from server.db import page_count
from server.errors import message_for
from wishes import services
from wishes.models import AWARD_STATUSES, WISH_STATUSES, WishAward
from wishes.schemas import present, present_award

bp = Blueprint("console_wishes", __name__, url_prefix="/console", template_folder="templates")

PAGE_SIZE = 50
STATUS_LABELS = {
    "pending_review": "待审核",
    "open": "认领中（待认领）",
    "claimed": "已认领",
    "fulfilled": "待居民确认",
    "disputed": "居民申诉待处理",
    "completed": "已完成",
    "rejected": "已驳回",
    "cancelled": "已取消",
}
# The content check's marks staff must look at (WeChat's msg_sec_check said "review", or could not answer).
CHECK_BADGES = {"review": "需人工审核", "unchecked": "未能自动审核"}
CLAIM_OUTCOMES = {
    "active": "认领中",
    "fulfilled": "已实现",
    "unclaimed": "认领人放弃",
    "released": "工作人员收回",
    "expired": "超期自动收回",
    "cancelled": "居民取消心愿",
}
CONTACT_FIELDS = {"name": "联系人", "phone": "电话", "address": "地址"}
AWARD_STATUS_LABELS = {"pending": "待确认", "paid": "已发放", "refused": "未发放", "rejected": "已驳回"}
AWARD_CAUSES = {
    "confirmed": "居民确认",
    "low_rating": "居民评价较低",
    "timeout": "居民超时未确认",
    "staff": "申诉后工作人员确认",
}


def init_app(app: Flask) -> None:
    """Hang the wish queue, 待确认积分 and their counters on the console."""
    register_pages(
        app,
        bp,
        menu=[
            MenuEntry("微心愿", "console_wishes.queue", order=30),
            MenuEntry("待确认积分", "console_wishes.awards", order=33),
        ],
        counters=[
            Counter("心愿待审核", _pending_wishes, "console_wishes.queue", order=30),
            Counter("心愿申诉待处理", _disputed_wishes, "console_wishes.disputed", order=33),
            Counter("待确认积分", _pending_awards, "console_wishes.awards", order=34),
        ],
    )


def _pending_wishes(principal: Principal) -> int:
    return services.pending_count(principal)


def _disputed_wishes(principal: Principal) -> int:
    return services.pending_count(principal, "disputed")


def _pending_awards(principal: Principal) -> int:
    return services.pending_award_count(principal)


def _labels() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "check_badges": CHECK_BADGES,
        "award_labels": AWARD_STATUS_LABELS,
        "award_causes": AWARD_CAUSES,
        "code_text": message_for,  # why an award paid nothing, in words (PAIR_LIMIT, CAP_REACHED, …)
    }


@bp.route("/wishes")
def queue() -> str:
    """The wishes of this staff member's communities, oldest first; pending review by default."""
    principal = current_staff()
    status = request.args.get("status", "pending_review")
    if status not in WISH_STATUSES:
        status = ""
    community_id = int_arg("community")
    category = request.args.get("category", "").strip()
    needs_review = request.args.get("needs_review") == "1"
    page = page_arg()
    marked_only = True if needs_review else None  # unticked: every wish, marked or not
    wishes, total = services.staff_wishes(
        principal, status or None, community_id, category or None, marked_only, page, PAGE_SIZE
    )
    filters = {
        "status": status,
        "community": community_id or "",
        "category": category,
        "needs_review": "1" if needs_review else "",
    }
    return render_template(
        "console/wishes/queue.html",
        wishes=wishes,
        community_id=community_id,
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        filters=filters,
        communities=staff_communities(principal),
        categories=services.categories(),
        masked=services.masked_resident,
        **_labels(),
    )


@bp.route("/wishes/disputed")
def disputed() -> Response:
    """The queue filtered to disputed wishes (where the counter 心愿申诉待处理 leads)."""
    return redirect(url_for("console_wishes.queue", status="disputed"))


@bp.route("/wishes/<int:wish_id>")
def detail(wish_id: int) -> str:
    """One wish as staff see it: the content, photos, the contact (this view audited), the review marks,
    the claim history and who was shown the contact (联系方式查看记录)."""
    principal = current_staff()
    wish = services.get_wish(wish_id)
    viewer = services.viewer_of(principal, wish)  # 404 outside the staff member's communities
    claims = services.claim_history(wish.id)
    shown = present(wish, viewer, None)
    services.record_contact_shown(principal, wish, shown["contact"])
    return render_template(
        "console/wishes/detail.html",
        wish=wish,
        shown=shown,
        claims=claims,
        claim_outcomes=CLAIM_OUTCOMES,
        reveals=services.contact_reveals(wish.id),
        contact_fields=CONTACT_FIELDS,
        **_labels(),
    )


@bp.route("/wishes/<int:wish_id>/approve", methods=["POST"])
def approve(wish_id: int) -> Response:
    """Approve a wish: it goes on the wall."""
    attempt(lambda: services.approve(current_staff(), wish_id), f"心愿 #{wish_id} 已通过审核，已上墙")
    return back("console_wishes.queue")


@bp.route("/wishes/<int:wish_id>/reject", methods=["POST"])
def reject(wish_id: int) -> Response:
    """Reject a wish (or take an unclaimed one off the wall) with a reason the resident reads."""
    reason = request.form.get("reason", "")
    attempt(lambda: services.reject(current_staff(), wish_id, reason), f"心愿 #{wish_id} 已驳回")
    return back("console_wishes.queue")


@bp.route("/wishes/<int:wish_id>/release", methods=["POST"])
def release(wish_id: int) -> Response:
    """Take a claim back with a reason the claimer is told (claimed, fulfilled or disputed: no points); the
    wish is open again."""
    reason = request.form.get("reason", "")
    attempt(lambda: services.release(current_staff(), wish_id, reason), f"心愿 #{wish_id} 的认领已收回")
    return back("console_wishes.queue")


@bp.route("/wishes/<int:wish_id>/complete", methods=["POST"])
def complete(wish_id: int) -> Response:
    """A disputed wish was done after all: completed, the claimer's points paid once."""
    attempt(
        lambda: services.complete_disputed(current_staff(), wish_id),
        f"心愿 #{wish_id} 已确认完成，积分已处理",
    )
    return back("console_wishes.queue")


@bp.route("/wishes/approve", methods=["POST"])
def approve_many() -> Response:
    """Approve the ticked wishes, each on its own; the outcome of every one is flashed."""
    principal = current_staff()
    return approve_ticked(
        "console_wishes.queue", "请先勾选要通过的心愿", lambda wish_id: services.approve(principal, wish_id)
    )


# --- 待确认积分 ---------------------------------------------------------------------------------------------


@bp.route("/wish-awards")
def awards() -> str:
    """The claimers' points of completed wishes, oldest first; waiting for a decision by default."""
    principal = current_staff()
    args = queue_args(AWARD_STATUSES, "pending")
    status, community_id, page = args.status, args.community_id, args.page
    rows, total = services.staff_awards(principal, status or None, community_id, page, PAGE_SIZE)
    communities = staff_communities(principal)
    return render_template(
        "console/wishes/awards.html",
        rows=[present_award(a) for a in rows],
        total=total,
        status=status,
        community_id=community_id,
        communities=communities,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        **_labels(),
    )


def _approve_award(principal: Principal, award_id: int) -> WishAward:
    """Approve one award; one the rule refused (the pair limit, a cap) is recorded and said why."""
    award = services.approve_award(principal, award_id)
    if award.status == "refused" and award.code:
        flash(f"#{award_id} 未发放积分：{message_for(award.code)}", "error")
    return award


@bp.route("/wish-awards/<int:award_id>/approve", methods=["POST"])
def approve_award(award_id: int) -> Response:
    """Approve one award: the claimer is paid once (or it is refused, with the reason shown)."""
    attempt(lambda: _approve_award(current_staff(), award_id), f"积分 #{award_id} 已处理")
    return back("console_wishes.awards")


@bp.route("/wish-awards/<int:award_id>/reject", methods=["POST"])
def reject_award(award_id: int) -> Response:
    """Turn an award down with a reason: nothing is paid."""
    reason = request.form.get("reason", "")
    attempt(lambda: services.reject_award(current_staff(), award_id, reason), f"积分 #{award_id} 已驳回")
    return back("console_wishes.awards")


@bp.route("/wish-awards/approve", methods=["POST"])
def approve_awards() -> Response:
    """Approve the ticked awards, each on its own; the outcome of every one is flashed."""
    principal = current_staff()
    return approve_ticked(
        "console_wishes.awards",
        "请先勾选要发放的积分",
        lambda award_id: _approve_award(principal, award_id),
    )
