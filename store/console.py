"""Console pages of the supermarket: the redemption queue, the pickup desk, the goods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from points import services as points
from server import clock
from server.auth.policy import Principal
from server.console import Counter, MemberSection, MenuEntry, current_staff, register_pages, staff_communities
from server.console.actions import approve_ticked, attempt, back
from server.console.args import int_arg, queue_args
from server.console.forms import load_form, local_input
from server.db import db, page_count
from server.errors import AppError, message_for
from server.files.services import file_url, store_image
from server.orgs.services import get_community
from server.users import services as users
from server.users.models import User
from store import services as store
from store.models import ITEM_CATEGORIES, StoreItem
from store.schemas import ItemSchema, ItemUpdateSchema

bp = Blueprint("console_store", __name__, url_prefix="/console", template_folder="templates")

PAGE_SIZE = 50
RECENT_REDEMPTIONS = 10
STATUS_LABELS = {
    "requested": "待审核",
    "approved": "待领取",
    "picked_up": "已领取",
    "rejected": "已驳回",
    "cancelled": "已取消",
    "expired": "已过期",
}
PERIOD_LABELS = {"month": "每月", "year": "每年", "ever": "累计"}
ITEM_LABELS = {
    "community_id": "社区",
    "name": "名称",
    "description": "说明",
    "sponsor": "赞助方",
    "points_price": "所需积分",
    "stock": "库存",
    "stock_reason": "库存变更原因",
    "per_user_limit": "每人限兑",
    "limit_period": "限兑周期",
    "on_sale_from": "上架时间",
    "on_sale_until": "下架时间",
    "category": "分类",
}


def init_app(app: Flask) -> None:
    """Hang the redemption queue, the pickup desk and the goods on the console, and a member's redemptions."""
    register_pages(
        app,
        bp,
        menu=[
            MenuEntry("兑换审核", "console_store.redemptions", order=30),
            MenuEntry("兑换核销", "console_store.pickup", order=31),
            MenuEntry("积分超市", "console_store.items", order=32),
        ],
        counters=[
            Counter("兑换待审核", _requested_count, "console_store.redemptions", order=30),
            Counter("待领取", _awaiting_pickup_count, "console_store.pickup", order=31),
            Counter("今日已核销", _picked_up_today_count, "console_store.pickup", order=32, waiting=False),
        ],
        member_sections=[MemberSection("最近的兑换", _recent_redemptions, order=30)],
    )


# --- counters -------------------------------------------------------------------------------------------


def _requested_count(principal: Principal) -> int:
    """Requests waiting for a decision in the staff member's communities."""
    return store.count_in_scope(principal, "requested")


def _awaiting_pickup_count(principal: Principal) -> int:
    """Approved goods not yet collected."""
    return store.count_in_scope(principal, "approved")


def _picked_up_today_count(principal: Principal) -> int:
    """Goods collected today (a tally of the desk's day, not something waiting)."""
    return store.count_in_scope(principal, "picked_up", since=clock.today_bounds()[0])


# --- shared helpers -------------------------------------------------------------------------------------


# --- the redemption queue -------------------------------------------------------------------------------


@bp.route("/redemptions")
def redemptions() -> str:
    """The queue of redemptions, oldest first, filtered by status (default: waiting) and community."""
    principal = current_staff()
    args = queue_args(STATUS_LABELS, "requested")
    status, community_id, page = args.status, args.community_id, args.page
    rows, total = store.staff_redemptions(principal, status or None, community_id, page, PAGE_SIZE)
    members = {r.user_id: (r.member_nickname, r.member_available) for r in rows}
    communities = staff_communities(principal)
    return render_template(
        "console/store/redemptions.html",
        rows=rows,
        total=total,
        members=members,
        status=status,
        community_id=community_id,
        communities=communities,
        community_names={c.id: c.name for c in communities},
        page=page,
        pages=page_count(total, PAGE_SIZE),
        labels=STATUS_LABELS,
    )


@bp.route("/redemptions/<int:redemption_id>")
def redemption(redemption_id: int) -> str:
    """One redemption: the goods, the member and their points, who decided and when."""
    principal = current_staff()
    found = store.redemption_for_staff(principal, redemption_id)
    member = users.get_user(found.user_id)
    return render_template(
        "console/store/redemption.html",
        r=found,
        member=member,
        balance=points.balance_of(member.id),
        community=get_community(found.community_id),
        decided_by=users.staff_names({found.decided_by_id}).get(found.decided_by_id or 0),
        labels=STATUS_LABELS,
    )


@bp.route("/redemptions/<int:redemption_id>/approve", methods=["POST"])
def approve(redemption_id: int) -> Response:
    """Approve one request: the held points are spent, a pickup code is sent to the member."""
    attempt(lambda: store.approve(current_staff(), redemption_id), f"已通过兑换申请 #{redemption_id}")
    return back("console_store.redemptions")


