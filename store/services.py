"""The points-exchange supermarket (积分兑换超市): catalogue, redemptions, approval, pickup codes.

Lock order, everywhere: the redemption row, then the item row, then the user's ledger accounts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from points import services as points
from server import clock
from server.auth.policy import Principal, allowed, authorize, staff_scope_ids
from server.clock import SERVER_ZONE
from server.db import db, is_postgres, paginate
from server.errors import AppError, Conflict, Forbidden, NotFound, register_messages
from server.idempotency import fingerprint
from server.notifications.services import publish
from server.orgs.services import get_community
from server.users.models import StaffAccount, User
from store import policy  # noqa: F401  (registers the rule "store.manage")
from store.models import ITEM_CATEGORIES, PickupInfo, Redemption, StockChange, StoreItem, StoreSettings

register_messages(
    {
        "ITEM_NOT_FOUND": ("商品不存在", "No such item"),
        "OUT_OF_STOCK": ("商品库存不足", "Not enough of this item left"),
        "LIMIT_REACHED": ("已达到该商品的兑换上限", "You have reached the limit for this item"),
        "NOT_ON_SALE": ("该商品当前不可兑换", "This item cannot be redeemed now"),
        "NOT_YOUR_COMMUNITY": ("只能兑换本社区的商品", "Only items of your community can be redeemed"),
        "REDEMPTION_NOT_FOUND": ("兑换记录不存在", "No such redemption"),
        "REDEMPTION_DECIDED": ("该兑换已处理", "This redemption was already decided"),
        "PICKUP_CODE_INVALID": ("核销码无效", "This pickup code is not valid"),
        "PICKUP_CODE_USED": ("该核销码已使用", "This pickup code was already used"),
        "PICKUP_CODE_EXPIRED": ("该核销码已过期", "This pickup code has expired"),
        "STOCK_BELOW_RESERVED": ("库存不能少于待审核的数量", "Stock cannot go below what is reserved"),
    }
)
PICKUP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: staff type these
LIVE_STATUSES = ("requested", "approved", "picked_up")


# --- catalogue ------------------------------------------------------------------------------------------


def get_item(item_id: int, lock: bool = False) -> StoreItem:
    """The item, optionally locked, or ITEM_NOT_FOUND."""
    query = select(StoreItem).where(StoreItem.id == item_id)
    if lock and is_postgres():
        query = query.with_for_update()
    item = db.session.scalars(query).first()
    if item is None:
        raise NotFound("ITEM_NOT_FOUND", details={"id": item_id})
    return item


def create_item(principal: Principal, values: dict[str, Any]) -> StoreItem:
    """Add an item to a community's supermarket."""
    community = get_community(values["community_id"])
    authorize(principal, "store.manage", community)
    item = StoreItem(**values, reserved=0)
    db.session.add(item)
    db.session.flush()
    if item.stock:
        db.session.add(
            StockChange(
                item_id=item.id,
                staff_id=_staff_id(principal),
                stock_from=0,
                stock_to=item.stock,
                reason="上架",
            )
        )
    db.session.flush()
    return item


def update_item(principal: Principal, item_id: int, values: dict[str, Any], reason: str | None) -> StoreItem:
    """Change an item; a stock change needs a reason and is audited, and never goes below what is reserved."""
    item = get_item(item_id, lock=True)
    authorize(principal, "store.manage", get_community(item.community_id))
    if "stock" in values and values["stock"] != item.stock:
        if not reason or not reason.strip():
            raise AppError("REASON_REQUIRED", status=422, details={"field": "stock_reason"})
        if values["stock"] < item.reserved:
            raise Conflict("STOCK_BELOW_RESERVED", details={"reserved": item.reserved})
        db.session.add(
            StockChange(
                item_id=item.id,
                staff_id=_staff_id(principal),
                stock_from=item.stock,
                stock_to=values["stock"],
                reason=reason.strip(),
            )
        )
    for name, value in values.items():
        setattr(item, name, value)
    db.session.flush()
    return item


def _on_sale(moment: datetime) -> list[ColumnElement[bool]]:
    """What puts an item on a member's shelf at ``moment``: active and inside its on-sale window."""
    return [
        StoreItem.active.is_(True),
        (StoreItem.on_sale_from.is_(None)) | (StoreItem.on_sale_from <= moment),
        (StoreItem.on_sale_until.is_(None)) | (StoreItem.on_sale_until >= moment),
    ]


