"""Posting to the double-entry ledger: idempotency keys, row locks in id order, append-only entries.

The postings go to the database as prepared Core statements on the session's connection, not
through the ORM's unit of work: a posting is on the path of every check-in, award and redemption,
and the ORM's bookkeeping cost five times the statements themselves (``bench/ledger.py``). Nothing
here hands out ORM objects, so none can go stale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Literal

from sqlalchemy import Connection, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from points.models import USER_ACCOUNT_KINDS, Account, LedgerEntry, LedgerTransaction, PointsEarning
from server import clock
from server.db import db, is_postgres
from server.errors import Conflict

Status = Literal["done", "already_done", "refused"]

_accounts = Account.__table__
_transactions = LedgerTransaction.__table__
_entries = LedgerEntry.__table__
_earnings = PointsEarning.__table__


@dataclass(frozen=True)
class LedgerResult:
    """What a posting did: points moved, or why not."""

    CARRIES_ERROR_CODE: ClassVar[bool] = True  # its code may be raised (server/error_codes.py)

    status: Status
    points: int = 0
    transaction_id: int | None = None
    code: str | None = None  # why it was refused, e.g. CAP_REACHED, INSUFFICIENT_POINTS
    capped: bool = False  # an award cut down to what a cap still allowed
    # The figures behind a refusal, for the error's details (e.g. POINTS_NOT_EARNED_HERE's needed and left).
    details: Mapping[str, int] | None = field(default=None, hash=False)

    @property
    def moved(self) -> bool:
        """True when this call (not an earlier one) moved points."""
        return self.status == "done"


@dataclass(frozen=True)
class LedgerAccount:
    """An account as a posting sees it: a user's with the balance read under its lock, a system one bare."""

    id: int
    balance: int | None  # cached for a user's available and held, None for system accounts


class Refused(Exception):
    """Raised inside a posting plan to refuse it; nothing is written."""

    CARRIES_ERROR_CODE: ClassVar[bool] = True

    def __init__(self, code: str, details: Mapping[str, int] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


@dataclass
class Plan:
    """The legs of a transaction, decided while the user's accounts are locked."""

    legs: list[tuple[LedgerAccount, int]]
    amount: int
    memo: str
    capped: bool = False
    earning: int = 0  # signed change of the user's earnings in ``earning_month``
    earning_month: date | None = None


# --- the statements, built once (SQLAlchemy caches their compiled form) ----------------------------

_ACCOUNT_BY_KEY = select(_accounts.c.id, _accounts.c.balance).where(_accounts.c.key == bindparam("key"))
# The user's two accounts, locked in id order, with what is recorded under the posting's key (if anything)
# as seen when the statement began. FOR UPDATE renders as nothing on SQLite, where BEGIN IMMEDIATE already
# serialises writers.
_LOCK_ACCOUNTS = (
    select(
        _accounts.c.id,
        _accounts.c.key,
        _accounts.c.balance,
        _transactions.c.id.label("prior_id"),
        _transactions.c.user_id.label("prior_user_id"),
        _transactions.c.amount.label("prior_amount"),
        _transactions.c.request_hash.label("prior_hash"),
    )
    .select_from(
        _accounts.outerjoin(_transactions, _transactions.c.idempotency_key == bindparam("idempotency_key"))
    )
    .where(_accounts.c.key.in_(bindparam("keys", expanding=True)))
    .order_by(_accounts.c.id)
    .with_for_update(of=_accounts)
)
_TRANSACTION_BY_KEY = select(
    _transactions.c.id.label("prior_id"),
    _transactions.c.user_id.label("prior_user_id"),
    _transactions.c.amount.label("prior_amount"),
    _transactions.c.request_hash.label("prior_hash"),
).where(_transactions.c.idempotency_key == bindparam("key"))
_INSERT_ENTRY = insert(_entries)
# Conditional on the row we locked; the CHECK constraint is the backstop.
_MOVE_BALANCE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"), _accounts.c.balance + bindparam("delta") >= 0)
    .values(balance=_accounts.c.balance + bindparam("delta"))
)


