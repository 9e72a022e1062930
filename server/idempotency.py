"""The Idempotency-Key header of requests that move points or stock."""

from __future__ import annotations

import re

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
