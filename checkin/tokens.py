"""Signed rotating codes for check-in screens and members' phones, and the printed codes' scenes.

A rotating token names what it is for (an activity, a station or a member), a time window, the key
it was signed with and an HMAC-SHA256 over all of that, cut to 96 bits. It fits a mini-program code's
``scene`` (at most 32 characters of WeChat's allowed set), e.g. ``a1k.1gs4yq.Ab2Xy9_Qw-3dEf7Zh``.
The server accepts the current and the previous window, so a screen's code lives 30-60 seconds and a
member's own code 60-120 seconds; a photo sent home goes stale within a minute or two. Keys rotate
without breaking codes on screens: the token carries its key id, and the previous key stays accepted.

A printed code (a poster at a place without a screen) is ``p`` + kind + id + the poster's version + key
id + an HMAC over all of that, e.g. ``pa1k.2.Ab2Xy9_Qw-3dEf7Zh``: it cannot be computed from an id, and a
reprint (version + 1) retires every photo of the old poster. It proves less than a rotating code (a
photo of the poster works until the reprint), so places accept it only where staff allow it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app

from server.errors import AppError, register_messages

register_messages(
    {
        "TOKEN_INVALID": ("二维码无效，请扫描现场的签到码", "This code is not valid; scan the code on site"),
        "TOKEN_EXPIRED": (
            "二维码已过期，请重新扫描现场的签到码",
            "This code has expired; scan the current one",
        ),
    }
)

KINDS = {"a": "activity", "s": "station", "m": "member"}
KIND_LETTERS = {name: letter for letter, name in KINDS.items()}
# A screen's code turns every 30 s; a member's own code, like a payment code, every 60 s.
WINDOW_SECONDS = {"activity": 30, "station": 30, "member": 60}
SIGNATURE_BYTES = 12  # 96 bits, 16 base64url characters
SCENE_ALLOWED = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")
_TOKEN = re.compile(r"^([asm])([0-9a-z]{1,7})\.([0-9a-z]{1,7})\.([A-Za-z0-9])([A-Za-z0-9_-]{16})$")
_PRINTED = re.compile(r"^p([as])([0-9a-z]{1,7})\.([0-9a-z]{1,3})\.([A-Za-z0-9])([A-Za-z0-9_-]{16})$")
MAX_PRINTED_VERSION = 36**3 - 1


@dataclass(frozen=True)
class IssuedToken:
    """A token to show, and when it stops being accepted."""

    token: str
    expires_at: datetime
    window: int


@dataclass(frozen=True)
class VerifiedToken:
    """What a valid token names."""

    kind: str
    target_id: int
    window: int
    key_id: str


@dataclass(frozen=True)
class PrintedCode:
    """A signed printed code: the activity or station it names and the poster's version."""

    kind: str
    target_id: int
    version: int


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def signing_keys() -> tuple[str, dict[str, bytes]]:
    """(the id of the key that signs, every accepted key by id) from CHECKIN_TOKEN_KEYS or SECRET_KEY.

    CHECKIN_TOKEN_KEYS is ``"B:new-secret,A:old-secret"``: the first signs, all verify.
    """
    configured = current_app.config.get("CHECKIN_TOKEN_KEYS")
    if configured:
        return parse_keys(configured)
    derived = hmac.new(
        current_app.config["SECRET_KEY"].encode(), b"linli-checkin-token", hashlib.sha256
    ).digest()
    return "A", {"A": derived}


