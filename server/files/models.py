"""Uploaded files (images), kept in the configured storage and named by an unguessable key."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Model, TimestampMixin


class StoredFile(TimestampMixin, Model):
    """One uploaded image: who sent it, what it is, where the bytes live."""

    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint("(owner_user_id IS NULL) <> (owner_staff_id IS NULL)", name="one_owner"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The key is the public name of the file (its URL); random, so URLs cannot be guessed.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    owner_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column()
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64), index=True)
