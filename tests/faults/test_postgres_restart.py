"""PostgreSQL stopped and started: 503 while it is down, the pool recovers, nothing half-written."""

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import event, select
from sqlalchemy import exc as sa_exc

from points.models import LedgerEntry, LedgerTransaction
from server.db import db
from server.errors import database_unreachable
from server.notifications.models import OutboxMessage
from store.models import Redemption, StoreItem
from tests.conftest import bearer

pytestmark = pytest.mark.faults


def _unavailable(response) -> None:
    assert response.status_code == 503, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.get_json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert response.get_json()["error"]["details"] == {"database": "unavailable"}


def test_requests_answer_503_while_postgres_is_down_and_succeed_after_its_restart(make_world):
    world = make_world()
    client = world.client
    alice = world.member("alice")
    assert world.adjust(alice["user"]["id"], amount=10).status_code == 201
    assert client.get("/api/v1/me/points", headers=bearer(alice)).status_code == 200  # the pool is warm
    before = {model: world.count(model) for model in (LedgerTransaction, LedgerEntry, OutboxMessage)}

    world.postgres.stop("fast")

    _unavailable(client.get("/api/v1/me/points", headers=bearer(alice)))
    _unavailable(world.adjust(alice["user"]["id"], amount=5))
    _unavailable(
        client.post("/api/v1/auth/staff", json={"username": "fault_staff", "password": "correct-horse-1"})
    )
    english = client.get("/api/v1/me", headers={**bearer(alice), "Accept-Language": "en"})
    _unavailable(english)
    assert english.get_json()["error"]["message"] == "The service is temporarily unavailable"
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["down"] == ["database"]
    assert client.get("/healthz").status_code == 200

    world.postgres.start()

    # The pool drops its dead connections (pool_pre_ping) and the same requests now succeed.
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v1/me/points", headers=bearer(alice)).get_json()["available"] == 10
    assert {model: world.count(model) for model in before} == before  # the refused adjustment left nothing
    assert world.adjust(alice["user"]["id"], amount=5).status_code == 201
    assert client.get("/api/v1/me/points", headers=bearer(alice)).get_json()["available"] == 15
    assert world.verify_ledger() == []


@contextmanager
def _stop_postgres_at(world, point: str) -> Iterator[list[str]]:
    """Stop PostgreSQL (``immediate``, like a crash) once, right after a statement matching ``point``
    ran, or at ``commit`` (before COMMIT is sent) or ``after-commit``; yields the log of what happened."""
    engine = db.engine
    happened: list[str] = []

    def crash(what: str) -> None:
        if not happened:
            happened.append(what)
            world.postgres.stop("immediate")

    def after_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if point not in ("commit", "after-commit") and re.search(point, statement):
            crash(statement.split("\n")[0][:80])

    def before_commit(conn) -> None:
        if point == "commit":
            crash("COMMIT")

    def after_commit(session) -> None:
        if point == "after-commit" and not session.in_nested_transaction():  # not a savepoint's release
            crash("after COMMIT")

    event.listen(engine, "after_cursor_execute", after_execute)
    event.listen(engine, "commit", before_commit)
    event.listen(db.session, "after_commit", after_commit)
    try:
        yield happened
    finally:
        event.remove(engine, "after_cursor_execute", after_execute)
        event.remove(engine, "commit", before_commit)
        event.remove(db.session, "after_commit", after_commit)


REDEMPTION_POINTS = [
    ("after the stock is reserved", r"^UPDATE store_items SET reserved", False),
    # The ledger posts a transaction, its entries and the balances in one statement (points/ledger.py).
    ("after the hold is posted", r"^\s*WITH txn AS \(\s*INSERT INTO points_transactions", False),
    ("after the redemption row", r"^INSERT INTO redemptions", False),
    ("as it commits", "commit", False),
    ("right after the commit", "after-commit", True),
]


