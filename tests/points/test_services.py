"""The points services: awards by rule with caps, holds, reversals, adjustments, expiry, reads."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from points import services
from points.cli import expire_points
from points.ledger import LedgerResult, add_earning
from points.models import Account, LedgerTransaction, PointsEarning, PointsRule
from points.services import rebuild_earnings
from points.verify import verify_ledger
from server import clock
from server.auth.policy import Principal
from server.db import db
from server.errors import AppError, Conflict, Forbidden, NotFound
from server.users.models import StaffAccount, User


def _tx(result: LedgerResult) -> int:
    """The transaction of a posting that moved points or found its earlier one (a refusal has none)."""
    assert result.transaction_id is not None, result
    return result.transaction_id


def _award(user_id, rule="PARTY_DAY", quantity=1, key=None, community_id=None):
    return services.award(
        user_id, rule, quantity, ("test", key or "x"), key or f"k-{user_id}-{rule}-{quantity}", community_id
    )


def test_an_award_moves_the_rule_points_once_per_key(in_app, make_member):
    user = make_member()
    with in_app():
        first = _award(user, key="checkin:1")
        again = _award(user, key="checkin:1")
        assert (first.status, first.points) == ("done", 5)
        assert (again.status, again.points, again.transaction_id) == ("already_done", 5, first.transaction_id)
        assert services.balance_of(user) == services.Balance(
            available=5, held=0, earned_total=5, spent_total=0
        )


def test_the_same_key_with_a_different_request_is_a_conflict(in_app, make_member):
    user = make_member()
    with in_app():
        _award(user, rule="VOLUNTEER_HOUR", quantity=2, key="k1")
        with pytest.raises(Conflict) as refused:
            _award(user, rule="VOLUNTEER_HOUR", quantity=3, key="k1")
        assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize(
    ("hours", "points"),
    [(1, 2), ("1.5", 3), ("1.2", 2), ("0.24", 0), ("0.25", 0), ("0.5", 1), ("2.75", 5), (8, 16)],
)
def test_hours_are_rounded_down_to_the_quarter_hour(app, hours, points):
    rule = PointsRule(code="X", name="x", category="volunteer", points=2, unit="hour")
    assert services.points_for(rule, Decimal(str(hours)), party_member=False) == points


def test_party_members_get_the_multiplier(app):
    rule = PointsRule(
        code="X",
        name="x",
        category="volunteer",
        points=3,
        unit="event",
        party_member_multiplier=Decimal("1.50"),
    )
    assert services.points_for(rule, Decimal(1), party_member=True) == 4
    assert services.points_for(rule, Decimal(1), party_member=False) == 3


def test_too_short_an_hour_award_is_refused_and_writes_nothing(in_app, make_member):
    user = make_member()
    with in_app():
        result = _award(user, rule="VOLUNTEER_HOUR", quantity="0.2")
        assert (result.status, result.code) == ("refused", "ZERO_POINTS")
        assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0


def test_the_daily_cap_cuts_an_award_then_refuses(in_app, make_member):
    user = make_member()  # ACTIVITY_CHECKIN: 1 point per event, at most 3 a day
    with in_app():
        assert _award(user, "ACTIVITY_CHECKIN", 2, key="a").points == 2
        capped = _award(user, "ACTIVITY_CHECKIN", 2, key="b")
        assert (capped.status, capped.points, capped.capped) == ("done", 1, True)
        refused = _award(user, "ACTIVITY_CHECKIN", 1, key="c")
        assert (refused.status, refused.code) == ("refused", "CAP_REACHED")
        assert services.balance_of(user).available == 3


def test_the_yearly_cap_holds(in_app, make_member):
    user = make_member()
    with in_app():
        db.session.add(
            PointsRule(
                code="YEARLY", name="年度", category="volunteer", points=4, unit="event", yearly_cap=10
            )
        )
        db.session.flush()
        assert [_award(user, "YEARLY", 1, key=f"y{i}").points for i in range(3)] == [4, 4, 2]
        assert _award(user, "YEARLY", 1, key="y4").code == "CAP_REACHED"


def test_a_reversed_award_frees_its_cap(in_app, make_member):
    user = make_member()
    with in_app():
        first = _award(user, "ACTIVITY_CHECKIN", 3, key="a")
        assert _award(user, "ACTIVITY_CHECKIN", 1, key="b").code == "CAP_REACHED"
        assert services.reverse(first.transaction_id, "签到有误").status == "done"
        assert _award(user, "ACTIVITY_CHECKIN", 1, key="c").points == 1


def test_inactive_and_unknown_rules(in_app, make_member):
    user = make_member()
    with in_app():
        db.session.scalars(select(PointsRule).where(PointsRule.code == "PARTY_DAY")).one().active = False
        assert _award(user).code == "RULE_INACTIVE"
        with pytest.raises(NotFound):
            _award(user, rule="NOPE")


@pytest.mark.parametrize("quantity", [0, -1, "abc", "1.5", "NaN", "Infinity"])
def test_bad_event_quantities_are_refused(in_app, make_member, quantity):
    user = make_member()
    with in_app(), pytest.raises(AppError) as refused:
        _award(user, quantity=quantity)
    assert refused.value.code == "INVALID_QUANTITY"


def test_a_user_without_a_community_gets_nothing(in_app, app):
    with in_app():
        user = User(openid="homeless", nickname="x")
        db.session.add(user)
        db.session.flush()
        assert _award(user.id).code == "NO_COMMUNITY"


def test_hold_capture_and_release(in_app, make_member):
    user = make_member()
    with in_app():
        _award(user, "VOLUNTEER_HOUR", 8, key="earn")  # 16 points
        first = services.hold(user, 10, "r1", ("redemption", 1))
        assert services.hold(user, 10, "r2", ("redemption", 2)).code == "INSUFFICIENT_POINTS"
        second = services.hold(user, 6, "r3", ("redemption", 3))
        assert services.balance_of(user) == services.Balance(0, 16, 16, 0)
        assert services.capture(_tx(first)).status == "done"
        assert services.release(_tx(second), "用户取消").status == "done"
        assert services.balance_of(user) == services.Balance(6, 0, 16, 10)
        # a hold is settled once: neither a second capture nor a release after it moves anything
        assert services.capture(_tx(first)).status == "already_done"
        assert services.release(_tx(first)).code == "ALREADY_SETTLED"
        assert services.balance_of(user).available == 6


def test_a_reversed_capture_returns_the_points_to_available(in_app, make_member):
    user = make_member()
    with in_app():
        _award(user, "VOLUNTEER_HOUR", 5, key="earn")  # 10
        held = services.hold(user, 4, "r1", ("redemption", 1))
        captured = services.capture(_tx(held))
        assert services.reverse(_tx(captured), "逾期未领取").status == "done"
        assert services.balance_of(user) == services.Balance(10, 0, 10, 0)


def test_an_award_whose_points_were_spent_cannot_be_reversed(in_app, make_member):
    user = make_member()
    with in_app():
        award = _award(user, key="earn")
        services.hold(user, 5, "r1", ("redemption", 1))
        assert services.reverse(award.transaction_id, "误发").code == "INSUFFICIENT_POINTS"
        assert services.balance_of(user).held == 5


def test_reversals_happen_once_and_only_of_reversible_kinds(in_app, make_member):
    user = make_member()
    with in_app():
        award = _award(user, key="earn")
        reversal = services.reverse(award.transaction_id, "误发")
        assert services.reverse(award.transaction_id, "再撤").status == "already_done"
        assert services.reverse(_tx(reversal), "撤销的撤销").code == "NOT_REVERSIBLE"
        with pytest.raises(AppError):
            services.reverse(award.transaction_id, "   ")
        with pytest.raises(NotFound):
            services.reverse(999999, "x")
        assert services.balance_of(user) == services.Balance(0, 0, 0, 0)


def test_staff_adjust_members_of_their_communities(in_app, make_member, staff_principal):
    user = make_member()
    with in_app():
        staff = staff_principal(org="C1")
        added = services.adjust(staff, user, 7, "补录上月志愿服务", "adj-1")
        assert (added.status, added.points) == ("done", 7)
        assert services.adjust(staff, user, -10, "扣减", "adj-2").code == "INSUFFICIENT_POINTS"
        assert services.adjust(staff, user, -7, "更正", "adj-3").points == 7
        assert services.balance_of(user).available == 0
        items, total = services.history_of(user, 1, 20)
        assert total == 2
        assert items[0].memo == "人工调整：更正 -7"
        assert items[1].reason == "补录上月志愿服务"


@pytest.mark.parametrize("amount", [0, 1.5, "5", True, None])
def test_adjustments_need_a_non_zero_whole_amount(in_app, make_member, staff_principal, amount):
    user = make_member()
    with in_app(), pytest.raises(AppError) as refused:
        services.adjust(staff_principal(), user, amount, "x")
    assert refused.value.code == "INVALID_AMOUNT"


def test_adjustments_need_a_reason(in_app, make_member, staff_principal):
    user = make_member()
    with in_app(), pytest.raises(AppError) as refused:
        services.adjust(staff_principal(), user, 5, "  ")
    assert refused.value.code == "REASON_REQUIRED"


def test_staff_of_another_community_cannot_adjust(in_app, make_member, make_staff):
    user = make_member("C1")
    other_id, admin_id = make_staff(org="C2").id, make_staff(role="admin", org="S1").id
    with in_app():
        other = Principal(kind="staff", staff=db.session.get(StaffAccount, other_id))
        admin = Principal(kind="staff", staff=db.session.get(StaffAccount, admin_id))
        with pytest.raises(Forbidden):
            services.adjust(other, user, 5, "x")
        assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0
        assert services.adjust(admin, user, 5, "x").status == "done"


def test_history_pages_newest_first_with_readable_memos(in_app, make_member):
    user = make_member()
    with in_app():
        _award(user, "PARTY_DAY", 1, key="a")
        _award(user, "VOLUNTEER_HOUR", "1.5", key="b")
        page1, total = services.history_of(user, 1, 1)
        page2, _ = services.history_of(user, 2, 1)
        assert total == 2
        assert (page1[0].memo, page1[0].amount, page1[0].category) == ("志愿服务 +3", 3, "volunteer")
        assert (page2[0].memo, page2[0].category_label) == ("主题党日签到 +5", "主题党日")
        db.session.commit()  # on SQLite an open transaction holds the write lock make_member needs
        assert services.history_of(make_member(), 1, 20) == ([], 0)


def test_leaderboards_rank_earnings_and_follow_reversals(in_app, make_member):
    alice, bob, carol = make_member(nickname="王小明"), make_member(nickname="李四"), make_member("C2")
    with in_app():
        _award(alice, "VOLUNTEER_HOUR", 4, key="a")  # 8
        award_bob = _award(bob, "PARTY_DAY", 1, key="b")  # 5
        _award(bob, "ACTIVITY_CHECKIN", 3, key="b2")  # 3 → 8, a tie with alice
        _award(carol, "PARTY_DAY", 1, key="c")
        c1 = [
            db.session.scalars(select(PointsEarning.community_id).where(PointsEarning.user_id == alice)).one()
        ]
        board = services.leaderboard(c1, "month")
        assert [(r.rank, r.points) for r in board] == [(1, 8), (1, 8)]
        assert {r.nickname_masked for r in board} == {"王**", "李*"}
        services.reverse(award_bob.transaction_id, "误发")
        board = services.leaderboard(c1, "month")
        assert [(r.user_id, r.rank, r.points) for r in board] == [(alice, 1, 8), (bob, 2, 3)]
        # spending does not lower what was earned
        services.capture(_tx(services.hold(alice, 8, "h", ("redemption", 1))))
        assert services.leaderboard(c1, "all")[0].points == 8


def test_leaderboard_periods(in_app, make_member):
    user = make_member()
    with in_app():
        community = db.session.get_one(User, user).community_id
        assert community is not None
        today = clock.local_today()
        add_earning(user, community, date(today.year - 1, 6, 1), 100)  # last year
        _award(user, key="now")
        assert services.leaderboard([community], "month")[0].points == 5
        assert services.leaderboard([community], "year")[0].points == 5
        assert services.leaderboard([community], "all")[0].points == 105
        # keep the summary honest for the after-test invariant check
        rebuild_earnings()


def test_expiry_takes_the_oldest_points_once(app, in_app, make_member, monkeypatch):
    user = make_member()
    app.config["POINTS_EXPIRY_POLICY"] = "end_of_next_year"
    try:
        monkeypatch.setattr("server.clock.now", lambda: datetime(2023, 3, 5, 2, 0, tzinfo=UTC))
        with in_app():
            _award(user, "VOLUNTEER_HOUR", 8, key="old")  # 16 points earned in 2023
        monkeypatch.setattr("server.clock.now", lambda: datetime(2024, 7, 1, 2, 0, tzinfo=UTC))
        with in_app():
            _award(user, "PARTY_DAY", 1, key="newer")  # 5 points earned in 2024
            services.hold(user, 6, "spend", ("redemption", 1))  # spends the oldest points first
        with in_app():
            # 2023's points live until 31 December 2024; on 1 January 2025 the 10 left of them expire
            assert services.expire_user_points(user, date(2024, 12, 31)).code == "NOTHING_TO_EXPIRE"
            first = services.expire_user_points(user, date(2025, 1, 1))
            assert (first.status, first.points) == ("done", 10)
            assert services.expire_user_points(user, date(2025, 1, 1)).status == "already_done"
            assert services.expire_user_points(user, date(2025, 6, 1)).status == "already_done"
            assert services.balance_of(user) == services.Balance(5, 6, 21, 0)
            items, _ = services.history_of(user, 1, 1)
            assert items[0].memo == "2023年积分过期 -10"
    finally:
        app.config["POINTS_EXPIRY_POLICY"] = "none"


def test_the_expiry_job_runs_twice_without_moving_anything_twice(app, in_app, make_member, monkeypatch):
    users = [make_member(), make_member()]
    app.config["POINTS_EXPIRY_POLICY"] = "end_of_next_year"
    try:
        monkeypatch.setattr("server.clock.now", lambda: datetime(2023, 5, 1, tzinfo=UTC))
        with in_app():
            for user in users:
                _award(user, key=f"old-{user}")
        with app.app_context():
            assert expire_points(date(2025, 1, 1)) == {"users": 2, "expired_points": 10}
            assert expire_points(date(2025, 1, 1)) == {"users": 0, "expired_points": 0}
            assert [services.balance_of(u).available for u in users] == [0, 0]
    finally:
        app.config["POINTS_EXPIRY_POLICY"] = "none"


def test_expiry_is_off_by_default(in_app, make_member):
    user = make_member()
    with in_app():
        _award(user, key="a")
        assert services.expire_user_points(user, date(2099, 1, 1)).code == "EXPIRY_DISABLED"
        assert expire_points(date(2099, 1, 1)) == {"users": 0, "expired_points": 0}


def test_verify_names_a_broken_invariant(in_app, make_member):
    user = make_member()
    with in_app():
        _award(user, key="a")
        db.session.execute(Account.__table__.update().where(Account.kind == "available").values(balance=99))
        problems = verify_ledger()
        assert any("2 cached balances" in p and "balance 99" in p for p in problems)
        db.session.rollback()


def test_a_member_known_only_by_party_community_can_redeem(in_app, make_member):
    user = make_member(party_member=True)
    with in_app():
        db.session.get_one(User, user).community_id = None
        assert _award(user, key="earn").status == "done"
        held = services.hold(user, 5, "r1", ("redemption", 1))
        assert services.capture(_tx(held)).status == "done"
        assert services.balance_of(user).spent_total == 5
