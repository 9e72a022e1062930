"""What the mini program shows of the caller's own state: the latest party report, their community moves, and
their volunteer summary (hours, check-ins, fulfilled wishes, earned points; this year and all time)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from checkin.models import Activity, CheckIn
from points import services as points
from server.auth.policy import Principal
from server.db import db
from server.orgs.models import OrgUnit
from server.users.models import StaffAccount
from tests.conftest import Clock, Org, Staff, bearer
from wishes.models import Wish

REPORT = "/api/v1/me/party-report"
MOVES = "/api/v1/me/community-moves"
SUMMARY = "/api/v1/me/volunteer-summary"


@pytest.fixture
def resident(member: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, str]]:
    """``resident("name", community="C1")``: the headers of a resident living there (no points)."""

    def make(name: str = "someone", community: str = "C1") -> dict[str, str]:
        return bearer(member(points=0, name=name, community=community))

    return make


@pytest.fixture
def staff_of(
    make_staff: Callable[..., Staff], login_staff: Callable[[Staff], dict[str, Any]]
) -> Callable[[str], dict[str, str]]:
    """``staff_of("C1")``: the headers of a fresh staff account of that org unit."""
    return lambda org: bearer(login_staff(make_staff(org=org)))


def _name_of(app: Flask, org: Org) -> str:
    with app.app_context():
        unit = db.session.get(OrgUnit, org.id)
        assert unit is not None
        return unit.name


def _id_of(client: FlaskClient, headers: dict[str, str]) -> int:
    user_id: int = client.get("/api/v1/me", headers=headers).get_json()["id"]
    return user_id


# --- the latest party report ------------------------------------------------------------------------------


def test_no_report_yet_is_party_report_not_found(client, resident, staff_of):
    response = client.get(REPORT, headers=resident("never"))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "PARTY_REPORT_NOT_FOUND"
    assert client.get(REPORT, headers=staff_of("C1")).status_code == 403
    assert client.get(REPORT).status_code == 401


def test_the_latest_report_with_its_decision_and_reason(app, client, resident, staff_of, org_tree, clock):
    me, someone_else = resident("reporter"), resident("bystander")
    c1, c2 = org_tree["C1"], org_tree["C2"]
    first = client.post(REPORT, json={"community_id": c1.id, "branch": "一支部"}, headers=me).get_json()["id"]
    client.post(REPORT, json={"community_id": c1.id, "branch": "别人的支部"}, headers=someone_else)

    pending = client.get(REPORT, headers=me).get_json()
    assert (pending["id"], pending["status"], pending["community_id"]) == (first, "pending", c1.id)
    assert (
        pending["community"] == _name_of(app, c1)
        and pending["reason"] is None
        and pending["decided_at"] is None
    )
    assert pending["created_at"]

    clock.now += timedelta(hours=2)
    rejected = client.post(
        f"/api/v1/party-reports/{first}/reject", json={"reason": "支部名称有误"}, headers=staff_of("C1")
    )
    assert rejected.status_code == 200
    shown = client.get(REPORT, headers=me).get_json()
    assert (shown["id"], shown["status"], shown["reason"]) == (first, "rejected", "支部名称有误")
    assert shown["decided_at"] and shown["decided_at"] != shown["created_at"]

    clock.now += timedelta(hours=1)
    second = client.post(REPORT, json={"community_id": c2.id, "branch": "二支部"}, headers=me).get_json()[
        "id"
    ]
    latest = client.get(REPORT, headers=me).get_json()
    assert (latest["id"], latest["status"], latest["community_id"], latest["community"]) == (
        second,
        "pending",
        c2.id,
        _name_of(app, c2),
    )
    assert latest["reason"] is None


# --- community moves --------------------------------------------------------------------------------------


def test_my_moves_newest_first_with_status_and_reason(client, resident, staff_of, org_tree, clock):
    me, other = resident("mover"), resident("other-mover")
    c2, c3 = org_tree["C2"].id, org_tree["C3"].id
    first = client.post(MOVES, json={"community_id": c2, "reason": "搬家"}, headers=me).get_json()["id"]
    client.post(MOVES, json={"community_id": c2, "reason": "别人的"}, headers=other)
    clock.now += timedelta(minutes=5)
    assert (
        client.post(
            f"/api/v1/community-moves/{first}/reject", json={"reason": "查无此住址"}, headers=staff_of("C2")
        ).status_code
        == 200
    )
    clock.now += timedelta(minutes=5)
    second = client.post(MOVES, json={"community_id": c3, "reason": "换房子"}, headers=me).get_json()["id"]

    body = client.get(MOVES, headers=me).get_json()
    assert body["total"] == 2
    assert [(m["id"], m["status"], m["to_community_id"], m["decision_reason"]) for m in body["items"]] == [
        (second, "pending", c3, None),
        (first, "rejected", c2, "查无此住址"),
    ]
    assert client.get(MOVES, headers=staff_of("C2")).status_code == 403


# --- the volunteer summary --------------------------------------------------------------------------------

SHANGHAI = timedelta(hours=8)


def _local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time written as read in Shanghai, as an aware UTC time."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - SHANGHAI


class Seeder:
    """Rows of check-ins and wishes written straight to the tables; points through the ledger's services."""

    def __init__(self, app: Flask, community: Org, staff_id: int) -> None:
        self.app, self.community, self.staff_id = app, community, staff_id
        self.numbers = count(1)

    def checkin(
        self, user_id: int, at: datetime, minutes: int | None, hours: bool = True, status: str = "closed"
    ) -> None:
        """A check-in at an activity of its own (one per member per activity)."""
        n = next(self.numbers)
        with self.app.app_context():
            activity = Activity(
                community_id=self.community.id,
                title=f"活动{n}",
                kind="volunteer",
                starts_at=at,
                ends_at=at + timedelta(hours=3),
                checkin_opens_at=at - timedelta(hours=1),
                checkin_closes_at=at + timedelta(hours=3),
                points_rule="volunteer_hour",
                hours_count=hours,
            )
            db.session.add(activity)
            db.session.flush()
            db.session.add(
                CheckIn(
                    user_id=user_id,
                    activity_id=activity.id,
                    nonce=f"seed-{n}",
                    status=status,
                    checked_in_at=at,
                    checked_out_at=at + timedelta(minutes=minutes or 0) if status != "open" else None,
                    minutes=minutes,
                    voided_at=at + timedelta(days=1) if status == "voided" else None,
                )
            )
            db.session.commit()

    def wish(self, owner_id: int, claimer_id: int, status: str, completed_at: datetime | None = None) -> None:
        """A wish the claimer holds (claimed) or held to its end (completed)."""
        n = next(self.numbers)
        with self.app.app_context():
            db.session.add(
                Wish(
                    community_id=self.community.id,
                    user_id=owner_id,
                    title=f"心愿{n}",
                    content="请帮忙看看厨房的水龙头",
                    category="生活帮扶",
                    contact_name="王阿姨",
                    status=status,
                    sec_check="pass",
                    claimer_id=claimer_id,
                    claimed_at=(completed_at or datetime.now(UTC)) - timedelta(days=1),
                    completed_at=completed_at,
                    completed_by="resident" if completed_at else None,
                )
            )
            db.session.commit()

    def adjust(self, user_id: int, amount: int) -> int:
        """A staff adjustment (signed); returns its transaction id."""
        with self.app.app_context():
            principal = Principal(kind="staff", staff=db.session.get(StaffAccount, self.staff_id))
            result = points.adjust(principal, user_id, amount, "测试调整")
            db.session.commit()
        assert result.status == "done" and result.transaction_id is not None
        return result.transaction_id

    def ledger(self, action: Callable[[], Any]) -> Any:
        """Run one posting of the ledger's services and commit it."""
        with self.app.app_context():
            result = action()
            db.session.commit()
        assert result.status == "done", result
        return result


