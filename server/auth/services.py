"""Logging in: WeChat users by code, staff by password; token issue and refresh; ending logins."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, delete, func, null, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from server import clock
from server.audit import services as audit
from server.auth.models import StaffLoginLock, StaffUnlockCode
from server.auth.passwords import hash_password, needs_rehash, verify_password
from server.auth.policy import Principal, authorize
from server.auth.sessions import end_logins, request_address
from server.auth.tokens import (
    issue_access_token,
    issue_refresh_token,
    revoke_refresh_token,
    rotate_refresh_token,
)
from server.db import db, is_postgres, keep_changes_despite_error
from server.errors import AppError, Conflict, Forbidden, NotFound, Unauthorized, register_messages
from server.orgs.models import OrgUnit
from server.users.models import StaffAccount, User
from server.users.services import find_or_create_user
from server.wechat.errors import WeChatCodeInvalid, WeChatError, WeChatUserBlocked
from server.wechat.factory import wechat_client, wechat_unavailable

MAX_FAILED_LOGINS = 5  # tries per (account, address) ...
LOCKOUT = timedelta(minutes=15)  # ... in this long; then that pair is locked this long
ACCOUNT_WINDOW = timedelta(minutes=15)  # wrong passwords from all addresses counted over this window
UNLOCK_CODE_TTL = timedelta(minutes=30)
UNLOCK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out by phone
UNLOCK_CODE_LENGTH = 8
MIN_PASSWORD_LENGTH = 8

register_messages(
    {
        "UNLOCK_CODE_REQUIRED": (
            "该账号近期密码错误次数过多，请联系管理员获取解锁码",
            "Too many failed logins on this account; ask an admin for an unlock code",
        ),
        "PASSWORD_WRONG": ("当前密码不正确", "The current password is wrong"),
        "CANNOT_DISABLE_SELF": ("不能停用自己的账号", "You cannot disable your own account"),
        "STAFF_NOT_FOUND": ("工作人员账号不存在", "No such staff account"),
    }
)


@dataclass
class LoginResult:
    """Tokens and who they belong to."""

    access_token: str
    refresh_token: str
    expires_in: int
    user: User | StaffAccount
    kind: str


def _tokens_for(kind: str, principal: User | StaffAccount, family_id: str | None = None) -> LoginResult:
    access, ttl = issue_access_token(kind, principal.id, principal.token_version)
    refresh = issue_refresh_token(kind, principal.id, family_id)
    return LoginResult(access, refresh, ttl, principal, kind)


def login_with_wechat(code: str) -> LoginResult:
    """Exchange a wx.login code (jscode2session) for our tokens, making the user on first login."""
    try:
        session = wechat_client().code2session(code)
    except WeChatUserBlocked as exc:
        # Not "log in again": a new wx.login code gives the same answer, so the client must not loop.
        raise Forbidden("WECHAT_USER_BLOCKED", details={"errcode": exc.errcode}) from exc
    except WeChatCodeInvalid as exc:
        raise Unauthorized("WECHAT_CODE_INVALID", details={"errcode": exc.errcode}) from exc
    except WeChatError as exc:
        raise wechat_unavailable(exc) from exc
    user = find_or_create_user(session.openid, session.unionid)
    if not user.active:
        raise Unauthorized("ACCOUNT_DISABLED")
    return _tokens_for("user", user)


def login_staff(username: str, password: str, unlock_code: str | None = None) -> LoginResult:
    """Log a console account in for the API: its password checked, a pair of tokens issued."""
    return _tokens_for("staff", check_staff_password(username, password, unlock_code))


# --- staff passwords: locks per (account, address), an unlock code after many failures -----------


def check_staff_password(username: str, password: str, unlock_code: str | None = None) -> StaffAccount:
    """Check a staff password from this request's address.

    Unknown user, wrong password and a locked (account, address) pair all answer INVALID_CREDENTIALS after
    one argon2 verification. Each attempt first takes one of the pair's five tries atomically (an expired
    lock or a quiet quarter hour gives a fresh five), so parallel guesses cannot share a try; the fifth
    wrong one locks that pair for fifteen minutes, and other addresses are not affected. Wrong passwords
    from all addresses are also counted per account: STAFF_UNLOCK_CODE_AFTER of them within fifteen
    minutes and the right password alone no longer suffices (UNLOCK_CODE_REQUIRED, told only to whoever
    knows it) until it comes with a one-time code from an admin.
    """
    staff = db.session.scalars(select(StaffAccount).where(StaffAccount.username == username)).first()
    now = clock.now()
    address = request_address()
    if staff is None:
        verify_password(None, password)  # the same time as a wrong password
        raise Unauthorized("INVALID_CREDENTIALS")
    attempt = _take_a_try(staff.id, address, now)
    if attempt is None:
        verify_password(None, password)  # locked: the same time and answer, the password not checked
        raise Unauthorized("INVALID_CREDENTIALS")
    if not verify_password(staff.password_hash, password):
        if attempt >= MAX_FAILED_LOGINS:
            _lock_pair(staff.id, address, now)
        _count_account_failure(staff, now)
        keep_changes_despite_error()  # the counts must survive the 401
        raise Unauthorized("INVALID_CREDENTIALS")
    if not staff.active:
        raise Unauthorized("ACCOUNT_DISABLED")
    db.session.refresh(staff)  # unlock_required as set by parallel failures
    if staff.unlock_required:
        if not unlock_code or not _spend_unlock_code(staff.id, unlock_code, now):
            keep_changes_despite_error()  # the try stays taken: codes are guessed no faster than passwords
            raise Unauthorized("UNLOCK_CODE_REQUIRED")
        _clear_locks(staff)
        audit.record("staff.unlocked", Principal(kind="staff", staff=staff), "staff", staff.id)
    else:
        db.session.execute(
            delete(StaffLoginLock).where(
                StaffLoginLock.staff_id == staff.id, StaffLoginLock.address == address
            )
        )
    staff.last_login_at = now
    if needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    db.session.flush()
    return staff


def _upsert() -> Any:
    return postgresql_insert if is_postgres() else sqlite_insert


def _take_a_try(staff_id: int, address: str, now: datetime) -> int | None:
    """Count one more attempt of (account, address) in one INSERT … ON CONFLICT DO UPDATE … RETURNING:
    its number since the last reset, or None when the pair has no try left (or is locked)."""
    locks = StaffLoginLock.__table__
    fresh = or_(
        and_(locks.c.locked_until.is_not(None), locks.c.locked_until <= now),
        and_(locks.c.locked_until.is_(None), locks.c.updated_at <= now - LOCKOUT),
    )
    statement = (
        _upsert()(locks)
        .values(staff_id=staff_id, address=address, failed_logins=1, locked_until=None, updated_at=now)
        .on_conflict_do_update(
            index_elements=[locks.c.staff_id, locks.c.address],
            set_={
                "failed_logins": case((fresh, 1), else_=locks.c.failed_logins + 1),
                "locked_until": case((fresh, null()), else_=locks.c.locked_until),
                "updated_at": now,
            },
            where=or_(fresh, and_(locks.c.locked_until.is_(None), locks.c.failed_logins < MAX_FAILED_LOGINS)),
        )
        .returning(locks.c.failed_logins)
    )
    taken: int | None = db.session.execute(statement).scalar_one_or_none()
    return taken


def _lock_pair(staff_id: int, address: str, now: datetime) -> None:
    db.session.execute(
        update(StaffLoginLock)
        .where(StaffLoginLock.staff_id == staff_id, StaffLoginLock.address == address)
        .values(locked_until=now + LOCKOUT)
    )


def _count_account_failure(staff: StaffAccount, now: datetime) -> None:
    """One more wrong password of the account from any address, in a single UPDATE … RETURNING (parallel
    guesses queue on the row); the one reaching the limit sets unlock_required and is audited."""
    limit = int(current_app.config["STAFF_UNLOCK_CODE_AFTER"])
    window_over = or_(
        StaffAccount.failures_since.is_(None), StaffAccount.failures_since <= now - ACCOUNT_WINDOW
    )
    count = case((window_over, 1), else_=StaffAccount.failed_logins + 1)
    reached = db.session.execute(
        update(StaffAccount)
        .where(StaffAccount.id == staff.id)
        .values(
            failed_logins=count,
            failures_since=case((window_over, now), else_=StaffAccount.failures_since),
            unlock_required=case((count >= limit, True), else_=StaffAccount.unlock_required),
        )
        .returning(StaffAccount.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if reached == limit:
        audit.record("staff.locked", None, "staff", staff.id, None, {"failures": reached})


def _code_hash(code: str) -> str:
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(f"linli-unlock:{cleaned}".encode()).hexdigest()


def _spend_unlock_code(staff_id: int, code: str, now: datetime) -> bool:
    """Use a live code of this account once (a single UPDATE: two parallel logins cannot both use it)."""
    spent = db.session.execute(
        update(StaffUnlockCode)
        .where(
            StaffUnlockCode.staff_id == staff_id,
            StaffUnlockCode.code_hash == _code_hash(code),
            StaffUnlockCode.used_at.is_(None),
            StaffUnlockCode.expires_at > now,
        )
        .values(used_at=now)
        .returning(StaffUnlockCode.id)
    ).scalar_one_or_none()
    return spent is not None


def _clear_locks(staff: StaffAccount) -> None:
    db.session.execute(delete(StaffLoginLock).where(StaffLoginLock.staff_id == staff.id))
    staff.unlock_required, staff.failed_logins, staff.failures_since = False, 0, None


def create_unlock_code(actor: Principal | None, staff: StaffAccount) -> str:
    """A one-time code (8 characters, 30 minutes) for an account that needs one; earlier codes stop.
    Shown once: only its hash is kept. ``actor`` None: the command line."""
    now = clock.now()
    code = "".join(secrets.choice(UNLOCK_CODE_ALPHABET) for _ in range(UNLOCK_CODE_LENGTH))
    db.session.execute(
        update(StaffUnlockCode)
        .where(StaffUnlockCode.staff_id == staff.id, StaffUnlockCode.used_at.is_(None))
        .values(expires_at=now)
    )
    db.session.add(
        StaffUnlockCode(
            staff_id=staff.id,
            code_hash=_code_hash(code),
            created_by_id=actor.staff.id if actor is not None and actor.staff is not None else None,
            expires_at=now + UNLOCK_CODE_TTL,
        )
    )
    audit.record("staff.unlock_requested", actor, "staff", staff.id, None, {"username": staff.username})
    db.session.flush()
    return code


def staff_of_subtree(principal: Principal) -> list[StaffAccount]:
    """The accounts of an admin's subtree, by username."""
    if not principal.is_admin or principal.staff is None:
        return []
    return list(
        db.session.scalars(
            select(StaffAccount)
            .join(OrgUnit, StaffAccount.org_id == OrgUnit.id)
            .where(OrgUnit.path.startswith(principal.staff.org.path))
            .order_by(StaffAccount.username)
        )
    )


