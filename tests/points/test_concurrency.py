"""Racing requests on PostgreSQL: the ledger's row locks and unique keys decide, not a read before a write.

Each racer is a thread with its own app context (so its own session and connection) that makes one
service call and commits, or rolls back on an exception, like a request. A barrier releases them
together. The tests assert the final state, never timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from points import ledger, services
from points.ledger import LedgerResult
from points.models import LedgerTransaction, PointsRule
from server.auth.policy import Principal
from server.db import db
from server.users.models import StaffAccount, User
from tests.conftest import Org, Staff

pytestmark = pytest.mark.postgres

JOIN_TIMEOUT = 120  # seconds; generous, only so that a deadlock fails the test instead of hanging it

Outcome = LedgerResult | BaseException


def race(app: Flask, calls: list[Callable[[], LedgerResult]]) -> list[Outcome]:
    """Run each call in its own thread and app context, all released at once; their results in order."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Outcome | None] = [None] * len(calls)

    def run(index: int, call: Callable[[], LedgerResult]) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=JOIN_TIMEOUT)
                outcome: Outcome = call()
                db.session.commit()
            except Exception as exc:
                db.session.rollback()
                outcome = exc
            outcomes[index] = outcome

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a racer never finished (deadlock?)"
    finished = [outcome for outcome in outcomes if outcome is not None]
    assert len(finished) == len(calls)
    return finished


def results(outcomes: list[Outcome]) -> list[LedgerResult]:
    """The outcomes, once it is clear that none of them was an exception."""
    errors = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    assert not errors, f"{len(errors)} racers raised: {errors[:3]}"
    return [o for o in outcomes if isinstance(o, LedgerResult)]


def statuses(outcomes: list[LedgerResult]) -> dict[tuple[str, str | None], int]:
    """How many results had each (status, refusal code)."""
    counts: dict[tuple[str, str | None], int] = {}
    for result in outcomes:
        counts[(result.status, result.code)] = counts.get((result.status, result.code), 0) + 1
    return counts


def make_user(app: Flask, community_id: int, name: str) -> int:
    with app.app_context():
        user = User(openid=f"race-{name}", nickname=name, community_id=community_id)
        db.session.add(user)
        db.session.commit()
        return user.id


def give(app: Flask, user_id: int, points: int, staff_id: int) -> None:
    """Start a user with ``points`` available (a staff adjustment)."""
    with app.app_context():
        staff = Principal(kind="staff", staff=db.session.get(StaffAccount, staff_id))
        assert services.adjust(staff, user_id, points, "开户").status == "done"
        db.session.commit()


def open_accounts(app: Flask, user_id: int, community_id: int, category: str) -> None:
    """Create the accounts an award touches, so that racers do not meet first at their creation."""
    with app.app_context():
        ledger.lock_user_accounts(user_id)
        ledger.issuing_account(community_id, category)
        db.session.commit()


def balance(app: Flask, user_id: int) -> services.Balance:
    with app.app_context():
        return services.balance_of(user_id)


def count_transactions(app: Flask, **where: Any) -> int:
    with app.app_context():
        query = select(func.count()).select_from(LedgerTransaction).filter_by(**where)
        return int(db.session.scalar(query) or 0)


def add_rule(app: Flask, code: str, points: int, daily_cap: int | None, category: str = "activity") -> None:
    with app.app_context():
        db.session.add(
            PointsRule(
                code=code, name=code, category=category, points=points, unit="event", daily_cap=daily_cap
            )
        )
        db.session.commit()


@pytest.fixture
def community(org_tree: dict[str, Org]) -> int:
    return org_tree["C1"].id


@pytest.fixture
def staff_id(make_staff: Callable[..., Staff]) -> int:
    return make_staff(role="staff", org="C1").id


def test_fifty_holds_racing_for_a_balance_that_covers_five(app, community, staff_id):
    user = make_user(app, community, "抢购者")
    give(app, user, 50, staff_id)

    outcomes = results(
        race(app, [partial(services.hold, user, 10, f"hold-{i}", ("redemption", i)) for i in range(50)])
    )

    assert statuses(outcomes) == {("done", None): 5, ("refused", "INSUFFICIENT_POINTS"): 45}
    assert balance(app, user) == services.Balance(available=0, held=50, earned_total=50, spent_total=0)
    assert count_transactions(app, kind="hold") == 5