@bp.route("/redemptions/<int:redemption_id>/reject", methods=["POST"])
def reject(redemption_id: int) -> Response:
    """Reject one request with a reason the member reads: points and stock go back."""
    reason = request.form.get("reason", "")
    attempt(lambda: store.reject(current_staff(), redemption_id, reason), f"已驳回兑换申请 #{redemption_id}")
    return back("console_store.redemptions")


@bp.route("/redemptions/approve", methods=["POST"])
def approve_many() -> Response:
    """Approve the ticked requests, each on its own; the outcome of every one is flashed."""
    principal = current_staff()
    return approve_ticked(
        "console_store.redemptions",
        "请先勾选要通过的兑换申请",
        lambda redemption_id: store.approve(principal, redemption_id),
    )


# --- the pickup desk ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickupOutcome:
    """What the desk shows after a scan: the goods handed over, or why not."""

    ok: bool
    code: str
    item: str | None = None
    quantity: int | None = None
    member: str | None = None
    error: str | None = None
    message: str | None = None
    used_at: datetime | None = None


def _pick_up(principal: Principal, raw: str) -> PickupOutcome:
    """Collect the goods of a pickup code, in a savepoint; a refusal says why."""
    code = raw.strip().upper()
    try:
        with db.session.begin_nested():
            done = store.pickup(principal, code)
    except AppError as error:  # another community's code is PICKUP_CODE_INVALID, as an unknown one
        used_at = None
        when = error.details.get("picked_up_at")
        if isinstance(when, str):
            used_at = datetime.fromisoformat(when)
        return PickupOutcome(False, code, error=error.code, message=message_for(error.code), used_at=used_at)
    return PickupOutcome(
        True, code, item=done.item.name, quantity=done.quantity, member=users.get_user(done.user_id).nickname
    )


@bp.route("/pickup", methods=["GET", "POST"])
def pickup() -> str:
    """核销: one big input; a USB scanner types the code and presses Enter; the result is shown large."""
    principal = current_staff()
    outcome = _pick_up(principal, request.form.get("code", "")) if request.method == "POST" else None
    today = store.todays_pickups(principal)
    if request.method == "POST" and request.headers.get("HX-Request"):
        return render_template("console/store/_pickup_result.html", outcome=outcome, today=today, oob=True)
    return render_template("console/store/pickup.html", outcome=outcome, today=today)


# --- the supermarket's goods ----------------------------------------------------------------------------


@bp.route("/store")
def items() -> str:
    """Every item of the staff member's communities (on sale or not), with stock and what is reserved."""
    principal = current_staff()
    communities = staff_communities(principal)
    community_id = int_arg("community")
    found = store.staff_items(principal, community_id)
    return render_template(
        "console/store/items.html",
        items=found,
        communities=communities,
        community_names={c.id: c.name for c in communities},
        community_id=community_id,
        periods=PERIOD_LABELS,
        now=clock.local(clock.now()),
    )


def _form_of(item: StoreItem) -> dict[str, Any]:
    """The item as the values of its edit form."""
    return {
        "community_id": str(item.community_id),
        "name": item.name,
        "description": item.description or "",
        "sponsor": item.sponsor or "",
        "points_price": str(item.points_price),
        "stock": str(item.stock),
        "stock_was": str(item.stock),
        "stock_reason": "",
        "per_user_limit": "" if item.per_user_limit is None else str(item.per_user_limit),
        "limit_period": item.limit_period,
        "on_sale_from": local_input(item.on_sale_from),
        "on_sale_until": local_input(item.on_sale_until),
        "requires_approval": item.requires_approval,
        "active": item.active,
        "earned_here_only": item.earned_here_only,
        "category": item.category or "",
    }


def _blank_form() -> dict[str, Any]:
    """The values of a new item's form."""
    return {
        "community_id": "",
        "name": "",
        "description": "",
        "sponsor": "",
        "points_price": "",
        "stock": "0",
        "per_user_limit": "1",
        "limit_period": "month",
        "on_sale_from": "",
        "on_sale_until": "",
        "requires_approval": True,
        "active": True,
        "earned_here_only": False,
        "category": "",
    }