def _new_account_statement(dialect_insert: Callable[[Any], Any]) -> Any:
    return dialect_insert(_accounts).on_conflict_do_nothing(index_elements=["key"])


def _earning_statement(dialect_insert: Callable[[Any], Any]) -> Any:
    statement = dialect_insert(_earnings)
    return statement.on_conflict_do_update(
        index_elements=["user_id", "community_id", "month"],
        set_={"points": _earnings.c.points + statement.excluded.points},
    )


def _transaction_statement(dialect_insert: Callable[[Any], Any]) -> Any:
    statement = dialect_insert(_transactions).on_conflict_do_nothing(index_elements=["idempotency_key"])
    return statement.returning(_transactions.c.id)


_INSERT_TRANSACTION = {
    "postgresql": _transaction_statement(pg_insert),
    "sqlite": _transaction_statement(sqlite_insert),
}
_NEW_ACCOUNT = {
    "postgresql": _new_account_statement(pg_insert),
    "sqlite": _new_account_statement(sqlite_insert),
}
_ADD_EARNING = {"postgresql": _earning_statement(pg_insert), "sqlite": _earning_statement(sqlite_insert)}


def core_connection() -> Connection:
    """The session's connection, after writing what the ORM still holds (these statements bypass it)."""
    db.session.flush()
    return db.session.connection()


def _dialect() -> str:
    return "postgresql" if is_postgres() else "sqlite"


# --- accounts --------------------------------------------------------------------------------------


def account(
    key: str,
    kind: str,
    *,
    user_id: int | None = None,
    community_id: int | None = None,
    category: str | None = None,
) -> LedgerAccount:
    """Get or create an account by its key (concurrent creators make one row)."""
    conn = core_connection()
    found = conn.execute(_ACCOUNT_BY_KEY, {"key": key}).first()
    if found is None:
        balance = 0 if kind in USER_ACCOUNT_KINDS else None
        values = {
            "key": key,
            "kind": kind,
            "user_id": user_id,
            "community_id": community_id,
            "category": category,
            "balance": balance,
        }
        conn.execute(_NEW_ACCOUNT[_dialect()], values)
        found = conn.execute(_ACCOUNT_BY_KEY, {"key": key}).one()
    return LedgerAccount(found.id, found.balance)


def issuing_key(community_id: int, category: str) -> str:
    """The key of the account a community's points of a category come from."""
    return f"issuing:{community_id}:{category}"


def issuing_account(community_id: int, category: str) -> LedgerAccount:
    """Where a community's points of a category come from."""
    return account(
        issuing_key(community_id, category), "issuing", community_id=community_id, category=category
    )


def redeemed_account(community_id: int | None) -> LedgerAccount:
    """Where a community's spent points go."""
    return account(f"redeemed:{community_id or 0}", "redeemed", community_id=community_id)


def expired_account(community_id: int | None) -> LedgerAccount:
    """Where expired points go."""
    return account(f"expired:{community_id or 0}", "expired", community_id=community_id)


@dataclass(frozen=True)
class Prior:
    """The transaction already recorded under an idempotency key."""

    id: int
    user_id: int
    amount: int
    request_hash: str | None


def _prior(row: Any) -> Prior | None:
    if row is None or row.prior_id is None:
        return None
    return Prior(row.prior_id, row.prior_user_id, row.prior_amount, row.prior_hash)


def _lock(user_id: int, idempotency_key: str | None) -> tuple[LedgerAccount, LedgerAccount, Prior | None]:
    keys = [f"user:{user_id}:available", f"user:{user_id}:held"]
    conn = core_connection()
    params = {"keys": keys, "idempotency_key": idempotency_key}
    rows = {row.key: row for row in conn.execute(_LOCK_ACCOUNTS, params)}
    if len(rows) < len(keys):
        for key, kind in zip(keys, USER_ACCOUNT_KINDS, strict=True):
            if key not in rows:
                account(key, kind, user_id=user_id)
        rows = {row.key: row for row in conn.execute(_LOCK_ACCOUNTS, params)}
    available, held = (rows[key] for key in keys)
    return (
        LedgerAccount(available.id, available.balance),
        LedgerAccount(held.id, held.balance),
        _prior(available),
    )


