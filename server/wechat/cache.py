"""Where the WeChat access token is kept between calls (and shared between processes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class TokenCache(Protocol):
    """A string store with expiry."""

    def get(self, key: str) -> str | None:
        """The value, or None when missing or expired."""
        ...

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        """Store ``value`` for ``ttl_seconds``."""
        ...

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        ...


class MemoryTokenCache:
    """A per-process TokenCache (tests, single-process runs)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The value, or None when missing or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, expires_at = entry
            if self._clock() >= expires_at:
                del self._entries[key]
                return None
            return value

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        """Store ``value`` for ``ttl_seconds``."""
        with self._lock:
            self._entries[key] = (value, self._clock() + ttl_seconds)

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._entries.pop(key, None)


class RedisLike(Protocol):
    """The part of a redis-py client that RedisTokenCache uses."""

    def get(self, name: str, /) -> Any: ...

    def set(self, name: str, value: str, /, *, ex: int) -> Any: ...

    def delete(self, *names: str) -> Any: ...


class RedisTokenCache:
    """A TokenCache in Redis, shared by all workers."""

    def __init__(self, redis_client: RedisLike, prefix: str = "") -> None:
        self._redis = redis_client
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self._prefix}wechat:{key}"

    def get(self, key: str) -> str | None:
        """The value, or None when missing or expired."""
        value = self._redis.get(self._key(key))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def set(self, key: str, value: str, ttl_seconds: int) -> None:
        """Store ``value`` for ``ttl_seconds``."""
        # SET ... EX (redis-py deprecates setex()) refuses a TTL of zero or less.
        self._redis.set(self._key(key), value, ex=max(1, int(ttl_seconds)))

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._redis.delete(self._key(key))