def _item_values(form: MultiDict[str, str], creating: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The item's fields from a submitted form, read by the API's schema, and a message per wrong field."""
    schema = ItemSchema() if creating else ItemUpdateSchema(partial=True)
    values, errors = load_form(schema, form, ITEM_LABELS, {"community_id": "请选择社区"}, required=("stock",))
    # Only a stock the staff member changed is sent: goods handed out meanwhile must not be written back.
    if not creating and form.get("stock_was", "").strip() == form.get("stock", "").strip():
        values.pop("stock", None)
    starts, ends = values.get("on_sale_from"), values.get("on_sale_until")
    if starts and ends and ends <= starts:
        errors["on_sale_until"] = "下架时间应晚于上架时间"
    return values, errors


def _submitted_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """What the staff member typed, to show it again next to the errors."""
    shown: dict[str, Any] = {key: form.get(key, "") for key in _blank_form()}
    shown.update(
        stock_was=form.get("stock_was", ""),
        stock_reason=form.get("stock_reason", ""),
        requires_approval=form.get("requires_approval") == "on",
        active=form.get("active") == "on",
        earned_here_only=form.get("earned_here_only") == "on",
    )
    return shown


def _uploaded_photo() -> Any:
    """The file of the form's ``photo`` field, or None when none was chosen."""
    sent = request.files.get("photo")
    return sent if sent is not None and sent.filename else None


def _set_photo(principal: Principal, item_id: int, photo: Any) -> StoreItem:
    """Store the uploaded image (checked, cleaned) and make it the item's photo."""
    stored = store_image(photo.stream, principal)
    return store.update_item(principal, item_id, {"photo_url": file_url(stored)}, None)


@bp.route("/store/new", methods=["GET", "POST"])
def new_item() -> Any:
    """Add an item to one of the staff member's communities (with a photo, optionally)."""
    principal = current_staff()
    communities = staff_communities(principal)
    if request.method == "GET":
        form = _blank_form()
        chosen = int_arg("community")
        if chosen is None and len(communities) == 1:
            chosen = communities[0].id
        form["community_id"] = str(chosen or "")
        return render_template(
            "console/store/item_form.html",
            item=None,
            form=form,
            errors={},
            communities=communities,
            periods=PERIOD_LABELS,
            categories=ITEM_CATEGORIES,
        )
    values, errors = _item_values(request.form, creating=True)
    if not errors:
        photo = _uploaded_photo()

        def create() -> StoreItem:
            item = store.create_item(principal, values)
            return _set_photo(principal, item.id, photo) if photo is not None else item

        created = attempt(create, f"已上架：{values['name']}")
        if created is not None:
            return redirect(url_for("console_store.item", item_id=created.id))
    page = render_template(
        "console/store/item_form.html",
        item=None,
        form=_submitted_form(request.form),
        errors=errors,
        communities=communities,
        periods=PERIOD_LABELS,
        categories=ITEM_CATEGORIES,
    )
    return page, 422


def _item_page(item: StoreItem, form: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    page = render_template(
        "console/store/item.html",
        item=item,
        form=form,
        errors=errors,
        changes=store.stock_changes(item.id),
        community=get_community(item.community_id),
        periods=PERIOD_LABELS,
        categories=ITEM_CATEGORIES,
    )
    return page, status


@bp.route("/store/<int:item_id>", methods=["GET", "POST"])
def item(item_id: int) -> Any:
    """One item: its photo, the edit form (a stock change needs a reason) and the audit of its stock."""
    principal = current_staff()
    found = store.item_for_staff(principal, item_id)
    if request.method == "GET":
        return _item_page(found, _form_of(found), {})
    values, errors = _item_values(request.form, creating=False)
    if not errors:
        reason = values.pop("stock_reason", None)  # as the API hands it over: beside the values, not in them
        if attempt(lambda: store.update_item(principal, item_id, values, reason), "已保存") is not None:
            return redirect(url_for("console_store.item", item_id=item_id))
    return _item_page(found, _submitted_form(request.form), errors, 422)


@bp.route("/store/<int:item_id>/photo", methods=["POST"])
def item_photo(item_id: int) -> Response:
    """Replace the item's photo with an uploaded image."""
    principal = current_staff()
    store.item_for_staff(principal, item_id)
    photo = _uploaded_photo()
    if photo is None:
        flash(f"{message_for('FILE_REQUIRED')}（FILE_REQUIRED）", "error")
    else:
        attempt(lambda: _set_photo(principal, item_id, photo), "已更新商品图片")
    return redirect(url_for("console_store.item", item_id=item_id))


# --- on a member's page ---------------------------------------------------------------------------------


def _recent_redemptions(principal: Principal, member: User) -> Markup | None:
    """The member's latest redemptions in the staff member's communities (nothing when there are none)."""
    recent = store.recent_redemptions(principal, member.id, RECENT_REDEMPTIONS)
    if not recent:
        return None
    return Markup(  # noqa: S704  (render_template's output, which Jinja has already escaped)
        render_template("console/store/_member_redemptions.html", recent=recent, labels=STATUS_LABELS)
    )
