"""Residents (WeChat users), staff accounts and party-membership reports."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, event, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Model, TimestampMixin
from server.orgs.models import OrgUnit

STAFF_ROLES = ("admin", "staff")
# A move's life: waiting for the new community's staff, then approved or rejected by them, or cancelled
# (the resident applied to move elsewhere instead).
COMMUNITY_MOVE_STATUSES = ("pending", "approved", "rejected", "cancelled")
# A volunteer application's life: waiting for the community's staff, then accepted or declined by them,
# or withdrawn by the resident (themselves, or by applying to another community instead).
VOLUNTEER_APPLICATION_STATUSES = ("pending", "accepted", "declined", "withdrawn")


def mask_phone(phone: str | None) -> str | None:
    """138****1234: enough for a person to recognise, never the whole number."""
    if not phone:
        return None
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def normalise_phone(phone: str) -> str:
    """The digits of a number, without a leading +86 / 0086 country code (13812345678)."""
    digits = re.sub(r"\D", "", phone)
    for country in ("0086", "86"):
        if len(digits) == 11 + len(country) and digits.startswith(country):
            return digits[len(country) :]
    return digits


def phone_lookup_hash(phone: str) -> str:
    """HMAC-SHA256 of the normalised number, keyed from SECRET_KEY: matches the whole number, never a part."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    key = hashlib.sha256(b"linli-phone:" + secret).digest()
    return hmac.new(key, normalise_phone(phone).encode(), hashlib.sha256).hexdigest()


def mask_name(name: str | None) -> str:
    """张** : the first character and stars, for public lists."""
    if not name:
        return "匿名"
    return name[0] + "*" * max(1, min(len(name) - 1, 2))


class User(TimestampMixin, Model):
    """A WeChat user of the mini program (居民); may be a verified party member of a community."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    nickname: Mapped[str] = mapped_column(String(64), default="")
    # The whole number is kept for staff follow-up but only ever leaves the server masked.
    phone: Mapped[str | None] = mapped_column(String(20))
    # Kept in step with phone (see _phone_set below): staff find a member by the whole number (its keyed
    # hash) or by the last four digits together with a name, never by a prefix.
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_last4: Mapped[str | None] = mapped_column(String(4), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    party_community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    party_branch: Mapped[str | None] = mapped_column(String(100))
    party_employer: Mapped[str | None] = mapped_column(String(100))
    party_member_since: Mapped[datetime | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()
    # A registered volunteer (志愿者) of a community, recorded by its staff.
    volunteer_community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    volunteer_since: Mapped[datetime | None] = mapped_column()
    # Bumped by logout-everywhere and by disabling: access tokens of an older version stop at once.
    token_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Disabled by staff (ACCOUNT_DISABLED on login, refresh and every request), with the reason and who.
    disabled_at: Mapped[datetime | None] = mapped_column()
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    disabled_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", use_alter=True))

    community: Mapped[OrgUnit | None] = relationship(foreign_keys=[community_id])
    party_community: Mapped[OrgUnit | None] = relationship(foreign_keys=[party_community_id])
    volunteer_community: Mapped[OrgUnit | None] = relationship(foreign_keys=[volunteer_community_id])

    @property
    def party_member(self) -> bool:
        """True once a staff member approved this user's party report."""
        return self.party_community_id is not None

    @property
    def volunteer(self) -> bool:
        """True once staff registered this user as a volunteer of a community."""
        return self.volunteer_community_id is not None

    def serves(self, community_id: int) -> bool:
        """True for a party member or a volunteer of that community (who may claim its wishes)."""
        return community_id in (self.party_community_id, self.volunteer_community_id)

    @property
    def phone_masked(self) -> str | None:
        """The phone as it may be shown."""
        return mask_phone(self.phone)

    @property
    def active(self) -> bool:
        """False once staff disabled the account."""
        return self.disabled_at is None

    @property
    def roles(self) -> list[str]:
        """Role words of a WeChat user."""
        roles = ["resident"]
        if self.party_member:
            roles.append("party_member")
        if self.volunteer:
            roles.append("volunteer")
        return roles


@event.listens_for(User.phone, "set")
def _phone_set(user: User, phone: str | None, _old: Any, _initiator: Any) -> None:
    """Whoever sets a phone sets its lookup columns too."""
    digits = normalise_phone(phone) if phone else ""
    user.phone_hash = phone_lookup_hash(phone) if phone else None
    user.phone_last4 = digits[-4:] if len(digits) >= 4 else None


class StaffAccount(TimestampMixin, Model):
    """A console user (社区工作者) scoped to one org unit and its subtree."""

    __tablename__ = "staff_accounts"
    __table_args__ = (CheckConstraint("role IN ('admin','staff')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()
    # Bumped by logout-everywhere, a password change and disabling: older access tokens stop at once.
    token_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Account-wide wrong passwords (failed_logins, from any address) since failures_since; reaching
    # STAFF_UNLOCK_CODE_AFTER within 15 minutes sets unlock_required: the right password then needs a code.
    failures_since: Mapped[datetime | None] = mapped_column()
    unlock_required: Mapped[bool] = mapped_column(default=False, server_default=text("false"))

    org: Mapped[OrgUnit] = relationship()

    @property
    def roles(self) -> list[str]:
        """Role words of a staff account."""
        return [self.role]


class PartyReport(TimestampMixin, Model):
    """A user's report (报到) to a community as a party member, decided by its staff."""

    __tablename__ = "party_reports"
    __table_args__ = (
        CheckConstraint("status IN ('pending','approved','rejected')", name="status"),
        # At most one undecided report per user, enforced by the database, not by a read.
        Index(
            "uq_party_reports_user_id_pending",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    branch: Mapped[str] = mapped_column(String(100))
    employer: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(255))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    decided_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()
    community: Mapped[OrgUnit] = relationship()
    decided_by: Mapped[StaffAccount | None] = relationship()


class CommunityMove(TimestampMixin, Model):
    """A resident's application to live in another community (社区迁移), decided by the new one's staff.

    The rows are the history of where a resident lived: ``users.community_id`` changes only when one is
    approved."""

    __tablename__ = "community_moves"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(map(repr, COMMUNITY_MOVE_STATUSES))})", name="status"),
        # At most one undecided move per user, enforced by the database, not by a read.
        Index(
            "uq_community_moves_user_id_pending",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    from_community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    to_community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    reason: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_reason: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship()
    from_community: Mapped[OrgUnit | None] = relationship(foreign_keys=[from_community_id])
    to_community: Mapped[OrgUnit] = relationship(foreign_keys=[to_community_id])
    decided_by: Mapped[StaffAccount | None] = relationship()


class VolunteerApplication(TimestampMixin, Model):
    """A resident's application to volunteer (志愿者) for a community, decided by its staff."""

    __tablename__ = "volunteer_applications"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(map(repr, VOLUNTEER_APPLICATION_STATUSES))})", name="status"),
        # At most one undecided application per user, enforced by the database, not by a read.
        Index(
            "uq_volunteer_applications_user_id_pending",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_reason: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship()
    community: Mapped[OrgUnit] = relationship()
    decided_by: Mapped[StaffAccount | None] = relationship()
