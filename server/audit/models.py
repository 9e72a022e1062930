"""Audit entries: who did or saw what sensitive thing, when, from where; never changed once written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server import clock
from server.db import Model

ACTOR_KINDS = ("staff", "user", "system")


class AuditEntry(Model):
    """One sensitive read or write. On PostgreSQL a trigger refuses UPDATE; only the retention job deletes."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("actor_kind IN ('staff','user','system')", name="actor_kind"),
        Index("ix_audit_log_subject", "subject_kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=lambda: clock.now(), index=True)
    actor_kind: Mapped[str] = mapped_column(String(8))
    actor_id: Mapped[int | None] = mapped_column()
    action: Mapped[str] = mapped_column(String(48), index=True)
    subject_kind: Mapped[str | None] = mapped_column(String(24))
    subject_id: Mapped[int | None] = mapped_column()
    community_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
