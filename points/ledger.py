"""Posting to the double-entry ledger: idempotency keys, row locks in id order, append-only entries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from points.models import USER_ACCOUNT_KINDS, Account, LedgerEntry, LedgerTransaction, PointsEarning
from server.db import db, is_postgres, utcnow
from server.errors import Conflict
from server.schemas import SERVER_ZONE

Status = Literal["done", "already_done", "refused"]


@dataclass(frozen=True)
class LedgerResult:
    """What a posting did: points moved, or why not."""

    status: Status
    points: int = 0
    transaction_id: int | None = None
    code: str | None = None  # why it was refused, e.g. CAP_REACHED, INSUFFICIENT_POINTS
    capped: bool = False  # an award cut down to what a cap still allowed

    @property
    def moved(self) -> bool:
        """True when this call (not an earlier one) moved points."""
        return self.status == "done"


class Refused(Exception):
    """Raised inside a posting plan to refuse it; nothing is written."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Plan:
    """The legs of a transaction, decided while the user's accounts are locked."""

    legs: list[tuple[Account, int]]
    amount: int
    memo: str
    capped: bool = False
    earning: int = 0  # signed change of the user's earnings in ``earning_month``
    earning_month: date | None = None


def local_today(at: datetime | None = None) -> date:
    """The date in the server's zone (Asia/Shanghai): caps and months follow the local calendar."""
    return (at or utcnow()).astimezone(SERVER_ZONE).date()


def month_start(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def fingerprint(**fields: Any) -> str:
    """A stable hash of what a request asked for, to tell a replay from a changed request."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _insert(model: Any) -> Any:
    return pg_insert(model) if is_postgres() else sqlite_insert(model)


def account(
    key: str,
    kind: str,
    *,
    user_id: int | None = None,
    community_id: int | None = None,
    category: str | None = None,
) -> Account:
    """Get or create an account by its key (concurrent creators make one row)."""
    found = db.session.scalars(select(Account).where(Account.key == key)).first()
    if found is not None:
        return found
    balance = 0 if kind in ("available", "held") else None
    db.session.execute(
        _insert(Account)
        .values(
            key=key, kind=kind, user_id=user_id, community_id=community_id, category=category, balance=balance
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return db.session.scalars(select(Account).where(Account.key == key)).one()


def issuing_account(community_id: int, category: str) -> Account:
    """Where a community's points of a category come from."""
    return account(
        f"issuing:{community_id}:{category}", "issuing", community_id=community_id, category=category
    )


def redeemed_account(community_id: int | None) -> Account:
    """Where a community's spent points go."""
    return account(f"redeemed:{community_id or 0}", "redeemed", community_id=community_id)


def expired_account(community_id: int | None) -> Account:
    """Where expired points go."""
    return account(f"expired:{community_id or 0}", "expired", community_id=community_id)


def lock_user_accounts(user_id: int) -> tuple[Account, Account]:
    """Lock the user's (available, held) accounts in id order, creating them on first use; fresh balances."""
    keys = (f"user:{user_id}:available", f"user:{user_id}:held")
    query = select(Account).where(Account.key.in_(keys)).order_by(Account.id)
    if is_postgres():
        query = query.with_for_update()
    query = query.execution_options(populate_existing=True)
    rows = {a.key: a for a in db.session.scalars(query)}
    if len(rows) < len(keys):
        for key, kind in zip(keys, USER_ACCOUNT_KINDS, strict=True):
            if key not in rows:
                account(key, kind, user_id=user_id)
        rows = {a.key: a for a in db.session.scalars(query)}
    return rows[keys[0]], rows[keys[1]]


def find_by_key(key: str) -> LedgerTransaction | None:
    """The transaction recorded under an idempotency key."""
    return db.session.scalars(
        select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
    ).first()


def _replay(existing: LedgerTransaction, request_hash: str | None) -> LedgerResult:
    if request_hash is not None and existing.request_hash not in (None, request_hash):
        raise Conflict("IDEMPOTENCY_KEY_REUSED", details={"transaction_id": existing.id})
    return LedgerResult("already_done", existing.amount, existing.id)


def post(
    kind: str,
    user_id: int,
    plan: Callable[[Account, Account], Plan],
    *,
    idempotency_key: str | None,
    request_hash: str | None = None,
    **columns: Any,
) -> LedgerResult:
    """Post one transaction for a user: lock their accounts, plan, write the transaction and its entries.

    ``plan`` runs while the user's accounts are locked, so the caps and balances it reads cannot change
    under it; it raises ``Refused`` to write nothing. The key is looked up under the lock, so a racing
    duplicate of the same request waits for the first and then replays its result.
    """
    available, held = lock_user_accounts(user_id)
    if idempotency_key is not None:
        existing = find_by_key(idempotency_key)
        if existing is not None:
            return _replay(existing, request_hash)
    try:
        decided = plan(available, held)
        for acct, amount in decided.legs:
            if acct.balance is not None and acct.balance + amount < 0:
                raise Refused("INSUFFICIENT_POINTS")
    except Refused as refusal:
        return LedgerResult("refused", code=refusal.code)
    try:
        txn = _write(kind, user_id, decided, idempotency_key, request_hash, columns)
    except IntegrityError as exc:
        # Only a key reused across users gets past the lock; the unique index is the backstop.
        raise Conflict("IDEMPOTENCY_KEY_REUSED", details={"key": idempotency_key}) from exc
    return LedgerResult("done", decided.amount, txn.id, capped=decided.capped)


def _write(
    kind: str,
    user_id: int,
    plan: Plan,
    idempotency_key: str | None,
    request_hash: str | None,
    columns: dict[str, Any],
) -> LedgerTransaction:
    if sum(amount for _, amount in plan.legs) != 0 or len(plan.legs) < 2:
        raise RuntimeError(f"unbalanced transaction {plan.legs}")  # a programming error, never input
    now = utcnow()
    txn = LedgerTransaction(
        kind=kind,
        user_id=user_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        amount=plan.amount,
        memo=plan.memo,
        local_date=local_today(now),
        created_at=now,
        **columns,
    )
    db.session.add(txn)
    db.session.flush()
    for acct, amount in plan.legs:
        db.session.add(LedgerEntry(transaction_id=txn.id, account_id=acct.id, amount=amount, created_at=now))
        if acct.balance is not None:
            # Conditional on the row we locked; the CHECK constraint is the backstop.
            result = db.session.execute(
                update(Account)
                .where(Account.id == acct.id, Account.balance + amount >= 0)
                .values(balance=Account.balance + amount)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                # post() checked the locked balance; reaching this means the lock was not held.
                raise RuntimeError(f"balance of account {acct.id} changed under its lock")
            set_committed_value(acct, "balance", acct.balance + amount)
    if plan.earning and plan.earning_month is not None and txn.community_id is not None:
        add_earning(txn.user_id, txn.community_id, plan.earning_month, plan.earning)
    db.session.flush()
    return txn


def add_earning(user_id: int, community_id: int, month: date, points: int) -> None:
    """Keep the earnings summary in step (upsert)."""
    statement = _insert(PointsEarning).values(
        user_id=user_id, community_id=community_id, month=month, points=points
    )
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "community_id", "month"],
        set_={"points": PointsEarning.points + statement.excluded.points},
    )
    db.session.execute(statement)