def lock_user_accounts(user_id: int) -> tuple[LedgerAccount, LedgerAccount]:
    """Lock the user's (available, held) accounts in id order, creating them on first use; fresh balances."""
    available, held, _ = _lock(user_id, None)
    return available, held


# --- posting ---------------------------------------------------------------------------------------


def find_by_key(key: str) -> Prior | None:
    """The transaction recorded under an idempotency key, as the database has it now."""
    return _prior(core_connection().execute(_TRANSACTION_BY_KEY, {"key": key}).first())


def _replay(prior: Prior, user_id: int, request_hash: str | None) -> LedgerResult:
    if prior.user_id != user_id or (
        request_hash is not None and prior.request_hash not in (None, request_hash)
    ):
        raise Conflict("IDEMPOTENCY_KEY_REUSED", details={"transaction_id": prior.id})
    return LedgerResult("already_done", prior.amount, prior.id)


def post(
    kind: str,
    user_id: int,
    plan: Callable[[LedgerAccount, LedgerAccount], Plan],
    *,
    idempotency_key: str | None,
    request_hash: str | None = None,
    **columns: Any,
) -> LedgerResult:
    """Post one transaction for a user: lock their accounts, plan, write the transaction and its entries.

    ``plan`` runs while the user's accounts are locked, so the caps and balances it reads cannot change
    under it; it raises ``Refused`` to write nothing. A key already used replays the first result. The
    locking statement sees the key as it was when it began; a duplicate committed while it waited for the
    lock is found when the plan refuses or when the insert meets the key (ON CONFLICT DO NOTHING), and
    replayed, so racing duplicates of one request get one result without a statement more in the common case.
    """
    available, held, prior = _lock(user_id, idempotency_key)
    if prior is not None:
        return _replay(prior, user_id, request_hash)
    try:
        decided = plan(available, held)
        for acct, amount in decided.legs:
            if acct.balance is not None and acct.balance + amount < 0:
                raise Refused("INSUFFICIENT_POINTS")
    except Refused as refusal:
        prior = find_by_key(idempotency_key) if idempotency_key is not None else None
        if prior is not None:
            return _replay(prior, user_id, request_hash)
        return LedgerResult("refused", code=refusal.code, details=refusal.details)
    transaction_id = _write(kind, user_id, decided, idempotency_key, request_hash, columns)
    if transaction_id is None:  # the key was taken after the lock's statement began
        prior = find_by_key(str(idempotency_key))
        assert prior is not None, "a conflicting key that cannot be found"  # noqa: S101  (the row that took the key is committed)
        return _replay(prior, user_id, request_hash)
    return LedgerResult("done", decided.amount, transaction_id, capped=decided.capped)


# Every column of a transaction but its id, in the table's order: the one-statement posting names them all.
_TRANSACTION_COLUMNS = [column.name for column in _transactions.columns if column.name != "id"]
# PostgreSQL: the transaction, its entries, the cached balances and the earnings summary in one statement
# (data-modifying CTEs), one round trip instead of four. The balance update is conditional as on SQLite;
# when the key is already taken nothing is written and the id is NULL.
_WRITE_POSTGRES = text(
    f"""
    WITH txn AS (
        INSERT INTO points_transactions ({", ".join(_TRANSACTION_COLUMNS)})
        VALUES ({", ".join(":" + name for name in _TRANSACTION_COLUMNS)})
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
    ), legs AS (
        INSERT INTO points_entries (transaction_id, account_id, amount, created_at)
        SELECT txn.id, leg.account_id, leg.amount, CAST(:created_at AS timestamptz)
        FROM txn, unnest(CAST(:leg_accounts AS integer[]), CAST(:leg_amounts AS bigint[]))
            AS leg(account_id, amount)
    ), moved AS (
        UPDATE points_accounts AS account SET balance = account.balance + cached.delta
        FROM txn, unnest(CAST(:cached_accounts AS integer[]), CAST(:cached_deltas AS bigint[]))
            AS cached(account_id, delta)
        WHERE account.id = cached.account_id AND account.balance + cached.delta >= 0
        RETURNING account.id
    ), earned AS (
        INSERT INTO points_earnings (user_id, community_id, month, points)
        SELECT CAST(:user_id AS integer), CAST(:community_id AS integer), CAST(:earning_month AS date),
            CAST(:earning AS bigint)
        FROM txn
        WHERE CAST(:earning AS bigint) <> 0 AND CAST(:community_id AS integer) IS NOT NULL
        ON CONFLICT (user_id, community_id, month)
        DO UPDATE SET points = points_earnings.points + excluded.points
    )
    SELECT (SELECT id FROM txn) AS id, (SELECT count(*) FROM moved) AS moved
    """  # noqa: S608  (built once from the table's own column names; values are bound parameters)
)