def accounts_needing_unlock(principal: Principal) -> int:
    """How many enabled accounts of an admin's subtree need an unlock code to log in (0 for others)."""
    if not principal.is_admin or principal.staff is None:
        return 0
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(StaffAccount)
            .join(OrgUnit, StaffAccount.org_id == OrgUnit.id)
            .where(
                OrgUnit.path.startswith(principal.staff.org.path),
                StaffAccount.unlock_required.is_(True),
                StaffAccount.active.is_(True),
            )
        )
        or 0
    )


def locked_address_counts(staff_ids: list[int]) -> dict[int, int]:
    """How many addresses are locked out of each account right now (accounts without one are left out)."""
    rows = db.session.execute(
        select(StaffLoginLock.staff_id, func.count())
        .where(StaffLoginLock.staff_id.in_(staff_ids), StaffLoginLock.locked_until > clock.now())
        .group_by(StaffLoginLock.staff_id)
    )
    return {staff_id: int(count) for staff_id, count in rows}


# --- ending logins: passwords, disabling, logout everywhere ---------------------------------------


def _check_new_password(new_password: str) -> None:
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise AppError("VALIDATION_ERROR", status=422, details={"password": "at least 8 characters"})


def change_password(
    staff: StaffAccount, current: str, new_password: str, keep_sid: str | None = None
) -> None:
    """A staff member changes their own password: the current one is checked (a try of this address, as
    at login); every other console session, access token and refresh token of the account ends."""
    now = clock.now()
    address = request_address()
    attempt = _take_a_try(staff.id, address, now)
    if attempt is None or not verify_password(staff.password_hash, current):
        if attempt is not None and attempt >= MAX_FAILED_LOGINS:
            _lock_pair(staff.id, address, now)
        keep_changes_despite_error()
        raise AppError("PASSWORD_WRONG", status=400)
    _check_new_password(new_password)
    db.session.execute(
        delete(StaffLoginLock).where(StaffLoginLock.staff_id == staff.id, StaffLoginLock.address == address)
    )
    staff.password_hash = hash_password(new_password)
    end_logins("staff", staff, "password_changed", keep_sid)
    audit.record("staff.password_changed", Principal(kind="staff", staff=staff), "staff", staff.id)