def list_items(
    community_id: int, category: str | None, page: int, page_size: int
) -> tuple[list[StoreItem], int]:
    """A page of a community's items on sale now (of one category, if given), cheapest first."""
    community = get_community(community_id)
    query = select(StoreItem).where(StoreItem.community_id == community.id, *_on_sale(clock.now()))
    if category is not None:
        query = query.where(StoreItem.category == category)
    found: list[StoreItem]
    found, total = paginate(query.order_by(StoreItem.points_price, StoreItem.id), page, page_size)
    return found, total


@dataclass(frozen=True)
class CategoryCount:
    """A shelf of a community's supermarket and how many items on sale it holds now."""

    code: str
    name: str
    count: int


def item_categories(community_id: int) -> list[CategoryCount]:
    """The categories that hold items on sale now in a community, in ITEM_CATEGORIES' order (one query)."""
    community = get_community(community_id)
    counts = dict(
        db.session.execute(
            select(StoreItem.category, func.count())
            .where(
                StoreItem.community_id == community.id,
                StoreItem.category.is_not(None),
                *_on_sale(clock.now()),
            )
            .group_by(StoreItem.category)
        ).all()
    )
    shelves = ITEM_CATEGORIES.items()
    return [CategoryCount(code, name, int(counts[code])) for code, name in shelves if counts.get(code)]


def item_for_caller(principal: Principal, item_id: int) -> StoreItem:
    """An item on sale now (any item, to staff running its supermarket), else ITEM_NOT_FOUND."""
    item = db.session.scalars(
        select(StoreItem).where(StoreItem.id == item_id, *_on_sale(clock.now()))
    ).first()
    if item is not None:
        return item
    hidden = db.session.get(StoreItem, item_id)
    if hidden is not None and allowed(principal, "store.manage", get_community(hidden.community_id)):
        return hidden
    raise NotFound("ITEM_NOT_FOUND", details={"id": item_id})


# --- pickup place and hours -----------------------------------------------------------------------------


def pickup_info(community_id: int) -> PickupInfo:
    """Where and when the community's approved goods are picked up (both None until staff set them)."""
    settings = db.session.get(StoreSettings, community_id)
    if settings is None:
        return PickupInfo(None, None)
    return PickupInfo(settings.pickup_place, settings.pickup_hours)


