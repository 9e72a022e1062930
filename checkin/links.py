"""Links that WeChat's own scanner opens: a code on a screen or a poster is ``QR_LINK_BASE/<code>``
(the "扫普通链接二维码打开小程序" form), and a scan arrives as the code, that URL or the page's
URL-encoded ``q``; and the 6-digit codes typed where a camera fails."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import unquote

from flask import current_app

from checkin.tokens import WINDOW_SECONDS, signing_keys, window_of
from server.errors import AppError

SHORT_CODE_DIGITS = 6
_MAX_DECODES = 2  # q is the URL encoded once; a client that encodes it again still works


def link_base() -> str:
    """QR_LINK_BASE, e.g. ``https://linli.example.org/c``."""
    return str(current_app.config["QR_LINK_BASE"]).rstrip("/")


def checkin_link(code: str) -> str:
    """The https link a QR code of a screen or poster holds."""
    return f"{link_base()}/{code}"


def code_from_scan(scanned: str) -> str:
    """The code inside what a client scanned: the code itself, the link, or the link URL-encoded (``q``)."""
    text = scanned.strip()
    for _ in range(_MAX_DECODES):
        if text[:4].lower() == "http" and "%" in text[:12]:  # https%3A%2F%2F…: an encoded link
            text = unquote(text)
    if "://" not in text:
        return text
    prefix = link_base() + "/"
    if not text.startswith(prefix):
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "not a check-in link"})
    code = text[len(prefix) :].split("?", 1)[0].split("#", 1)[0]
    return unquote(code)


def short_code(activity_id: int, window: int, key: bytes | None = None) -> str:
    """The 6-digit sign-in code of an activity in a window of its screen code (signed like the token)."""
    if key is None:
        key_id, keys = signing_keys()
        key = keys[key_id]
    digest = hmac.new(key, f"short:{activity_id}:{window}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**SHORT_CODE_DIGITS:0{SHORT_CODE_DIGITS}d}"


def current_short_code(activity_id: int, now: float) -> str:
    """The code to show now (the same window as the screen's QR code)."""
    return short_code(activity_id, window_of("activity", now))


def short_code_matches(activity_id: int, typed: str, now: float) -> bool:
    """Whether a typed code is the current or the previous window's under any accepted key, as for the
    screen code."""
    window = window_of("activity", now)
    keys = signing_keys()[1].values()
    return any(
        hmac.compare_digest(short_code(activity_id, w, key), typed)
        for key in keys
        for w in (window, window - 1)
    )


def short_code_expires_in(now: float) -> float:
    """Seconds the code shown now stays accepted (to the end of the next window)."""
    seconds = WINDOW_SECONDS["activity"]
    return (window_of("activity", now) + 2) * seconds - now
