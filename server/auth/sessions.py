"""Console sessions the server can end: the cookie carries a random id, the database its hash and state."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, has_request_context, request
from sqlalchemy import func, select, update

from server import clock
from server.auth.models import ConsoleSession
from server.auth.tokens import revoke_principal_tokens
from server.db import db
from server.users.models import StaffAccount, User

TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often per session


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def request_address() -> str:
    """The caller's address as the app sees it (after ProxyFix), or "-" outside a request."""
    if not has_request_context():
        return "-"
    return (request.remote_addr or "-")[:64]


def start_console_session(staff: StaffAccount) -> str:
    """Store a new session of ``staff`` and return its id (only its SHA-256 is stored)."""
    sid = secrets.token_urlsafe(32)
    now = clock.now()
    agent = request.user_agent.string[:255] if has_request_context() else None
    db.session.add(
        ConsoleSession(
            sid_hash=_hash(sid),
            staff_id=staff.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + current_app.permanent_session_lifetime,
            address=request_address(),
            user_agent=agent or None,
        )
    )
    db.session.flush()
    return sid


def live_console_session(sid: str) -> tuple[ConsoleSession, StaffAccount] | None:
    """The session of this id with its active account, unless it ended or expired."""
    now = clock.now()
    found = db.session.execute(
        select(ConsoleSession, StaffAccount)
        .join(StaffAccount, StaffAccount.id == ConsoleSession.staff_id)
        .where(
            ConsoleSession.sid_hash == _hash(sid),
            ConsoleSession.ended_at.is_(None),
            ConsoleSession.expires_at > now,
            StaffAccount.active.is_(True),
        )
    ).first()
    if found is None:
        return None
    row, staff = found[0], found[1]
    if row.last_seen_at <= now - TOUCH_EVERY:
        row.last_seen_at = now
    return row, staff


def end_console_session(sid: str, reason: str) -> None:
    """End one session (logout); an unknown or ended one is left as it is."""
    db.session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.sid_hash == _hash(sid), ConsoleSession.ended_at.is_(None))
        .values(ended_at=clock.now(), end_reason=reason)
    )


def end_staff_sessions(staff_id: int, reason: str, keep_sid: str | None = None) -> int:
    """End every live session of an account (but ``keep_sid``'s); how many were ended."""
    query = update(ConsoleSession).where(
        ConsoleSession.staff_id == staff_id, ConsoleSession.ended_at.is_(None)
    )
    if keep_sid is not None:
        query = query.where(ConsoleSession.sid_hash != _hash(keep_sid))
    result = db.session.execute(
        query.values(ended_at=clock.now(), end_reason=reason).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def live_session_counts(staff_ids: list[int]) -> dict[int, int]:
    """How many console sessions of each account are live now (accounts without one are left out)."""
    rows = db.session.execute(
        select(ConsoleSession.staff_id, func.count())
        .where(
            ConsoleSession.staff_id.in_(staff_ids),
            ConsoleSession.ended_at.is_(None),
            ConsoleSession.expires_at > clock.now(),
        )
        .group_by(ConsoleSession.staff_id)
    )
    return {staff_id: int(count) for staff_id, count in rows}


def end_logins(kind: str, account: User | StaffAccount, reason: str, keep_sid: str | None = None) -> int:
    """Stop every login of an account: its access tokens (a new token version), its refresh tokens and, for
    staff, its console sessions (but ``keep_sid``'s). How many refresh tokens were still live."""
    account.token_version += 1
    revoked = revoke_principal_tokens(kind, account.id)
    if isinstance(account, StaffAccount):
        end_staff_sessions(account.id, reason, keep_sid)
    db.session.flush()
    return revoked