def _blank_to_none(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def update_pickup(principal: Principal, community_id: int, values: dict[str, str | None]) -> StoreSettings:
    """Staff of a community set where and when its goods are picked up; a blank value clears one."""
    community = get_community(community_id)
    authorize(principal, "store.manage", community)
    settings = db.session.get(StoreSettings, community.id)
    if settings is None:
        settings = StoreSettings(community_id=community.id)
        db.session.add(settings)
    for name in ("pickup_place", "pickup_hours"):
        if name in values:
            setattr(settings, name, _blank_to_none(values[name]))
    settings.updated_at, settings.updated_by_id = clock.now(), _staff_id(principal)
    db.session.flush()
    return settings


def _staff_id(principal: Principal) -> int | None:
    return principal.staff.id if principal.staff else None


# --- redemptions ----------------------------------------------------------------------------------------


def _period_start(period: str) -> datetime | None:
    today = clock.local_today()
    if period == "month":
        start = today.replace(day=1)
    elif period == "year":
        start = today.replace(month=1, day=1)
    else:
        return None
    return datetime(start.year, start.month, start.day, tzinfo=SERVER_ZONE)


def request_redemption(
    user_id: int, item_id: int, quantity: int, idempotency_key: str | None
) -> tuple[Redemption, bool]:
    """Hold the points and reserve the stock in one transaction; a repeated key replays the first."""
    request_hash = fingerprint(item=item_id, quantity=quantity)
    if idempotency_key is not None:
        existing = db.session.scalars(
            select(Redemption).where(
                Redemption.user_id == user_id, Redemption.idempotency_key == idempotency_key
            )
        ).first()
        if existing is not None:
            if existing.request_hash != request_hash:
                raise Conflict("IDEMPOTENCY_KEY_REUSED", details={"redemption_id": existing.id})
            return existing, False
    user = db.session.get(User, user_id)
    item = get_item(item_id)
    if user is None or item.community_id not in (user.community_id, user.party_community_id):
        raise Forbidden("NOT_YOUR_COMMUNITY")
    now = clock.now()
    if (
        not item.active
        or (item.on_sale_from and now < item.on_sale_from)
        or (item.on_sale_until and now > item.on_sale_until)
    ):
        raise Conflict("NOT_ON_SALE")
    price = item.points_price * quantity
    try:
        with db.session.begin_nested():
            # One conditional update reserves the stock and locks the item row for the rest of the
            # transaction, so the limit below is counted with no racing request of the same item: it must
            # stay below this update (test_ten_requests_racing_for_a_limit_of_one_get_one).
            reserved = db.session.execute(
                update(StoreItem)
                .where(StoreItem.id == item.id, StoreItem.stock - StoreItem.reserved >= quantity)
                .values(reserved=StoreItem.reserved + quantity)
                .execution_options(synchronize_session=False)
            )
            if not reserved.rowcount:  # type: ignore[attr-defined]
                raise Conflict("OUT_OF_STOCK", details={"item_id": item.id})
            if item.per_user_limit is not None:
                since = _period_start(item.limit_period)
                taken_query = select(func.coalesce(func.sum(Redemption.quantity), 0)).where(
                    Redemption.user_id == user_id,
                    Redemption.item_id == item.id,
                    Redemption.status.in_(LIVE_STATUSES),
                )
                if since is not None:
                    taken_query = taken_query.where(Redemption.created_at >= since)
                taken = int(db.session.scalar(taken_query) or 0)
                if taken + quantity > item.per_user_limit:
                    raise Conflict("LIMIT_REACHED", details={"limit": item.per_user_limit, "taken": taken})
            key = idempotency_key or f"once-{secrets.token_hex(8)}"
            held = points.hold(
                user_id,
                price,
                f"redeem:{user_id}:{key}",
                ("redemption", key),
                item.community_id,
                # Checked by the ledger under the member's balance lock, like the balance itself.
                earned_in=item.community_id if item.earned_here_only else None,
            )
            if held.status == "refused":
                refusal = {"points": price, **(held.details or {})}
                raise Conflict(held.code or "INSUFFICIENT_POINTS", details=refusal)
            redemption = Redemption(
                user_id=user_id,
                item_id=item.id,
                community_id=item.community_id,
                quantity=quantity,
                points=price,
                status="requested",
                hold_id=held.transaction_id,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
            db.session.add(redemption)
            db.session.flush()
    except IntegrityError as exc:
        # Only the key's own constraints mean "this key was used": a racing request with the same key
        # committed first. Anything else is a bug (a backstop CHECK fired): re-raised, it is the generic
        # error after the request rolls back, never a misleading IDEMPOTENCY_KEY_REUSED.
        earlier = _redemption_taken_by(exc, user_id, idempotency_key)
        if earlier is None:
            raise
        if earlier.request_hash != request_hash:
            raise Conflict("IDEMPOTENCY_KEY_REUSED", details={"redemption_id": earlier.id}) from exc
        return earlier, False
    needs_approval = item.requires_approval
    db.session.expire(item)  # the reservation went around the ORM; read again only if asked
    if not needs_approval:
        _approve(redemption, None)
    return redemption, True


# The unique constraints a request with an idempotency key already used runs into (the hold of that key is
# the same ledger transaction, so either may be the one PostgreSQL names).
KEY_CONSTRAINTS = frozenset({"uq_redemptions_user_id_idempotency_key", "uq_redemptions_hold_id"})


def _violated_constraint(exc: IntegrityError) -> str | None:
    """The constraint PostgreSQL names in the error (psycopg's diagnostics); None where there is none."""
    diagnostics = getattr(exc.orig, "diag", None)
    name = getattr(diagnostics, "constraint_name", None)
    return name if isinstance(name, str) else None


def _redemption_taken_by(exc: IntegrityError, user_id: int, idempotency_key: str | None) -> Redemption | None:
    """The member's redemption already recorded under this key, when that is what ``exc`` is about."""
    if idempotency_key is None:
        return None  # without a key every request's hold has a fresh one: nothing to collide with
    constraint = _violated_constraint(exc)
    if constraint is not None and constraint not in KEY_CONSTRAINTS:
        return None
    # Read again: the row that took the key is committed (PostgreSQL raises only once it is).
    return db.session.scalars(
        select(Redemption)
        .where(Redemption.user_id == user_id, Redemption.idempotency_key == idempotency_key)
        .execution_options(populate_existing=True)
    ).first()


def _lock_redemption(redemption_id: int) -> Redemption:
    query = select(Redemption).where(Redemption.id == redemption_id)
    if is_postgres():
        query = query.with_for_update()
    redemption = db.session.scalars(query.execution_options(populate_existing=True)).first()
    if redemption is None:
        raise NotFound("REDEMPTION_NOT_FOUND", details={"id": redemption_id})
    return redemption


def _require_requested(redemption: Redemption) -> None:
    if redemption.status != "requested":
        raise Conflict("REDEMPTION_DECIDED", details={"status": redemption.status})


def _free_reservation(redemption: Redemption, take_from_stock: bool) -> None:
    values: dict[str, Any] = {"reserved": StoreItem.reserved - redemption.quantity}
    if take_from_stock:
        values["stock"] = StoreItem.stock - redemption.quantity
    done = db.session.execute(
        update(StoreItem)
        .where(StoreItem.id == redemption.item_id, StoreItem.reserved >= redemption.quantity)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        raise RuntimeError(f"redemption {redemption.id}: its reservation is missing")  # invariant 5 broken


def _new_pickup_code() -> str:
    while True:
        code = "".join(secrets.choice(PICKUP_ALPHABET) for _ in range(8))
        if db.session.scalar(select(Redemption.id).where(Redemption.pickup_code == code)) is None:
            return code


def _approve(redemption: Redemption, staff_id: int | None) -> None:
    _free_reservation(redemption, take_from_stock=True)
    captured = points.capture(redemption.hold_id)
    if captured.status == "refused":
        raise RuntimeError(f"redemption {redemption.id}: hold could not be captured ({captured.code})")
    redemption.status, redemption.decided_by_id, redemption.decided_at = "approved", staff_id, clock.now()
    redemption.pickup_code = _new_pickup_code()
    db.session.flush()
    publish(
        "redemption.approved",
        [redemption.user_id],
        {
            "redemption_id": redemption.id,
            "item": redemption.item.name,
            "quantity": redemption.quantity,
            "pickup_code": redemption.pickup_code,
            "points": redemption.points,
        },
    )


DECISION_RESEND_SECONDS = 120  # a staff decision sent again within this long is answered as done


def _resent_by(principal: Principal, staff_id: int | None, at: datetime | None, seconds: int) -> bool:
    """The same staff account did this ``seconds`` ago at most: the request is its resend (a lost answer)."""
    return (
        principal.staff is not None
        and staff_id == principal.staff.id
        and at is not None
        and clock.now() - at <= timedelta(seconds=seconds)
    )


def _resent_decision(principal: Principal, redemption: Redemption, status: str) -> bool:
    """The same staff account sent this decision again soon after it went through."""
    return redemption.status == status and _resent_by(
        principal, redemption.decided_by_id, redemption.decided_at, DECISION_RESEND_SECONDS
    )


def approve(principal: Principal, redemption_id: int, resend_ok: bool = False) -> Redemption:
    """Staff approve: the held points are spent, the stock taken, a pickup code issued. With ``resend_ok``
    (the API) the same staff account approving again within DECISION_RESEND_SECONDS gets it again
    (``replayed``); anyone else, or later: REDEMPTION_DECIDED."""
    redemption = _lock_redemption(redemption_id)
    authorize(principal, "store.manage", get_community(redemption.community_id))
    redemption.replayed = resend_ok and _resent_decision(principal, redemption, "approved")
    if redemption.replayed:
        return redemption
    _require_requested(redemption)
    _approve(redemption, _staff_id(principal))
    return redemption


def _release(redemption: Redemption, status: str, reason: str | None, staff_id: int | None) -> None:
    _free_reservation(redemption, take_from_stock=False)
    released = points.release(redemption.hold_id, reason)
    if released.status == "refused":
        raise RuntimeError(f"redemption {redemption.id}: hold could not be released ({released.code})")
    redemption.status, redemption.reason = status, reason
    redemption.decided_by_id, redemption.decided_at = staff_id, clock.now()
    db.session.flush()


def reject(principal: Principal, redemption_id: int, reason: str, resend_ok: bool = False) -> Redemption:
    """Staff reject with a reason the member reads: points and stock go back (a resend as ``approve``'s,
    with the same reason)."""
    if not reason or not reason.strip():
        raise AppError("REASON_REQUIRED", status=422)
    redemption = _lock_redemption(redemption_id)
    authorize(principal, "store.manage", get_community(redemption.community_id))
    same_reason = redemption.reason == reason.strip()
    redemption.replayed = resend_ok and same_reason and _resent_decision(principal, redemption, "rejected")
    if redemption.replayed:
        return redemption
    _require_requested(redemption)
    _release(redemption, "rejected", reason.strip(), _staff_id(principal))
    publish(
        "redemption.rejected",
        [redemption.user_id],
        {
            "redemption_id": redemption.id,
            "item": redemption.item.name,
            "reason": reason.strip(),
        },
    )
    return redemption


def cancel(user_id: int, redemption_id: int) -> Redemption:
    """The member cancels while the request waits: points and stock go back."""
    redemption = _lock_redemption(redemption_id)
    if redemption.user_id != user_id:
        raise NotFound("REDEMPTION_NOT_FOUND", details={"id": redemption_id})
    redemption.replayed = redemption.status == "cancelled"  # only its member cancels: a resend
    if redemption.replayed:
        return redemption
    _require_requested(redemption)
    _release(redemption, "cancelled", None, None)
    return redemption


PICKUP_RESEND_SECONDS = 120  # a desk's 核销 sent again within this long is answered as done


def _resent_pickup(principal: Principal, redemption: Redemption) -> bool:
    """The same desk account sent the 核销 of this code again soon after it went through (a lost answer)."""
    return _resent_by(principal, redemption.picked_up_by_id, redemption.picked_up_at, PICKUP_RESEND_SECONDS)


def pickup(principal: Principal, code: str, resend_ok: bool = False) -> Redemption:
    """核销: staff type or scan the member's pickup code. With ``resend_ok`` (the API, whose answers can be
    lost) the same staff account sending it again within PICKUP_RESEND_SECONDS gets it again (``replayed``
    true); another desk, later, or the console (which shows the desk it was done): PICKUP_CODE_USED."""
    normalized = code.strip().upper()
    query = select(Redemption).where(Redemption.pickup_code == normalized)
    if is_postgres():
        query = query.with_for_update()
    redemption = db.session.scalars(query).first()
    # Another community's code is answered as an unknown one: the desk must not learn that it exists.
    if redemption is None or not allowed(principal, "store.manage", get_community(redemption.community_id)):
        raise NotFound("PICKUP_CODE_INVALID")
    if redemption.status == "picked_up" and resend_ok and _resent_pickup(principal, redemption):
        redemption.replayed = True
        return redemption
    if redemption.status == "picked_up":
        raise Conflict(
            "PICKUP_CODE_USED",
            details={
                "picked_up_at": redemption.picked_up_at.isoformat() if redemption.picked_up_at else None
            },
        )
    if redemption.status != "approved":
        raise Conflict("PICKUP_CODE_EXPIRED", details={"status": redemption.status})
    redemption.status, redemption.picked_up_at = "picked_up", clock.now()
    redemption.picked_up_by_id = principal.staff.id if principal.staff is not None else None
    db.session.flush()
    redemption.replayed = False
    return redemption


def my_redemptions(user_id: int, page: int, page_size: int) -> tuple[list[Redemption], int]:
    """A member's redemptions, newest first."""
    query = select(Redemption).where(Redemption.user_id == user_id)
    return paginate(
        query.options(selectinload(Redemption.item)).order_by(Redemption.id.desc()), page, page_size
    )


def staff_redemptions(
    principal: Principal, status: str | None, community_id: int | None, page: int, page_size: int
) -> tuple[list[Redemption], int]:
    """Redemptions of the communities the caller looks after, oldest first, each with the member's
    nickname and available points (``member_nickname``, ``member_available``)."""
    if not principal.is_staff:
        raise Forbidden()
    query = select(Redemption).where(Redemption.community_id.in_(staff_scope_ids(principal)))
    if status:
        query = query.where(Redemption.status == status)
    if community_id is not None:
        query = query.where(Redemption.community_id == community_id)
    shown = query.options(selectinload(Redemption.item))  # the item's name on each line, in one query
    found: list[Redemption]
    found, total = paginate(shown.order_by(Redemption.id), page, page_size)
    members = points.member_balances(sorted({r.user_id for r in found}))
    for redemption in found:
        redemption.member_nickname, redemption.member_available = members.get(redemption.user_id, (None, 0))
    return found, total


# --- expiry -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueRedemptions:
    """What the hourly sweep has to do: ids of requests and approvals to expire, and approvals to warn of."""

    stale_requests: list[int]
    stale_approvals: list[int]
    to_warn: list[int]


def redemptions_due(now: datetime, request_days: int, pickup_days: int) -> DueRedemptions:
    """Requests undecided for ``request_days``, approvals not collected in ``pickup_days``, and those a day
    from it not yet warned."""

    def ids(*conditions: ColumnElement[bool]) -> list[int]:
        return list(db.session.scalars(select(Redemption.id).where(*conditions).order_by(Redemption.id)))

    return DueRedemptions(
        stale_requests=ids(
            Redemption.status == "requested", Redemption.created_at < now - timedelta(days=request_days)
        ),
        stale_approvals=ids(
            Redemption.status == "approved", Redemption.decided_at < now - timedelta(days=pickup_days)
        ),
        to_warn=ids(
            Redemption.status == "approved",
            Redemption.expiry_warned_at.is_(None),
            Redemption.decided_at < now - timedelta(days=pickup_days - 1),
        ),
    )


def expire_request(redemption_id: int) -> bool:
    """A request left undecided too long: points and stock go back (once)."""
    redemption = _lock_redemption(redemption_id)
    if redemption.status != "requested":
        return False
    _release(redemption, "expired", "超时未审核", None)
    publish(
        "redemption.expired",
        [redemption.user_id],
        {
            "redemption_id": redemption.id,
            "item": redemption.item.name,
            "reason": "超时未审核，积分已退回",
        },
    )
    return True


def expire_approval(redemption_id: int) -> bool:
    """Approved goods never picked up: a reversal returns the points, the goods go back to stock."""
    redemption = _lock_redemption(redemption_id)
    if redemption.status != "approved":
        return False
    db.session.execute(
        update(StoreItem)
        .where(StoreItem.id == redemption.item_id)
        .values(stock=StoreItem.stock + redemption.quantity)
        .execution_options(synchronize_session=False)
    )
    capture_id = points.capture_of(redemption.hold_id)
    assert capture_id is not None  # noqa: S101  (an approved redemption's hold was captured)
    reversed_ = points.reverse(capture_id, "逾期未领取")
    if reversed_.status == "refused":
        raise RuntimeError(f"redemption {redemption.id}: capture not reversible ({reversed_.code})")
    redemption.status, redemption.reason = "expired", "逾期未领取"
    db.session.flush()
    publish(
        "redemption.expired",
        [redemption.user_id],
        {
            "redemption_id": redemption.id,
            "item": redemption.item.name,
            "reason": "逾期未领取，积分已退回",
        },
    )
    return True


def warn_expiring(redemption_id: int) -> bool:
    """Tell the member a day before their approved goods expire (once)."""
    redemption = _lock_redemption(redemption_id)
    if redemption.status != "approved" or redemption.expiry_warned_at is not None:
        return False
    redemption.expiry_warned_at = clock.now()
    publish(
        "redemption.expiring",
        [redemption.user_id],
        {
            "redemption_id": redemption.id,
            "item": redemption.item.name,
            "pickup_code": redemption.pickup_code,
        },
    )
    return True


def approve_many(principal: Principal, redemption_ids: list[int]) -> list[dict[str, Any]]:
    """Bulk approve: each in its own savepoint, a result per id in the order given."""
    results: list[dict[str, Any]] = []
    for redemption_id in redemption_ids:
        try:
            with db.session.begin_nested():
                approve(principal, redemption_id)
            results.append({"id": redemption_id, "result": "approved"})
        except AppError as error:
            results.append({"id": redemption_id, "result": "refused", "code": error.code})
    return results


def pickup_code_of(user_id: int, redemption_id: int) -> str:
    """The member's own pickup code while it can be used."""
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None or redemption.user_id != user_id:
        raise NotFound("REDEMPTION_NOT_FOUND", details={"id": redemption_id})
    if redemption.status != "approved" or redemption.pickup_code is None:
        raise Conflict(
            "PICKUP_CODE_EXPIRED" if redemption.status != "picked_up" else "PICKUP_CODE_USED",
            details={"status": redemption.status},
        )
    return redemption.pickup_code


def pickup_deadline(redemption: Redemption, pickup_days: int) -> datetime | None:
    """When approved goods must be picked up by (``redemptions_due`` expires them then); else None."""
    if redemption.status != "approved" or redemption.decided_at is None:
        return None
    return redemption.decided_at + timedelta(days=pickup_days)


def redemption_view(principal: Principal, redemption_id: int) -> Redemption:
    """A redemption with its pickup deadline and place, for its member or its community's staff; else 404."""
    redemption = db.session.scalars(
        select(Redemption).options(selectinload(Redemption.item)).where(Redemption.id == redemption_id)
    ).first()
    mine = redemption is not None and principal.user is not None and redemption.user_id == principal.user.id
    if redemption is None or not (
        mine or allowed(principal, "store.manage", get_community(redemption.community_id))
    ):
        raise NotFound("REDEMPTION_NOT_FOUND", details={"id": redemption_id})
    redemption.pickup_deadline = pickup_deadline(redemption, int(current_app.config["STORE_PICKUP_DAYS"]))
    redemption.pickup = pickup_info(redemption.community_id)
    return redemption


# --- what staff pages read --------------------------------------------------------------------------------


def count_in_scope(principal: Principal, status: str, since: datetime | None = None) -> int:
    """Redemptions of a status in the staff member's communities (picked up ``since``, for a tally)."""
    query = select(func.count()).where(
        Redemption.community_id.in_(staff_scope_ids(principal)), Redemption.status == status
    )
    if since is not None:
        query = query.where(Redemption.picked_up_at >= since)
    return int(db.session.scalar(query) or 0)


def redemption_for_staff(principal: Principal, redemption_id: int) -> Redemption:
    """One redemption, for staff of its community only (403 otherwise, 404 when there is none)."""
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None:
        raise NotFound("REDEMPTION_NOT_FOUND", details={"id": redemption_id})
    authorize(principal, "store.manage", get_community(redemption.community_id))
    return redemption


def item_for_staff(principal: Principal, item_id: int) -> StoreItem:
    """An item, for staff of its community only."""
    item = get_item(item_id)
    authorize(principal, "store.manage", get_community(item.community_id))
    return item


def todays_pickups(principal: Principal, limit: int = 20) -> list[tuple[Redemption, str | None]]:
    """Goods collected today in the staff member's communities, latest first, with the member's nickname."""
    rows = db.session.execute(
        select(Redemption, User.nickname)
        .join(User, User.id == Redemption.user_id)
        .options(selectinload(Redemption.item))
        .where(
            Redemption.community_id.in_(staff_scope_ids(principal)),
            Redemption.status == "picked_up",
            Redemption.picked_up_at >= clock.today_bounds()[0],
        )
        .order_by(Redemption.picked_up_at.desc())
        .limit(limit)
    ).all()
    return [(redemption, nickname) for redemption, nickname in rows]


def recent_redemptions(principal: Principal, user_id: int, limit: int) -> list[Redemption]:
    """A member's latest redemptions in the staff member's communities, with their items."""
    return list(
        db.session.scalars(
            select(Redemption)
            .options(selectinload(Redemption.item))
            .where(Redemption.user_id == user_id, Redemption.community_id.in_(staff_scope_ids(principal)))
            .order_by(Redemption.id.desc())
            .limit(limit)
        )
    )


def staff_items(principal: Principal, community_id: int | None) -> list[StoreItem]:
    """Every item of the staff member's communities (or one of them), on sale or not."""
    query = select(StoreItem).where(StoreItem.community_id.in_(staff_scope_ids(principal)))
    if community_id is not None:
        query = query.where(StoreItem.community_id == community_id)
    return list(
        db.session.scalars(query.order_by(StoreItem.community_id, StoreItem.active.desc(), StoreItem.id))
    )


def stock_changes(item_id: int) -> list[tuple[StockChange, str]]:
    """The audit of an item's stock, newest first, with who changed it ("系统" when no one did)."""
    rows = db.session.execute(
        select(StockChange, StaffAccount.display_name, StaffAccount.username)
        .outerjoin(StaffAccount, StaffAccount.id == StockChange.staff_id)
        .where(StockChange.item_id == item_id)
        .order_by(StockChange.id.desc())
    ).all()
    return [(change, display or username or "系统") for change, display, username in rows]
