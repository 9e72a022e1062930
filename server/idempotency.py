"""The Idempotency-Key header of requests that move points or stock."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from flask import request

from server.errors import AppError, register_messages

register_messages(
    {
        "IDEMPOTENCY_KEY_INVALID": (
            "Idempotency-Key 格式不正确（1-100 个字母、数字或 -_.:）",
            "Idempotency-Key must be 1-100 characters of letters, digits and -_.:",
        )
    }
)
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def idempotency_key(scope: str) -> str | None:
    """The request's Idempotency-Key, namespaced by ``scope`` (e.g. the caller), or None if absent."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not _KEY.match(raw):
        raise AppError("IDEMPOTENCY_KEY_INVALID", status=400)
    return f"{scope}:{raw}"


def fingerprint(**fields: Any) -> str:
    """A stable hash of what a request asked for, to tell a replay from a changed request."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()
