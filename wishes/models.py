"""Micro-wishes (微心愿): the wish, its claims (one active at a time), its photos and the claimer's award."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, TimestampMixin
from server.files.models import StoredFile
from server.orgs.models import OrgUnit
from server.users.models import StaffAccount, User

WISH_STATUSES = (
    "pending_review",
    "open",
    "claimed",
    "fulfilled",
    "disputed",  # the resident says it was not done: staff decide (release it, or complete it)
    "completed",
    "rejected",
    "cancelled",
)
# What the wall lists to anyone logged in; a completed wish is public only as its resident's story.
WALL_STATUSES = ("open", "claimed", "fulfilled")
PUBLIC_STATUSES = (*WALL_STATUSES, "completed")
# A claimer is named while someone holds the wish or held it to its end.
HELD_STATUSES = ("claimed", "fulfilled", "disputed", "completed")
CLAIM_OUTCOMES = ("active", "fulfilled", "unclaimed", "released", "expired", "cancelled")
# The claimer's points for a completed wish: paid at once (a rating of 3 or more, staff completing a
# disputed wish), or waiting for staff (待确认积分: no answer in time, a rating of 1 or 2).
AWARD_STATUSES = ("pending", "paid", "refused", "rejected")
AWARD_CAUSES = ("confirmed", "low_rating", "timeout", "staff")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Wish(TimestampMixin, Model):
    """A resident's small request, from review to the claimer's points."""

    __tablename__ = "wishes"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(WISH_STATUSES)})", name="status"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
        # The claimer is set exactly while someone holds or held the wish to its end.
        CheckConstraint(
            f"(claimer_id IS NOT NULL) = (status IN ({_in(HELD_STATUSES)}))", name="claimer_state"
        ),
        CheckConstraint("sec_check IN ('pass', 'review', 'unchecked')", name="sec_check"),
        Index("ix_wishes_community_id_status_id", "community_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(String(1000))
    category: Mapped[str] = mapped_column(String(20))
    wanted_by: Mapped[date | None] = mapped_column(Date)
    contact_name: Mapped[str] = mapped_column(String(32))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending_review")
    # WeChat's msg_sec_check verdict: "review" and "unchecked" (WeChat unreachable) are marked for staff.
    sec_check: Mapped[str] = mapped_column(String(16))
    sec_label: Mapped[int | None] = mapped_column()
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    reject_reason: Mapped[str | None] = mapped_column(String(255))
    claimer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column()
    claim_deadline: Mapped[datetime | None] = mapped_column()
    fulfilled_at: Mapped[datetime | None] = mapped_column()
    fulfil_note: Mapped[str | None] = mapped_column(String(500))
    fulfil_note_check: Mapped[str | None] = mapped_column(String(16))  # like comment_check
    completed_at: Mapped[datetime | None] = mapped_column()
    disputed_at: Mapped[datetime | None] = mapped_column()
    dispute_reason: Mapped[str | None] = mapped_column(String(255))  # the resident's "it was not done"
    completed_by: Mapped[str | None] = mapped_column(String(16))  # "resident", "timeout" or "staff"
    rating: Mapped[int | None] = mapped_column()
    comment: Mapped[str | None] = mapped_column(String(500))
    comment_check: Mapped[str | None] = mapped_column(String(16))
    story_consent: Mapped[bool] = mapped_column(default=False)
    award_transaction_id: Mapped[int | None] = mapped_column()
    award_points: Mapped[int | None] = mapped_column()
    award_code: Mapped[str | None] = mapped_column(String(32))  # why no points: CAP_REACHED, PAIR_LIMIT, …
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(String(255))

    community: Mapped[OrgUnit] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    claimer: Mapped[User | None] = relationship(foreign_keys=[claimer_id])
    reviewed_by: Mapped[StaffAccount | None] = relationship()
    photos: Mapped[list[WishPhoto]] = relationship(
        order_by="WishPhoto.position", cascade="all, delete-orphan", back_populates="wish"
    )
    award: Mapped[WishAward | None] = relationship(back_populates="wish", uselist=False)

    if TYPE_CHECKING:
        # Not a column: claim, fulfil, confirm and dispute (wishes/services.py) set it on their wish,
        # true when the same person had already done it (a resend after a lost answer).
        replayed: bool


class WishClaim(TimestampMixin, Model):
    """One member's claim of a wish, from claiming to how it ended."""

    __tablename__ = "wish_claims"
    __table_args__ = (
        CheckConstraint(f"outcome IN ({_in(CLAIM_OUTCOMES)})", name="outcome"),
        # The backstop of "one claimer at a time": one active claim per wish.
        Index(
            "uq_wish_claims_wish_id_active",
            "wish_id",
            unique=True,
            postgresql_where=text("outcome = 'active'"),
            sqlite_where=text("outcome = 'active'"),
        ),
        Index("ix_wish_claims_user_id_outcome", "user_id", "outcome"),
        # A member's claims of the day (WISH_CLAIMS_PER_DAY, F7).
        Index("ix_wish_claims_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(ForeignKey("wishes.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    deadline: Mapped[datetime] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(16), default="active")
    reminded_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    reason: Mapped[str | None] = mapped_column(String(255))

    wish: Mapped[Wish] = relationship()


class WishPhoto(Model):
    """A photo of a wish: posted with it, or taken when it was fulfilled."""

    __tablename__ = "wish_photos"
    __table_args__ = (
        CheckConstraint("kind IN ('wish', 'fulfilment')", name="kind"),
        UniqueConstraint("wish_id", "file_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(ForeignKey("wishes.id"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"))
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column()

    wish: Mapped[Wish] = relationship(back_populates="photos")
    file: Mapped[StoredFile] = relationship()


class WishAward(TimestampMixin, Model):
    """The claimer's points for a completed wish, once per wish: paid at once, or waiting for staff to
    approve (待确认积分); refused with a code (the ledger's, or PAIR_LIMIT), or rejected by staff."""

    __tablename__ = "wish_awards"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(AWARD_STATUSES)})", name="status"),
        CheckConstraint(f"cause IN ({_in(AWARD_CAUSES)})", name="cause"),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided"),
        CheckConstraint("(status = 'paid') = (transaction_id IS NOT NULL)", name="paid"),
        CheckConstraint("(status = 'rejected') = (reject_reason IS NOT NULL)", name="rejected"),
        Index("ix_wish_awards_community_id_status_id", "community_id", "status", "id"),
        # The pair limit: what a resident's wishes paid a claimer lately.
        Index("ix_wish_awards_claimer_id_resident_id_status", "claimer_id", "resident_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wish_id: Mapped[int] = mapped_column(ForeignKey("wishes.id"), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    claimer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cause: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    code: Mapped[str | None] = mapped_column(String(32))  # why refused: CAP_REACHED, PAIR_LIMIT, …
    points: Mapped[int | None] = mapped_column()
    transaction_id: Mapped[int | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))  # None: at once
    reject_reason: Mapped[str | None] = mapped_column(String(255))

    wish: Mapped[Wish] = relationship(back_populates="award")
    claimer: Mapped[User] = relationship(foreign_keys=[claimer_id])
    decided_by: Mapped[StaffAccount | None] = relationship()
