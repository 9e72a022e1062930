"""The points ledger: rules, accounts, transactions, entries, and the earnings summary behind leaderboards."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, TimestampMixin

USER_ACCOUNT_KINDS = ("available", "held")
TRANSACTION_KINDS = ("award", "adjust", "hold", "capture", "release", "reverse", "expire")


class PointsRule(TimestampMixin, Model):
    """How many points an event or an hour of a category earns, and the caps per user."""

    __tablename__ = "points_rules"
    __table_args__ = (
        CheckConstraint("unit IN ('event','hour')", name="unit"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("daily_cap IS NULL OR daily_cap > 0", name="daily_cap_positive"),
        CheckConstraint("yearly_cap IS NULL OR yearly_cap > 0", name="yearly_cap_positive"),
        CheckConstraint(
            "party_member_multiplier IS NULL OR party_member_multiplier > 0", name="multiplier_positive"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column()
    unit: Mapped[str] = mapped_column(String(8), default="event")
    daily_cap: Mapped[int | None] = mapped_column()
    yearly_cap: Mapped[int | None] = mapped_column()
    party_member_multiplier: Mapped[Decimal | None] = mapped_column(Numeric(4, 2))
    active: Mapped[bool] = mapped_column(default=True)


class Account(Model):
    """A ledger account. User accounts cache their balance; system accounts derive it from entries.

    System accounts (issuing per community and category, redeemed, expired) take part in every award
    of a community; a cached balance there would be one hot row that serialises all of them.
    """

    __tablename__ = "points_accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('available','held','issuing','redeemed','expired')", name="kind"),
        # The backstop of invariant 3: a user's balances are never negative.
        CheckConstraint("kind NOT IN ('available','held') OR balance >= 0", name="user_balance_not_negative"),
        CheckConstraint(
            "(kind IN ('available','held')) = (user_id IS NOT NULL AND balance IS NOT NULL)",
            name="user_accounts_cache_balance",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    category: Mapped[str | None] = mapped_column(String(32))
    balance: Mapped[int | None] = mapped_column(BigInteger)


class LedgerTransaction(TimestampMixin, Model):
    """One movement of points: two or more entries summing to zero. Never updated or deleted."""

    __tablename__ = "points_transactions"
    __table_args__ = (
        CheckConstraint(f"kind IN ({','.join(map(repr, TRANSACTION_KINDS))})", name="kind"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_points_transactions_user_rule_day", "user_id", "rule_code", "local_date"),
        Index("ix_points_transactions_user_kind", "user_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    category: Mapped[str | None] = mapped_column(String(32))
    rule_code: Mapped[str | None] = mapped_column(String(32))
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    amount: Mapped[int] = mapped_column(BigInteger)
    # The same key never moves points twice (invariant 7); the hash tells a replay from a changed request.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    reason: Mapped[str | None] = mapped_column(String(255))
    memo: Mapped[str] = mapped_column(String(255))
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref_id: Mapped[str | None] = mapped_column(String(64))
    # A transaction is reversed at most once, and a hold settled at most once (invariant 6): unique links.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("points_transactions.id"), unique=True)
    settles_id: Mapped[int | None] = mapped_column(ForeignKey("points_transactions.id"), unique=True)
    local_date: Mapped[date] = mapped_column(Date)

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction")


class LedgerEntry(TimestampMixin, Model):
    """One signed leg of a transaction on one account. Append-only (a trigger refuses changes)."""

    __tablename__ = "points_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_points_entries_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("points_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("points_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")
    account: Mapped[Account] = relationship()


class PointsEarning(Model):
    """Points a user earned (awards and adjustments, net of their reversals) per community and month.

    Kept in step inside the posting transaction, so leaderboards read a few rows per user instead of
    scanning the ledger; `flask points rebuild-earnings` recomputes it from the ledger.
    """

    __tablename__ = "points_earnings"
    __table_args__ = (Index("ix_points_earnings_community_month", "community_id", "month"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
