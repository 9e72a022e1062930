"""Refresh tokens, staff login locks and unlock codes, console sessions: what logins keep on the server."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Model, TimestampMixin


class RefreshToken(TimestampMixin, Model):
    """One issued refresh token; only its SHA-256 is kept."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (CheckConstraint("principal_kind IN ('user','staff')", name="principal_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    principal_kind: Mapped[str] = mapped_column(String(8))
    principal_id: Mapped[int] = mapped_column(index=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class StaffLoginLock(Model):
    """The tries of one staff account from one address: five in fifteen minutes, then that pair is locked."""

    __tablename__ = "staff_login_locks"
    __table_args__ = (UniqueConstraint("staff_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(64))
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class StaffUnlockCode(TimestampMixin, Model):
    """A one-time code an admin made for an account that needs one; only its SHA-256 is kept."""

    __tablename__ = "staff_unlock_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class ConsoleSession(Model):
    """A console login the server can end: the cookie carries only its random id, this row its hash."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