@pytest.mark.parametrize(("where", "point", "kept"), REDEMPTION_POINTS, ids=[p[0] for p in REDEMPTION_POINTS])
def test_a_redemption_cut_by_a_crash_is_all_or_nothing(make_world, where, point, kept):
    world = make_world()
    client = world.client
    alice = world.member("alice")
    assert world.adjust(alice["user"]["id"], amount=50).status_code == 201
    item = client.post(
        "/api/v1/store/items",
        json={"community_id": world.community_id, "name": "大米", "points_price": 20, "stock": 5},
        headers=world.staff_headers,
    )
    assert item.status_code == 201, item.get_json()
    item_id = item.get_json()["id"]
    before = {model: world.count(model) for model in (LedgerTransaction, LedgerEntry, Redemption)}
    request = {"json": {"item_id": item_id}, "headers": {**bearer(alice), "Idempotency-Key": "rice-1"}}

    with world.app.app_context(), _stop_postgres_at(world, point) as happened:
        response = client.post("/api/v1/redemptions", **request)
    assert happened, f"the crash point {point!r} was never reached"
    if kept:
        assert response.status_code == 201, response.get_json()
    else:
        _unavailable(response)

    world.postgres.start()

    after = {model: world.count(model) for model in before}
    with world.app.app_context():
        stock = db.session.execute(
            select(StoreItem.stock, StoreItem.reserved).where(StoreItem.id == item_id)
        ).one()
        db.session.rollback()
    if kept:  # everything: the hold, its entries, the redemption, the reservation
        grown = {LedgerTransaction: 1, LedgerEntry: 2, Redemption: 1}
        assert after == {model: before[model] + grown[model] for model in before}
        assert tuple(stock) == (5, 1)
    else:  # or nothing
        assert after == before
        assert tuple(stock) == (5, 0)
    assert world.verify_ledger() == []

    # The member sends the same request again: it is taken (or replayed) once.
    again = client.post("/api/v1/redemptions", **request)
    assert again.status_code in (200, 201), again.get_json()
    assert world.count(Redemption) == 1
    assert client.get("/api/v1/me/points", headers=bearer(alice)).get_json()["available"] == 30
    assert world.verify_ledger() == []


AWARD_POINTS = [
    ("after the ledger posting", r"^\s*WITH txn AS \(\s*INSERT INTO points_transactions", False),
    ("after the outbox row", r"^INSERT INTO outbox ", False),
    ("as it commits", "commit", False),
]


@pytest.mark.parametrize(("where", "point", "kept"), AWARD_POINTS, ids=[p[0] for p in AWARD_POINTS])
def test_an_adjustment_cut_by_a_crash_is_all_or_nothing(make_world, where, point, kept):
    world = make_world()
    alice = world.member("alice")
    before = {model: world.count(model) for model in (LedgerTransaction, LedgerEntry, OutboxMessage)}

    with world.app.app_context(), _stop_postgres_at(world, point) as happened:
        response = world.adjust(alice["user"]["id"], amount=7, key="adjust-1")
    assert happened, f"the crash point {point!r} was never reached"
    _unavailable(response)

    world.postgres.start()

    assert {model: world.count(model) for model in before} == before
    assert world.verify_ledger() == []
    assert world.adjust(alice["user"]["id"], amount=7, key="adjust-1").status_code == 201
    assert world.adjust(alice["user"]["id"], amount=7, key="adjust-1").status_code in (200, 201)  # replayed
    assert world.client.get("/api/v1/me/points", headers=bearer(alice)).get_json()["available"] == 7
    assert world.verify_ledger() == []


def _wrapped(orig: Exception) -> sa_exc.DBAPIError:
    return sa_exc.OperationalError("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (psycopg.OperationalError("connection failed: Connection refused"), True),  # no SQLSTATE
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.errors.ConnectionFailure("connection failure"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), False),  # answered by a running server
        (psycopg.errors.SerializationFailure("could not serialize access"), False),
        (psycopg.errors.LockNotAvailable("could not obtain lock"), False),
        (sqlite3.OperationalError("database is locked"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_only_a_database_that_cannot_be_reached_is_a_503(error, unreachable):
    assert database_unreachable(_wrapped(error)) is unreachable
    assert database_unreachable(error) is False  # a bare driver error never reaches the handlers


def test_a_disconnect_sqlalchemy_noticed_is_unreachable_whatever_the_error():
    error = sa_exc.InterfaceError("SELECT 1", {}, psycopg.InterfaceError("the connection is closed"))
    assert database_unreachable(error) is False
    error.connection_invalidated = True
    assert database_unreachable(error) is True