@pytest.mark.parametrize(
    ("rule", "points", "daily_cap", "awarded_before", "racers", "winners"),
    [
        pytest.param("RACE_FIVE", 5, 5, 0, 2, 1, id="two racing for a cap of one award"),
        pytest.param("RACE_FIVE", 5, 5, 0, 10, 1, id="ten racing for a cap of one award"),
        pytest.param("ACTIVITY_CHECKIN", 1, 3, 2, 2, 1, id="two racing for the last point of the day"),
        pytest.param("ACTIVITY_CHECKIN", 1, 3, 0, 10, 3, id="ten racing for a cap of three"),
    ],
)
def test_awards_racing_past_the_daily_cap_stop_exactly_at_it(
    app, community, rule, points, daily_cap, awarded_before, racers, winners
):
    if rule == "RACE_FIVE":
        add_rule(app, rule, points=points, daily_cap=daily_cap)
    user = make_user(app, community, "志愿者")
    open_accounts(app, user, community, "activity")
    with app.app_context():
        for i in range(awarded_before):
            assert services.award(user, rule, 1, ("checkin", f"before-{i}"), f"before-{i}").status == "done"
        db.session.commit()

    outcomes = results(
        race(
            app,
            [partial(services.award, user, rule, 1, ("checkin", i), f"checkin-{i}") for i in range(racers)],
        )
    )

    assert statuses(outcomes) == {("done", None): winners, ("refused", "CAP_REACHED"): racers - winners}
    assert all(r.points == points for r in outcomes if r.status == "done")
    assert balance(app, user).available == daily_cap


@pytest.mark.parametrize("operation", ["award", "hold", "adjust"])
def test_one_idempotency_key_from_twenty_threads_moves_points_once(app, community, staff_id, operation):
    add_rule(app, "UNCAPPED", points=3, daily_cap=None)
    user = make_user(app, community, "重复提交")
    give(app, user, 100, staff_id)

    def call() -> LedgerResult:
        if operation == "award":
            return services.award(user, "UNCAPPED", 1, ("checkin", 7), "same-key")
        if operation == "hold":
            return services.hold(user, 30, "same-key", ("redemption", 7))
        staff = Principal(kind="staff", staff=db.session.get(StaffAccount, staff_id))
        return services.adjust(staff, user, -30, "兑换线下礼品", idempotency_key="same-key")

    outcomes = results(race(app, [call] * 20))

    assert statuses(outcomes) == {("done", None): 1, ("already_done", None): 19}
    assert len({r.transaction_id for r in outcomes}) == 1
    assert len({r.points for r in outcomes}) == 1
    assert count_transactions(app, idempotency_key="same-key") == 1
    moved = {"award": (103, 0), "hold": (70, 30), "adjust": (70, 0)}[operation]
    after = balance(app, user)
    assert (after.available, after.held) == moved


def test_capture_and_release_racing_on_each_hold_settle_it_once(app, community, staff_id):
    users = [make_user(app, community, f"兑换者{n}") for n in range(2)]
    holds: list[tuple[int, int]] = []  # (hold id, user)
    for user in users:
        give(app, user, 50, staff_id)
        with app.app_context():
            for n in range(5):
                result = services.hold(user, 10, f"hold-{user}-{n}", ("redemption", f"{user}-{n}"))
                assert result.status == "done" and result.transaction_id is not None
                holds.append((result.transaction_id, user))
            db.session.commit()
    calls: list[Callable[[], LedgerResult]] = []
    for hold_id, _ in holds:
        calls += [partial(services.capture, hold_id), partial(services.release, hold_id, "库存不足")]

    outcomes = race(app, calls)

    with app.app_context():
        settlements = dict(
            db.session.execute(
                select(LedgerTransaction.settles_id, func.count())
                .where(LedgerTransaction.settles_id.is_not(None))
                .group_by(LedgerTransaction.settles_id)
            ).all()
        )
        captured = set(
            db.session.scalars(
                select(LedgerTransaction.settles_id).where(LedgerTransaction.kind == "capture")
            )
        )
    assert settlements == {hold_id: 1 for hold_id, _ in holds}
    for user in users:
        spent = 10 * sum(1 for hold_id, owner in holds if owner == user and hold_id in captured)
        assert balance(app, user) == services.Balance(
            available=50 - spent, held=0, earned_total=50, spent_total=spent
        )
    # The loser of each pair is told the hold was settled already; it does not fail.
    settled = results(outcomes)
    for pair in range(len(holds)):
        capture, release = settled[2 * pair], settled[2 * pair + 1]
        assert sorted([capture.status, release.status]) == ["done", "refused"]
        assert {capture.code, release.code} == {None, "ALREADY_SETTLED"}


