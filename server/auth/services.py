"""Logging in: WeChat users by code, staff by password; token issue and refresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, null, or_, select, update

from server import clock
from server.auth.passwords import hash_password, needs_rehash, verify_password
from server.auth.tokens import (
    issue_access_token,
    issue_refresh_token,
    revoke_refresh_token,
    rotate_refresh_token,
)
from server.db import db, keep_changes_despite_error
from server.errors import Unauthorized
from server.users.models import StaffAccount, User
from server.users.services import find_or_create_user
from server.wechat.errors import WeChatCodeInvalid, WeChatError
from server.wechat.factory import wechat_client, wechat_unavailable

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


@dataclass
class LoginResult:
    """Tokens and who they belong to."""

    access_token: str
    refresh_token: str
    expires_in: int
    user: User | StaffAccount
    kind: str


def _tokens_for(kind: str, principal: User | StaffAccount, family_id: str | None = None) -> LoginResult:
    access, ttl = issue_access_token(kind, principal.id)
    refresh = issue_refresh_token(kind, principal.id, family_id)
    return LoginResult(access, refresh, ttl, principal, kind)


def login_with_wechat(code: str) -> LoginResult:
    """Exchange a wx.login code (jscode2session) for our tokens, making the user on first login."""
    try:
        session = wechat_client().code2session(code)
    except WeChatCodeInvalid as exc:
        raise Unauthorized("WECHAT_CODE_INVALID", details={"errcode": exc.errcode}) from exc
    except WeChatError as exc:
        raise wechat_unavailable(exc) from exc
    user = find_or_create_user(session.openid, session.unionid)
    return _tokens_for("user", user)


def login_staff(username: str, password: str) -> LoginResult:
    """Log a console account in for the API: its password checked, a pair of tokens issued."""
    return _tokens_for("staff", check_staff_password(username, password))


def check_staff_password(username: str, password: str) -> StaffAccount:
    """Check a staff password; five failures in a row lock the account for fifteen minutes.

    Each attempt first takes one of the account's five tries in a single ``UPDATE … RETURNING`` (an expired
    lock gives a fresh five), so parallel guesses cannot share a try: once five are taken, or while the
    account is locked, the password is not even checked. A success gives the tries back.
    """
    staff = db.session.scalars(select(StaffAccount).where(StaffAccount.username == username)).first()
    now = clock.now()
    if staff is None:
        verify_password(None, password)  # the same time as a wrong password
        raise Unauthorized("INVALID_CREDENTIALS")
    attempt = _take_a_try(staff, now)
    if attempt is None:
        verify_password(None, password)
        details = {"locked_until": staff.locked_until.isoformat()} if staff.locked_until else None
        raise Unauthorized("ACCOUNT_LOCKED", details=details)
    if not verify_password(staff.password_hash, password):
        if attempt >= MAX_FAILED_LOGINS:
            staff.locked_until = now + LOCKOUT
            db.session.flush()
        keep_changes_despite_error()  # the failure count must survive the 401
        raise Unauthorized("INVALID_CREDENTIALS")
    if not staff.active:
        raise Unauthorized("ACCOUNT_DISABLED")
    staff.failed_logins, staff.locked_until, staff.last_login_at = 0, None, now
    if needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    db.session.flush()
    return staff


def _take_a_try(staff: StaffAccount, now: datetime) -> int | None:
    """Count one more attempt atomically; its number since the last reset, or None when none is left."""
    expired = and_(StaffAccount.locked_until.is_not(None), StaffAccount.locked_until <= now)
    taken = db.session.execute(
        update(StaffAccount)
        .where(
            StaffAccount.id == staff.id,
            or_(
                expired,
                and_(StaffAccount.locked_until.is_(None), StaffAccount.failed_logins < MAX_FAILED_LOGINS),
            ),
        )
        .values(
            failed_logins=case((expired, 1), else_=StaffAccount.failed_logins + 1),
            locked_until=case((expired, null()), else_=StaffAccount.locked_until),
        )
        .returning(StaffAccount.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    db.session.refresh(staff)  # the row as counted (or as locked by someone else)
    return taken


def refresh_login(refresh_token: str) -> LoginResult:
    """Rotate a refresh token into a new pair of tokens of the same family."""
    spent, successor = rotate_refresh_token(refresh_token)
    principal: User | StaffAccount | None
    if spent.principal_kind == "user":
        principal = db.session.get(User, spent.principal_id)
    else:
        principal = db.session.get(StaffAccount, spent.principal_id)
        if principal is not None and not principal.active:
            principal = None
    if principal is None:
        raise Unauthorized("REFRESH_TOKEN_INVALID")
    access, ttl = issue_access_token(spent.principal_kind, principal.id)
    return LoginResult(access, successor, ttl, principal, spent.principal_kind)


def logout(refresh_token: str) -> None:
    """Revoke the login family of a refresh token."""
    revoke_refresh_token(refresh_token)