def set_password(staff: StaffAccount, new_password: str) -> None:
    """Set a password from the command line: every login of the account ends, its locks are cleared."""
    _check_new_password(new_password)
    staff.password_hash = hash_password(new_password)
    _clear_locks(staff)
    end_logins("staff", staff, "password_changed")
    audit.record("staff.password_changed", None, "staff", staff.id, None, {"by": "cli"})


def staff_in_scope(principal: Principal, staff_id: int) -> StaffAccount:
    """An account an admin manages (its org in the admin's subtree), else 404/403."""
    staff = db.session.get(StaffAccount, staff_id)
    if staff is None:
        raise NotFound("STAFF_NOT_FOUND")
    authorize(principal, "staff.manage", staff)
    return staff


def set_staff_active(principal: Principal, staff_id: int, active: bool) -> StaffAccount:
    """An admin disables (every login ends) or enables an account of their subtree; again: unchanged."""
    staff = staff_in_scope(principal, staff_id)
    if principal.staff is not None and staff.id == principal.staff.id:
        raise Conflict("CANNOT_DISABLE_SELF")
    if staff.active == active:
        return staff
    staff.active = active
    if active:
        audit.record("staff.enabled", principal, "staff", staff.id)
    else:
        revoked = end_logins("staff", staff, "disabled")
        audit.record(
            "staff.disabled", principal, "staff", staff.id, None, {"refresh_tokens_revoked": revoked}
        )
    db.session.flush()
    return staff