def test_twenty_reversals_of_one_award_reverse_it_once(app, community):
    user = make_user(app, community, "撤销")
    with app.app_context():
        award = services.award(user, "PARTY_DAY", 1, ("checkin", 1), "checkin-1")
        db.session.commit()
    award_id = award.transaction_id
    assert award.status == "done" and award_id is not None

    outcomes = results(race(app, [lambda: services.reverse(award_id, "误签到")] * 20))

    assert statuses(outcomes) == {("done", None): 1, ("already_done", None): 19}
    assert len({r.transaction_id for r in outcomes}) == 1
    assert count_transactions(app, reverses_id=award_id) == 1
    assert balance(app, user) == services.Balance(available=0, held=0, earned_total=0, spent_total=0)


# --- the lock is what makes it work ------------------------------------------------------------------


def _unlocked_user_accounts(
    user_id: int, idempotency_key: str | None
) -> tuple[ledger.LedgerAccount, ledger.LedgerAccount, ledger.Prior | None]:
    """The ledger's _lock without FOR UPDATE: what posting would do without its row lock."""
    keys = (f"user:{user_id}:available", f"user:{user_id}:held")
    found = {
        key: ledger.account(key, kind, user_id=user_id)
        for key, kind in zip(keys, ("available", "held"), strict=True)
    }
    prior = ledger.find_by_key(idempotency_key) if idempotency_key is not None else None
    return found[keys[0]], found[keys[1]], prior


def _wait_until_a_backend_waits_for_a_lock(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as conn:
        for _ in range(3000):
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting:
                return
            time.sleep(0.01)
    pytest.fail("the second award never waited for a lock")


@pytest.mark.parametrize("locked", [True, False], ids=["with the row lock", "without it"])
def test_the_row_lock_is_what_keeps_the_cap_when_awards_interleave(app, community, monkeypatch, locked):
    """The first award is written but not committed; the second starts and must wait for it.

    With the lock the second waits before it reads the day's awards, so it sees the first and is
    refused. Without it the second reads the day before the first commits, waits only for the balance
    row, and then awards past the cap.
    """
    add_rule(app, "RACE_FIVE", points=5, daily_cap=5, category="race")
    user = make_user(app, community, "交错")
    open_accounts(app, user, community, "race")
    if not locked:
        monkeypatch.setattr(ledger, "_lock", _unlocked_user_accounts)
    second: list[Outcome] = []

    with app.app_context():
        first = services.award(user, "RACE_FIVE", 1, ("checkin", 1), "checkin-1")
        assert first.status == "done"
        racer = threading.Thread(
            target=lambda: second.extend(
                race(app, [lambda: services.award(user, "RACE_FIVE", 1, ("checkin", 2), "checkin-2")])
            )
        )
        racer.start()
        _wait_until_a_backend_waits_for_a_lock(app)
        db.session.commit()
    racer.join(timeout=JOIN_TIMEOUT)
    assert not racer.is_alive()

    (result,) = results(second)
    if locked:
        assert (result.status, result.code) == ("refused", "CAP_REACHED")
        assert balance(app, user).available == 5
    else:
        assert result.status == "done"
        assert balance(app, user).available == 10  # twice the cap: the lock is what prevents this
