"""The points-exchange supermarket (积分兑换超市): goods, audited stock changes, redemptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, TimestampMixin

REDEMPTION_STATUSES = ("requested", "approved", "rejected", "cancelled", "expired", "picked_up")
LIMIT_PERIODS = ("month", "year", "ever")  # what an item's per-member limit counts over
# The supermarket's shelves, in the order a member's screen shows them as tabs: code -> label. One fixed set
# for every community, so a tab means the same everywhere and a filter matches exactly (no "粮油" / "粮油 ").
ITEM_CATEGORIES: dict[str, str] = {
    "food": "粮油食品",
    "daily": "日用百货",
    "cleaning": "洗护清洁",
    "stationery": "文体用品",
    "voucher": "服务券",
    "other": "其他",
}


class StoreItem(TimestampMixin, Model):
    """Goods of a community's points-exchange supermarket (积分兑换超市)."""

    __tablename__ = "store_items"
    __table_args__ = (
        CheckConstraint("points_price > 0", name="price_positive"),
        # Invariant 5, backstopped: requests reserve, approvals take from stock.
        CheckConstraint("reserved >= 0 AND reserved <= stock", name="reserved_within_stock"),
        CheckConstraint("per_user_limit IS NULL OR per_user_limit > 0", name="limit_positive"),
        CheckConstraint("limit_period IN ('month','year','ever')", name="limit_period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    photo_url: Mapped[str | None] = mapped_column(String(255))
    sponsor: Mapped[str | None] = mapped_column(String(100))
    points_price: Mapped[int] = mapped_column()
    stock: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    per_user_limit: Mapped[int | None] = mapped_column()
    limit_period: Mapped[str] = mapped_column(String(8), default="month")
    on_sale_from: Mapped[datetime | None] = mapped_column()
    on_sale_until: Mapped[datetime | None] = mapped_column()
    requires_approval: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Only points earned in this community buy it (points.services.balance_earned_in); others still follow
    # the person.
    earned_here_only: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    category: Mapped[str | None] = mapped_column(String(16))  # a key of ITEM_CATEGORIES; None: unsorted


class StoreSettings(Model):
    """A community's supermarket settings: where and when approved goods are picked up (领取地点、时间)."""

    __tablename__ = "store_settings"

    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True)
    pickup_place: Mapped[str | None] = mapped_column(String(200))
    pickup_hours: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime | None] = mapped_column()
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))


@dataclass(frozen=True)
class PickupInfo:
    """Where and when a community's approved goods are picked up (either may be unset)."""

    place: str | None
    hours: str | None


class StockChange(TimestampMixin, Model):
    """An audited change of an item's stock by staff: who, from, to, why."""

    __tablename__ = "store_stock_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("store_items.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    stock_from: Mapped[int] = mapped_column()
    stock_to: Mapped[int] = mapped_column()
    reason: Mapped[str] = mapped_column(String(255))


class Redemption(TimestampMixin, Model):
    """A request to exchange points for goods: held, decided by staff, picked up with a code."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('requested','approved','rejected','cancelled','expired','picked_up')", name="status"
        ),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_redemptions_item_status", "item_id", "status"),
        Index("ix_redemptions_community_status", "community_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("store_items.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    quantity: Mapped[int] = mapped_column()
    points: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="requested")
    hold_id: Mapped[int] = mapped_column(ForeignKey("points_transactions.id"), unique=True)
    pickup_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    reason: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    picked_up_at: Mapped[datetime | None] = mapped_column()
    picked_up_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))  # the desk (核销)
    expiry_warned_at: Mapped[datetime | None] = mapped_column()

    item: Mapped[StoreItem] = relationship()

    if TYPE_CHECKING:
        # Not columns: staff_redemptions (store/services.py) sets them on the rows it returns.
        member_nickname: str | None
        member_available: int
        replayed: bool  # set by pickup, approve, reject and cancel: a resend answered as done
        # set by redemption_view (store/services.py) for the detail of one redemption
        pickup_deadline: datetime | None
        pickup: PickupInfo
