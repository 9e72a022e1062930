"""Random sequences of ledger operations keep every invariant and agree with a model of the balances.

A Hypothesis state machine awards (event and hour rules, with caps and repeated idempotency keys),
adjusts, holds, captures, releases, reverses (anything, including what cannot be reversed) and
expires points of three users of one community. Each step commits like a request; after each step
the ledger verifies clean and every user's balances equal what the model expects from the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, text

from points import services
from points.ledger import LedgerResult
from points.models import PointsRule
from points.verify import verify_ledger
from server import clock as app_clock
from server.auth.policy import Principal
from server.db import db
from server.errors import Conflict, NotFound
from server.users.models import StaffAccount, User

SETTINGS = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
USERS = 3
EVENT_RULES = ("PARTY_DAY", "ACTIVITY_CHECKIN", "WISH_FULFILLED")
HOUR_RULES = ("VOLUNTEER_HOUR", "STATION_DUTY_HOUR")
HOURS = [Decimal(h) for h in ("0.25", "0.5", "1", "1.3", "1.5", "2", "3.75", "8")]
REVERSIBLE = ("award", "adjust", "capture", "expire")
NO_SUCH_TRANSACTION = 10**9


def empty_ledger() -> None:
    """Remove every ledger row and every user; the rules stay."""
    db.session.rollback()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            text(
                "TRUNCATE points_entries, points_transactions, points_accounts, points_earnings, users "
                "RESTART IDENTITY CASCADE"
            )
        )
    else:  # SQLite's trigger refuses updates of ledger rows but lets them be deleted
        for table in (
            "points_entries",
            "points_transactions",
            "points_earnings",
            "points_accounts",
            "deliveries",
            "notifications",
            "outbox",
            "subscription_grants",
            "users",
        ):
            db.session.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (table names of the test's own list)
    db.session.commit()


@dataclass
class Expected:
    """What one user's balance_of() should say."""

    available: int = 0
    held: int = 0
    earned: int = 0
    spent: int = 0
    awarded_today: dict[str, int] = field(default_factory=dict)  # per rule, net of reversals


@dataclass(frozen=True)
class Posted:
    """A transaction the model saw being done, and what undoing it moves."""

    id: int
    kind: str
    user: int
    points: int
    available_change: int = 0  # signed change of the user's available balance
    rule_code: str | None = None