def parse_keys(raw: str) -> tuple[str, dict[str, bytes]]:
    """Parse ``"kid:secret,kid:secret"``; a key id is one letter or digit, a secret 16+ characters."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for part in raw.split(","):
        kid, sep, secret = part.strip().partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z0-9]", kid) or len(secret) < 16 or kid in keys:
            raise ValueError(
                "CHECKIN_TOKEN_KEYS must be 'kid:secret,...' with one-character ids, 16+ char secrets"
            )
        keys[kid] = secret.encode()
        order.append(kid)
    if not order:
        raise ValueError("CHECKIN_TOKEN_KEYS is empty")
    return order[0], keys


def _signature(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).decode()


def window_of(kind: str, now: float | None = None) -> int:
    """The window number of ``now`` for a kind of code."""
    return int((time.time() if now is None else now) // WINDOW_SECONDS[kind])


def issue_token(kind: str, target_id: int, now: float | None = None) -> IssuedToken:
    """Sign a token for an activity, a station or a member in the current window."""
    if kind not in WINDOW_SECONDS or target_id <= 0:
        raise ValueError(f"cannot issue a token for {kind} {target_id}")
    window = window_of(kind, now)
    key_id, keys = signing_keys()
    body = f"{KIND_LETTERS[kind]}{_b36(target_id)}.{_b36(window)}."
    token = f"{body}{key_id}{_signature(keys[key_id], body + key_id)}"
    if not SCENE_ALLOWED.match(token):
        raise ValueError(f"{kind} id {target_id} makes a token longer than a scene allows")
    # Accepted through the next window too, so a token shown now is good until the end of that one.
    expires_at = datetime.fromtimestamp((window + 2) * WINDOW_SECONDS[kind], UTC)
    return IssuedToken(token, expires_at, window)


def _signed(token: str, kinds: tuple[str, ...]) -> VerifiedToken:
    """A token's form, key, signature and kind; TOKEN_INVALID otherwise (its window is not judged)."""
    match = _TOKEN.match(token or "")
    if match is None:
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "malformed"})
    letter, target, window_b36, key_id, signature = match.groups()
    _, keys = signing_keys()
    key = keys.get(key_id)
    body = f"{letter}{target}.{window_b36}."
    if key is None or not hmac.compare_digest(signature, _signature(key, body + key_id)):
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "signature"})
    kind = KINDS[letter]
    if kind not in kinds:
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "kind", "kind": kind})
    return VerifiedToken(kind, int(target, 36), int(window_b36, 36), key_id)


def verify_token(token: str, kinds: tuple[str, ...], now: float | None = None) -> VerifiedToken:
    """Check a token's form, key, signature, kind and window; TOKEN_INVALID or TOKEN_EXPIRED otherwise."""
    verified = _signed(token, kinds)
    current = window_of(verified.kind, now)
    if verified.window > current:
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "future window"})
    if verified.window < current - 1:
        raise AppError("TOKEN_EXPIRED", status=400)
    return verified


def verify_token_seen_at(token: str, kinds: tuple[str, ...], seen_at: float, skew: float) -> VerifiedToken:
    """Check a token a device read offline at ``seen_at``: that moment must lie within the token's own
    life (issued to expiry), give or take ``skew`` seconds of the device's clock."""
    verified = _signed(token, kinds)
    seconds = WINDOW_SECONDS[verified.kind]
    issued, expires = verified.window * seconds, (verified.window + 2) * seconds
    if not issued - skew <= seen_at < expires + skew:
        raise AppError("TOKEN_EXPIRED", status=400, details={"reason": "not valid at the time given"})
    return verified


def printed_scene(kind: str, target_id: int, version: int) -> str:
    """The signed scene of a printed code (a poster at the door), e.g. ``pa1k.2.A…`` for activity 1k."""
    if kind not in ("activity", "station") or target_id <= 0 or not 1 <= version <= MAX_PRINTED_VERSION:
        raise ValueError(f"no printed code for {kind} {target_id} version {version}")
    key_id, keys = signing_keys()
    body = f"p{KIND_LETTERS[kind]}{_b36(target_id)}.{_b36(version)}."
    scene = f"{body}{key_id}{_signature(keys[key_id], body + key_id)}"
    if not SCENE_ALLOWED.match(scene):
        raise ValueError(f"{kind} id {target_id} makes a printed scene longer than a scene allows")
    return scene


def parse_printed(scene: str) -> PrintedCode:
    """What a signed printed code names; TOKEN_INVALID when it is not one or its signature is wrong.

    Whether its version is the poster's current one is the place's to say (see checkins)."""
    match = _PRINTED.match(scene or "")
    if match is None:
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "malformed"})
    letter, target, version, key_id, signature = match.groups()
    key = signing_keys()[1].get(key_id)
    body = f"p{letter}{target}.{version}."
    if key is None or not hmac.compare_digest(signature, _signature(key, body + key_id)):
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "signature"})
    return PrintedCode(KINDS[letter], int(target, 36), int(version, 36))
