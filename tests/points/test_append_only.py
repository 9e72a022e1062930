"""The database itself keeps the ledger append-only and user balances non-negative.

Entries and transactions are never changed after they are written (a mistake is fixed by a
reversing transaction); triggers refuse an UPDATE on every database and a DELETE on PostgreSQL
(SQLite lets test data be deleted). A CHECK constraint refuses a negative user balance.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from points import services
from server.db import db
from server.users.models import User

LEDGER_TABLES = ("points_entries", "points_transactions")


@pytest.fixture
def awarded(app, org_tree) -> int:
    """A user with one committed award of 5 points; returns the user's id."""
    with app.app_context():
        user = User(openid="append-only", nickname="只增", community_id=org_tree["C1"].id)
        db.session.add(user)
        db.session.flush()
        assert services.award(user.id, "PARTY_DAY", 1, ("checkin", 1), "checkin-1").status == "done"
        db.session.commit()
        return user.id


def ledger_rows(table: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in db.session.execute(text(f"SELECT * FROM {table} ORDER BY id"))]  # noqa: S608  (ledger table names of the test's own list)


@pytest.mark.parametrize("table", LEDGER_TABLES)
def test_an_update_of_a_ledger_row_is_refused(app, awarded, table):
    with app.app_context():
        before = ledger_rows(table)
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(f"UPDATE {table} SET amount = amount + 1 WHERE id = 1"))  # noqa: S608  (ledger table names of the test's own list)
        db.session.rollback()
        assert ledger_rows(table) == before


@pytest.mark.postgres
@pytest.mark.parametrize("table", LEDGER_TABLES)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET amount = amount + 1 WHERE id = 1",
        "UPDATE {table} SET created_at = created_at WHERE id = 1",
        "DELETE FROM {table} WHERE id = 1",
        "DELETE FROM {table}",
    ],
)
def test_postgres_refuses_every_change_of_a_ledger_row(app, awarded, table, statement):
    with app.app_context():
        before = ledger_rows(table)
        with pytest.raises(DBAPIError, match="append-only") as refused:
            db.session.execute(text(statement.format(table=table)))
        db.session.rollback()
        assert isinstance(refused.value.orig, psycopg.Error)
        assert refused.value.orig.sqlstate == "23001"  # restrict_violation, raised by the trigger
        assert ledger_rows(table) == before


@pytest.mark.parametrize("kind", ["available", "held"])
def test_a_negative_user_balance_is_refused_by_the_check_constraint(app, awarded, kind):
    with app.app_context():
        before = db.session.execute(text("SELECT kind, balance FROM points_accounts ORDER BY id")).all()
        with pytest.raises(IntegrityError, match="user_balance_not_negative"):
            db.session.execute(
                text("UPDATE points_accounts SET balance = -1 WHERE kind = :kind"), {"kind": kind}
            )
        db.session.rollback()
        assert (
            db.session.execute(text("SELECT kind, balance FROM points_accounts ORDER BY id")).all() == before
        )