def logout_everywhere(principal: Principal) -> None:
    """End every login of the caller: access tokens, refresh tokens and (staff) console sessions."""
    if principal.staff is not None:
        end_logins("staff", principal.staff, "logout_everywhere")
        audit.record("staff.logged_out_everywhere", principal, "staff", principal.staff.id)
    elif principal.user is not None:
        end_logins("user", principal.user, "logout_everywhere")
        audit.record("user.logged_out_everywhere", principal, "user", principal.user.id)


def refresh_login(refresh_token: str) -> LoginResult:
    """Rotate a refresh token into a new pair of tokens of the same family; the same token sent again within
    REFRESH_REUSE_GRACE_SECONDS answers the same pair (server/auth/tokens.py)."""
    rotation = rotate_refresh_token(refresh_token)
    spent = rotation.spent
    principal: User | StaffAccount | None
    if spent.principal_kind == "user":
        principal = db.session.get(User, spent.principal_id)
    else:
        principal = db.session.get(StaffAccount, spent.principal_id)
    if principal is None:
        raise Unauthorized("REFRESH_TOKEN_INVALID")
    if not principal.active:
        raise Unauthorized("ACCOUNT_DISABLED")
    # The access token is made from the moment of the first use, so a resend in the grace window gets the
    # very same pair; expires_in is what is left of it.
    access, ttl = issue_access_token(
        spent.principal_kind,
        principal.id,
        principal.token_version,
        issued_at=rotation.issued_at,
        jti=rotation.access_jti,
    )
    left = ttl - int(clock.wall().timestamp() - int(rotation.issued_at.timestamp()))
    return LoginResult(access, rotation.successor, max(left, 0), principal, spent.principal_kind)


def logout(refresh_token: str) -> None:
    """Revoke the login family of a refresh token."""
    revoke_refresh_token(refresh_token)
