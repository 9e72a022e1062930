"""Console pages of micro-wishes (微心愿): the review queue with filters, a wish's detail, the actions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template, request
from werkzeug.wrappers import Response

from server.auth.policy import Principal
from server.console import Counter, MenuEntry, current_staff, register_pages, staff_communities
from server.console.actions import approve_ticked, attempt, back
from server.console.args import int_arg, page_arg
from wishes import services
from wishes.models import WISH_STATUSES
from wishes.schemas import present

bp = Blueprint("console_wishes", __name__, url_prefix="/console", template_folder="templates")

PAGE_SIZE = 50
STATUS_LABELS = {
    "pending_review": "待审核",
    "open": "认领中（待认领）",
    "claimed": "已认领",
    "fulfilled": "待居民确认",
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


def init_app(app: Flask) -> None:
    """Hang the wish queue and its counter on the console."""
    register_pages(
        app,
        bp,
        menu=[MenuEntry("微心愿", "console_wishes.queue", order=30)],
        counters=[Counter("心愿待审核", _pending_wishes, "console_wishes.queue", order=30)],
    )


def _pending_wishes(principal: Principal) -> int:
    return services.pending_count(principal)


def _labels() -> dict[str, Any]:
    return {"status_labels": STATUS_LABELS, "check_badges": CHECK_BADGES}


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
        pages=max(1, -(-total // PAGE_SIZE)),
        filters=filters,
        communities=staff_communities(principal),
        categories=services.categories(),
        masked=services.masked_resident,
        **_labels(),
    )


@bp.route("/wishes/<int:wish_id>")
def detail(wish_id: int) -> str:
    """One wish as staff see it: the content, photos, the contact, the review marks and the claim history."""
    principal = current_staff()
    wish = services.get_wish(wish_id)
    viewer = services.viewer_of(principal, wish)  # 404 outside the staff member's communities
    claims = services.claim_history(wish.id)
    return render_template(
        "console/wishes/detail.html",
        wish=wish,
        shown=present(wish, viewer, None),
        claims=claims,
        claim_outcomes=CLAIM_OUTCOMES,
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
    """Take a claim back with a reason the claimer is told; the wish is open again."""
    reason = request.form.get("reason", "")
    attempt(lambda: services.release(current_staff(), wish_id, reason), f"心愿 #{wish_id} 的认领已收回")
    return back("console_wishes.queue")


@bp.route("/wishes/approve", methods=["POST"])
def approve_many() -> Response:
    """Approve the ticked wishes, each on its own; the outcome of every one is flashed."""
    principal = current_staff()
    return approve_ticked(
        "console_wishes.queue", "请先勾选要通过的心愿", lambda wish_id: services.approve(principal, wish_id)
    )