def test_volunteer_summary_this_year_and_all_time(app, client, resident, make_staff, org_tree, clock: Clock):
    me, owner = resident("volunteer"), resident("wisher")
    me_id, owner_id = _id_of(client, me), _id_of(client, owner)
    other_id = _id_of(client, resident("other-volunteer"))
    seed = Seeder(app, org_tree["C1"], make_staff(org="C1").id)
    assert clock.now == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # this year is 2026 (Shanghai)

    # Check-ins: 2025 (counted hours 90 + 30), the first minutes of 2026 in Shanghai (still 2025 in UTC), an
    # activity without hours, a voided one, an open one (no minutes yet); another member's.
    seed.checkin(me_id, _local(2025, 3, 10, 9, 0), 90)
    seed.checkin(me_id, _local(2025, 12, 31, 23, 30), 30)
    seed.checkin(me_id, _local(2026, 1, 1, 0, 10), 45)
    seed.checkin(me_id, _local(2026, 11, 20, 14, 0), 60, hours=False)
    seed.checkin(me_id, _local(2026, 11, 25, 14, 0), 120, status="voided")
    seed.checkin(me_id, _local(2026, 11, 30, 14, 0), None, status="open")
    seed.checkin(other_id, _local(2026, 11, 30, 14, 0), 300)

    # Wishes: completed in 2025 and in 2026, one still claimed; another member's completed one.
    seed.wish(owner_id, me_id, "completed", _local(2025, 5, 1, 10, 0))
    seed.wish(owner_id, me_id, "completed", _local(2026, 10, 1, 10, 0))
    seed.wish(owner_id, me_id, "claimed")
    seed.wish(owner_id, other_id, "completed", _local(2026, 10, 2, 10, 0))

    # Points in 2025: +40 earned; +15 reversed since (not earned).
    clock.now = _local(2025, 6, 1, 10, 0)
    seed.adjust(me_id, 40)
    reversed_id = seed.adjust(me_id, 15)
    seed.ledger(lambda: points.reverse(reversed_id, "录入错误"))
    # Points in 2026: +25 earned; -5 taken (not a credit); a hold released, and a redemption captured then
    # reversed: points given back, not earned. Another member's +100.
    clock.now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    seed.adjust(me_id, 25)
    seed.adjust(me_id, -5)
    c1 = org_tree["C1"].id
    released = seed.ledger(lambda: points.hold(me_id, 20, "seed-hold-1", ("redemption", 1), c1))
    seed.ledger(lambda: points.release(released.transaction_id, "取消兑换"))
    held = seed.ledger(lambda: points.hold(me_id, 10, "seed-hold-2", ("redemption", 2), c1))
    captured = seed.ledger(lambda: points.capture(held.transaction_id))
    seed.ledger(lambda: points.reverse(captured.transaction_id, "退货"))
    seed.adjust(other_id, 100)

    response = client.get(SUMMARY, headers=me)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "year": 2026,
        # 45 minutes = 0.75 h, half up to 0.8
        "this_year": {"hours": 0.8, "checkins": 3, "wishes_fulfilled": 1, "points_earned": 25},
        # 165 minutes = 2.75 h → 2.8
        "all_time": {"hours": 2.8, "checkins": 5, "wishes_fulfilled": 2, "points_earned": 65},
    }

    # A new year in Shanghai (still 31 December in UTC): this year starts empty.
    clock.now = _local(2027, 1, 1, 0, 5)
    fresh = client.get(SUMMARY, headers=me).get_json()
    assert fresh["year"] == 2027
    assert fresh["this_year"] == {"hours": 0.0, "checkins": 0, "wishes_fulfilled": 0, "points_earned": 0}
    assert fresh["all_time"] == response.get_json()["all_time"]


def test_volunteer_summary_of_a_newcomer_is_zero_and_users_only(client, resident, staff_of):
    body = client.get(SUMMARY, headers=resident("newcomer")).get_json()
    zero = {"hours": 0.0, "checkins": 0, "wishes_fulfilled": 0, "points_earned": 0}
    assert body["this_year"] == zero and body["all_time"] == zero
    assert client.get(SUMMARY, headers=staff_of("C1")).status_code == 403
    assert client.get(SUMMARY).status_code == 401
