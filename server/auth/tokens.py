"""Access tokens (short JWTs) and refresh tokens (opaque, rotating, stored hashed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from flask import current_app
from sqlalchemy import select, update

from server import clock
from server.auth.models import RefreshToken
from server.db import db, is_postgres, keep_changes_despite_error
from server.errors import Unauthorized

JWT_ALGORITHM = "HS256"
PRINCIPAL_KINDS = ("user", "staff")


@dataclass(frozen=True)
class TokenClaims:
    """What a verified access token says."""

    kind: str
    principal_id: int
    version: int  # the account's token_version when issued; the request's principal compares it


def _signing_key() -> bytes:
    # A derived key: the JWT key never equals the session-cookie key, and it is always 32 bytes.
    return hashlib.sha256(b"linli-jwt:" + current_app.config["SECRET_KEY"].encode()).digest()


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _derived(purpose: bytes, raw: str) -> bytes:
    """A secret only this server can compute from a refresh token it was shown (HMAC under SECRET_KEY)."""
    key = hashlib.sha256(b"linli-refresh:" + current_app.config["SECRET_KEY"].encode()).digest()
    return hmac.new(key, purpose + b":" + raw.encode(), hashlib.sha256).digest()


def successor_of(raw: str) -> str:
    """The refresh token that rotating ``raw`` issues: derived from it, so a resend of ``raw`` within the
    grace window gets the same successor again while only hashes are stored."""
    return base64.urlsafe_b64encode(_derived(b"successor", raw)).rstrip(b"=").decode()


def issue_access_token(
    kind: str, principal_id: int, version: int, *, issued_at: datetime | None = None, jti: str | None = None
) -> tuple[str, int]:
    """A signed access token, carrying the account's token version, and its lifetime in seconds. Given
    ``issued_at`` and ``jti`` (a refresh) the token is the same each time it is made."""
    ttl = int(current_app.config["ACCESS_TOKEN_TTL_SECONDS"])
    now = issued_at or clock.wall()
    claims = {
        "sub": f"{kind}:{principal_id}",
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl,
        "jti": jti or secrets.token_hex(8),
        "ver": version,
    }
    return jwt.encode(claims, _signing_key(), algorithm=JWT_ALGORITHM), ttl


def verify_access_token(token: str) -> TokenClaims:
    """Verify signature, algorithm, expiry and type; raise Unauthorized otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _signing_key(),
            algorithms=[JWT_ALGORITHM],  # a fixed list: "none" and key-confusion tricks are refused
            options={"require": ["exp", "iat", "sub", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("TOKEN_EXPIRED_LOGIN") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("TOKEN_INVALID_LOGIN") from exc
    kind, _, raw_id = str(claims["sub"]).partition(":")
    version = claims.get("ver")
    if (
        claims.get("typ") != "access"
        or kind not in PRINCIPAL_KINDS
        or not raw_id.isdigit()
        or not isinstance(version, int)
        or isinstance(version, bool)
    ):
        raise Unauthorized("TOKEN_INVALID_LOGIN")
    return TokenClaims(kind=kind, principal_id=int(raw_id), version=version)


def issue_refresh_token(
    kind: str, principal_id: int, family_id: str | None = None, raw: str | None = None
) -> str:
    """Store the hash of a new refresh token (``raw``, or a random one; in ``family_id``, or a new family)
    and return it."""
    raw = raw or secrets.token_urlsafe(32)
    db.session.add(
        RefreshToken(
            token_hash=_hash(raw),
            family_id=family_id or secrets.token_hex(16),
            principal_kind=kind,
            principal_id=principal_id,
            expires_at=clock.wall() + timedelta(days=int(current_app.config["REFRESH_TOKEN_TTL_DAYS"])),
        )
    )
    db.session.flush()
    return raw


def revoke_family(family_id: str) -> None:
    """Revoke every token of a login family."""
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=clock.wall())
    )


def _load_for_update(raw: str) -> RefreshToken | None:
    query = select(RefreshToken).where(RefreshToken.token_hash == _hash(raw))
    if is_postgres():
        query = query.with_for_update()
    return db.session.scalars(query).first()


@dataclass(frozen=True)
class Rotation:
    """A spent refresh token, its successor, and what makes the access token of the pair the same again."""

    spent: RefreshToken
    successor: str
    issued_at: datetime  # when the token was spent: the access token's iat
    access_jti: str
    replayed: bool  # a resend within REFRESH_REUSE_GRACE_SECONDS: the pair already issued


def _successor_in_grace(raw: str, token: RefreshToken) -> str | None:
    """The successor already issued for ``raw``, if this use comes within the grace window of the first and
    that successor still stands; otherwise None (a real reuse)."""
    grace = timedelta(seconds=int(current_app.config["REFRESH_REUSE_GRACE_SECONDS"]))
    if token.used_at is None or token.revoked_at is not None or clock.wall() - token.used_at > grace:
        return None
    successor = successor_of(raw)
    standing = db.session.scalar(
        select(RefreshToken.id).where(
            RefreshToken.token_hash == _hash(successor),
            RefreshToken.family_id == token.family_id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > clock.wall(),
        )
    )
    return successor if standing is not None else None


def rotate_refresh_token(raw: str) -> Rotation:
    """Spend a refresh token and issue its successor. Used again within REFRESH_REUSE_GRACE_SECONDS (parallel
    refreshes of one phone, a lost answer) it gives the same successor; later, the whole family is revoked."""
    token = _load_for_update(raw)  # parallel refreshes of one token queue here (PostgreSQL)
    if token is None or token.expires_at <= clock.wall():
        raise Unauthorized("REFRESH_TOKEN_INVALID")
    jti = _derived(b"access", raw).hex()[:16]
    if token.used_at is not None:
        successor = _successor_in_grace(raw, token)
        if successor is not None:
            return Rotation(token, successor, token.used_at, jti, replayed=True)
        revoke_family(token.family_id)
        keep_changes_despite_error()  # the revocation must outlive the 401
        raise Unauthorized("REFRESH_TOKEN_REUSED")
    if token.revoked_at is not None:
        raise Unauthorized("REFRESH_TOKEN_INVALID")
    token.used_at = clock.wall()
    successor = issue_refresh_token(
        token.principal_kind, token.principal_id, token.family_id, raw=successor_of(raw)
    )
    return Rotation(token, successor, token.used_at, jti, replayed=False)


def revoke_principal_tokens(kind: str, principal_id: int) -> int:
    """Revoke every refresh token of one user or staff account; how many were still live."""
    result = db.session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.principal_kind == kind,
            RefreshToken.principal_id == principal_id,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=clock.wall())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_refresh_token(raw: str) -> None:
    """Log out: revoke the family of this refresh token, if it is one of ours."""
    token = _load_for_update(raw)
    if token is not None:
        revoke_family(token.family_id)