class LedgerMachine(RuleBasedStateMachine):
    """The model: expected balances per user, the posted transactions, holds, keys and reversals."""

    app: ClassVar[Flask]
    community_id: ClassVar[int]
    staff_id: ClassVar[int]

    def __init__(self) -> None:
        super().__init__()
        self.context = self.app.app_context()
        self.context.push()
        empty_ledger()
        self.users: list[int] = []
        for number in range(USERS):
            user = User(openid=f"machine-{number}", nickname=f"用户{number}", community_id=self.community_id)
            db.session.add(user)
            db.session.flush()
            self.users.append(user.id)
        db.session.commit()
        self.points_rules = {r.code: r for r in db.session.scalars(select(PointsRule))}
        self.expected = {user: Expected() for user in self.users}
        self.posted: dict[int, Posted] = {}
        self.holds: dict[int, Posted] = {}
        self.settled: dict[int, tuple[str, int]] = {}  # hold id -> (capture|release, settling id)
        self.reversals: dict[int, int] = {}  # original id -> reversal id
        self.award_keys: dict[str, tuple[tuple[Any, ...], LedgerResult]] = {}
        self.expired: dict[int, Posted] = {}  # user -> the expiry done under this year's key
        self.keys = 0

    def teardown(self) -> None:
        empty_ledger()
        self.context.pop()

    # --- helpers ---------------------------------------------------------------------------------

    def _key(self, prefix: str) -> str:
        self.keys += 1
        return f"{prefix}-{self.keys}"

    def _with_points(self) -> list[int]:
        return [user for user in self.users if self.expected[user].available > 0]

    def _record(self, result: LedgerResult, kind: str, user: int, **changes: Any) -> Posted:
        assert result.status == "done" and result.transaction_id is not None, result
        posted = Posted(result.transaction_id, kind, user, result.points, **changes)
        assert posted.id not in self.posted
        self.posted[posted.id] = posted
        return posted

    def _expected_award(self, user: int, code: str, quantity: Decimal) -> tuple[str, int, str | None]:
        """(status, points, refusal code) the rules call for, from the model's own count of the day."""
        rule_ = self.points_rules[code]
        if rule_.unit == "hour":
            raw = rule_.points * int((quantity * 4).to_integral_value(rounding=ROUND_FLOOR)) // 4
        else:
            raw = rule_.points * int(quantity)
        if raw <= 0:
            return "refused", 0, "ZERO_POINTS"
        allowed = raw
        if rule_.daily_cap is not None:
            allowed = min(allowed, rule_.daily_cap - self.expected[user].awarded_today.get(code, 0))
        if rule_.yearly_cap is not None:  # every award of the machine is today, so the year is the day
            allowed = min(allowed, rule_.yearly_cap - self.expected[user].awarded_today.get(code, 0))
        if allowed <= 0:
            return "refused", 0, "CAP_REACHED"
        return "done", allowed, None

    def _award(self, user: int, code: str, quantity: Decimal, key: str) -> None:
        expected_status, expected_points, expected_code = self._expected_award(user, code, quantity)
        result = services.award(user, code, quantity, ("machine", key), key)
        db.session.commit()
        assert (result.status, result.points, result.code) == (
            expected_status,
            expected_points,
            expected_code,
        )
        if result.status == "done":
            self._record(result, "award", user, available_change=result.points, rule_code=code)
            model = self.expected[user]
            model.available += result.points
            model.earned += result.points
            model.awarded_today[code] = model.awarded_today.get(code, 0) + result.points
        self.award_keys[key] = ((user, code, quantity), result)

    # --- the operations --------------------------------------------------------------------------

    @rule(who=st.integers(0, USERS - 1), code=st.sampled_from(EVENT_RULES), quantity=st.integers(1, 3))
    def award_events(self, who: int, code: str, quantity: int) -> None:
        self._award(self.users[who], code, Decimal(quantity), self._key("award"))

    @rule(who=st.integers(0, USERS - 1), code=st.sampled_from(HOUR_RULES), hours=st.sampled_from(HOURS))
    def award_hours(self, who: int, code: str, hours: Decimal) -> None:
        self._award(self.users[who], code, hours, self._key("award"))

    @precondition(lambda self: self.award_keys)
    @rule(data=st.data(), changed=st.booleans())
    def repeat_an_award_key(self, data: st.DataObject, changed: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.award_keys)), label="key")
        (user, code, quantity), first = self.award_keys[key]
        if changed:
            quantity += 1
        if first.status != "done":  # a refused call wrote nothing, so its key is still free
            self._award(user, code, quantity, key)
        elif changed:
            with pytest.raises(Conflict) as refused:
                services.award(user, code, quantity, ("machine", key), key)
            db.session.rollback()
            assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"
        else:
            again = services.award(user, code, quantity, ("machine", key), key)
            db.session.commit()
            assert again == LedgerResult("already_done", first.points, first.transaction_id)

    @rule(
        who=st.integers(0, USERS - 1),
        amount=st.integers(-30, 30).filter(bool),
        with_key=st.booleans(),
    )
    def adjust(self, who: int, amount: int, with_key: bool) -> None:
        user = self.users[who]
        staff = Principal(kind="staff", staff=db.session.get(StaffAccount, self.staff_id))
        key = self._key("adjust") if with_key else None
        result = services.adjust(staff, user, amount, "盘点更正", idempotency_key=key)
        db.session.commit()
        model = self.expected[user]
        if model.available + amount < 0:
            assert (result.status, result.code) == ("refused", "INSUFFICIENT_POINTS")
            return
        assert (result.status, result.points) == ("done", abs(amount))
        self._record(result, "adjust", user, available_change=amount)
        model.available += amount
        model.earned += amount

    @precondition(lambda self: self._with_points())
    @rule(data=st.data())
    def hold(self, data: st.DataObject) -> None:
        user = data.draw(st.sampled_from(self._with_points()), label="user")
        # Mostly what the user can afford, sometimes a little more.
        amount = data.draw(st.integers(1, self.expected[user].available + 3), label="amount")
        key = self._key("hold")
        result = services.hold(user, amount, key, ("redemption", key))
        db.session.commit()
        model = self.expected[user]
        if amount > model.available:
            assert (result.status, result.code) == ("refused", "INSUFFICIENT_POINTS")
            return
        assert (result.status, result.points) == ("done", amount)
        posted = self._record(result, "hold", user)
        self.holds[posted.id] = posted
        model.available -= amount
        model.held += amount

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), kind=st.sampled_from(["capture", "release"]))
    def settle(self, data: st.DataObject, kind: str) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)), label="hold")
        held = self.holds[hold_id]
        result = services.capture(hold_id) if kind == "capture" else services.release(hold_id, "不要了")
        db.session.commit()
        if hold_id in self.settled:
            settled_kind, settling_id = self.settled[hold_id]
            if settled_kind == kind:
                assert result == LedgerResult("already_done", held.points, settling_id)
            else:
                assert (result.status, result.code) == ("refused", "ALREADY_SETTLED")
            return
        assert (result.status, result.points) == ("done", held.points)
        model = self.expected[held.user]
        model.held -= held.points
        if kind == "capture":
            settling = self._record(result, "capture", held.user, available_change=0)
            model.spent += held.points
        else:
            settling = self._record(result, "release", held.user, available_change=held.points)
            model.available += held.points
        self.settled[hold_id] = (kind, settling.id)

    @precondition(lambda self: self.posted)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        choice = data.draw(st.sampled_from([*sorted(self.posted), NO_SUCH_TRANSACTION]), label="transaction")
        if choice == NO_SUCH_TRANSACTION:
            with pytest.raises(NotFound):
                services.reverse(choice, "录入错误")
            db.session.rollback()
            return
        original = self.posted[choice]
        result = services.reverse(original.id, "录入错误")
        db.session.commit()
        if original.kind not in REVERSIBLE:
            assert (result.status, result.code) == ("refused", "NOT_REVERSIBLE")
            return
        if original.id in self.reversals:
            assert result == LedgerResult("already_done", original.points, self.reversals[original.id])
            return
        model = self.expected[original.user]
        # Undoing a capture or an expiry gives the points back to available; the rest take back theirs.
        back = original.points if original.kind in ("capture", "expire") else -original.available_change
        if model.available + back < 0:
            assert (result.status, result.code) == ("refused", "INSUFFICIENT_POINTS")
            return
        assert (result.status, result.points) == ("done", original.points)
        reversal = self._record(result, "reverse", original.user, available_change=back)
        self.reversals[original.id] = reversal.id
        model.available += back
        if original.kind in ("award", "adjust"):
            model.earned -= original.available_change
        if original.kind == "award" and original.rule_code is not None:
            model.awarded_today[original.rule_code] -= original.points
        if original.kind == "capture":
            model.spent -= original.points

    @precondition(lambda self: self._with_points())
    @rule(who=st.integers(0, USERS - 1))
    def expire(self, who: int) -> None:
        user = self.users[who]
        today = app_clock.local_today()
        # Two years on, everything earned so far has outlived "the end of next year".
        result = services.expire_user_points(
            user, as_of=date(today.year + 2, today.month, min(today.day, 28))
        )
        db.session.commit()
        model = self.expected[user]
        if user in self.expired:
            first = self.expired[user]
            assert result == LedgerResult("already_done", first.points, first.id)
        elif model.available == 0:
            assert (result.status, result.code) == ("refused", "NOTHING_TO_EXPIRE")
        else:
            assert (result.status, result.points) == ("done", model.available)
            self.expired[user] = self._record(result, "expire", user, available_change=-model.available)
            model.available = 0

    # --- after every step ------------------------------------------------------------------------

    @invariant()
    def the_ledger_verifies_and_matches_the_model(self) -> None:
        assert verify_ledger() == []
        for user in self.users:
            model = self.expected[user]
            assert services.balance_of(user) == services.Balance(
                available=model.available, held=model.held, earned_total=model.earned, spent_total=model.spent
            ), f"user {user}"
        db.session.rollback()


def test_random_operations_keep_the_ledger_invariants(app, org_tree, make_staff, monkeypatch):
    monkeypatch.setitem(app.config, "POINTS_EXPIRY_POLICY", "end_of_next_year")
    staff = make_staff(role="staff", org="C1")
    machine = type(
        "LedgerMachineOfC1",
        (LedgerMachine,),
        {"app": app, "community_id": org_tree["C1"].id, "staff_id": staff.id},
    )
    run_state_machine_as_test(machine, settings=SETTINGS)
