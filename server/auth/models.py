"""Refresh tokens: stored hashed, rotating, grouped in families so a reuse revokes them all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
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