def _write(
    kind: str,
    user_id: int,
    plan: Plan,
    idempotency_key: str | None,
    request_hash: str | None,
    columns: dict[str, Any],
) -> int | None:
    """Write the transaction, its entries, balances and earnings; None when the key was already taken."""
    if sum(amount for _, amount in plan.legs) != 0 or len(plan.legs) < 2:
        raise RuntimeError(f"unbalanced transaction {plan.legs}")  # a programming error, never input
    now = clock.now()
    values: dict[str, Any] = dict.fromkeys(_TRANSACTION_COLUMNS)
    values.update(columns)
    values.update(
        kind=kind,
        user_id=user_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        amount=plan.amount,
        memo=plan.memo,
        local_date=clock.local_today(now),
        created_at=now,
    )
    cached = [(acct.id, amount) for acct, amount in plan.legs if acct.balance is not None]
    earning = plan.earning if plan.earning_month is not None else 0
    if is_postgres():
        row = (
            core_connection()
            .execute(
                _WRITE_POSTGRES,
                {
                    **values,
                    "leg_accounts": [acct.id for acct, _ in plan.legs],
                    "leg_amounts": [amount for _, amount in plan.legs],
                    "cached_accounts": [account_id for account_id, _ in cached],
                    "cached_deltas": [delta for _, delta in cached],
                    "earning_month": plan.earning_month,
                    "earning": earning,
                },
            )
            .one()
        )
        if row.id is None:
            return None
        transaction_id, moved = int(row.id), int(row.moved)
    else:
        written = _write_statement_by_statement(values, plan, cached, earning)
        if written is None:
            return None
        transaction_id, moved = written
    if moved != len(cached):
        # post() checked the locked balances; reaching this means a lock was not held.
        raise RuntimeError(f"a balance of {cached} changed under its lock")
    return transaction_id


def _write_statement_by_statement(
    values: dict[str, Any], plan: Plan, cached: list[tuple[int, int]], earning: int
) -> tuple[int, int] | None:
    """The same writes as _WRITE_POSTGRES, one statement each (SQLite has no data-modifying CTEs)."""
    conn = core_connection()
    transaction_id: int | None = conn.execute(_INSERT_TRANSACTION[_dialect()], values).scalar()
    if transaction_id is None:
        return None
    conn.execute(
        _INSERT_ENTRY,
        [
            {
                "transaction_id": transaction_id,
                "account_id": acct.id,
                "amount": amount,
                "created_at": values["created_at"],
            }
            for acct, amount in plan.legs
        ],
    )
    moved = sum(
        conn.execute(_MOVE_BALANCE, {"account_id": account_id, "delta": delta}).rowcount
        for account_id, delta in cached
    )
    if earning and plan.earning_month is not None and values["community_id"] is not None:
        add_earning(values["user_id"], values["community_id"], plan.earning_month, earning)
    return transaction_id, moved


def add_earning(user_id: int, community_id: int, month: date, points: int) -> None:
    """Keep the earnings summary in step (upsert)."""
    core_connection().execute(
        _ADD_EARNING[_dialect()],
        {"user_id": user_id, "community_id": community_id, "month": month, "points": points},
    )
