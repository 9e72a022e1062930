"""A small expiring key-value table: where shared caches live when there is no Redis."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, Text, delete
from sqlalchemy.orm import Mapped, mapped_column

from server import clock
from server.db import Model, db


class CacheEntry(Model):
    """One cached value with its expiry."""

    __tablename__ = "cache_entries"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column()


class DatabaseTokenCache:
    """The WeChat TokenCache protocol over ``cache_entries``, in the request's transaction."""

    def get(self, key: str) -> str | None:
        """The value while it has not expired."""
        entry = db.session.get(CacheEntry, key)
        if entry is None or entry.expires_at <= clock.wall():
            return None
        return entry.value

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        """Store or replace a value."""
        expires_at = clock.wall() + timedelta(seconds=ttl_seconds)
        entry = db.session.get(CacheEntry, key)
        if entry is None:
            db.session.add(CacheEntry(key=key, value=value, expires_at=expires_at))
        else:
            entry.value, entry.expires_at = value, expires_at
        db.session.flush()

    def delete(self, key: str) -> None:
        """Forget a value."""
        db.session.execute(delete(CacheEntry).where(CacheEntry.key == key))
