"""Seeding a report's story through the real API at chosen local times, and what the report must then say.

Every operation goes through the API (or a service where no route exists) while a clock stands at a chosen
Asia/Shanghai time; the seeder writes down what happened independently of the report code (who checked in
where and when, the points each step moved as the member's balance shows it, the wish events), and
``expected`` computes the figures from those notes by plain filtering.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select, update

from checkin.models import Activity
from checkin.tokens import issue_token
from points.models import LedgerTransaction
from server.clock import SERVER_ZONE
from server.db import db
from server.users.models import mask_name
from store.models import Redemption
from tests.conftest import Clock, Org, bearer, freeze_clock
from wishes.models import Wish, WishClaim


def local(text: str) -> datetime:
    """'2026-01-01 00:30' in Shanghai, as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=SERVER_ZONE).astimezone(UTC)


def install_clock(monkeypatch: Any) -> Clock:
    """Stop the app's one clock at the seeder's first moment; the seeder moves it."""
    return freeze_clock(monkeypatch, local("2025-12-01 09:00"))


@dataclass(frozen=True)
class Person:
    """A logged-in resident: id, nickname, Authorization header."""

    id: int
    nickname: str
    headers: dict[str, str]


@dataclass
class CheckInNote:
    """A check-in as the seeder saw it."""

    community: str
    at: datetime
    user_id: int
    counts_hours: bool
    minutes: int = 0


@dataclass
class Notes:
    """What was seeded, written down by the seeder (not read back from the report's tables)."""

    activities: list[tuple[str, datetime]] = field(default_factory=list)  # not cancelled
    checkins: dict[int, CheckInNote] = field(default_factory=dict)
    issued: list[tuple[str, date, int, int]] = field(default_factory=list)  # community, day, user, signed
    redeemed: list[tuple[str, date, int]] = field(default_factory=list)  # community, day, signed
    posted: list[tuple[str, datetime]] = field(default_factory=list)
    claims: list[tuple[str, datetime, int]] = field(default_factory=list)  # community, at, wish
    completed: list[tuple[str, datetime, int]] = field(default_factory=list)  # community, at, owner
    nicknames: dict[int, str] = field(default_factory=dict)


class Seeder:
    """Drives the API as staff and residents at the clock's time, taking notes."""

    def __init__(
        self, app: Flask, client: FlaskClient, clock: Clock, org_tree: dict[str, Org], staff: Any
    ) -> None:
        self.app, self.client, self.clock, self.org_tree = app, client, clock, org_tree
        self.staff: dict[str, dict[str, str]] = staff  # community code -> staff Authorization header
        self.notes = Notes()
        self._activity_place: dict[int, tuple[str, bool]] = {}
        self._activity_note: dict[int, tuple[str, datetime]] = {}
        self._station_place: dict[int, str] = {}
        self._checkin_place: dict[int, tuple[str, int]] = {}  # the code a check-out scans
        self._nonce = 0

    def _ok(self, response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def at(self, text: str) -> None:
        """Move the clock to a local time."""
        self.clock.now = local(text)

    def _day(self) -> date:
        return self.clock.now.astimezone(SERVER_ZONE).date()

    def available(self, person: Person) -> int:
        """The member's available points, as /me/points shows them."""
        return int(self._ok(self.client.get("/api/v1/me/points", headers=person.headers))["available"])

    # --- people ---------------------------------------------------------------------------------------

    def resident(
        self, login_user: Any, name: str, nickname: str, community: str, volunteer: bool = False
    ) -> Person:
        """A resident of a community (a registered volunteer there when asked)."""
        tokens = login_user(name)
        headers = bearer(tokens)
        body = {"community_id": self.org_tree[community].id, "nickname": nickname}
        self._ok(self.client.patch("/api/v1/me", json=body, headers=headers))
        user_id = tokens["user"]["id"]
        if volunteer:
            self._register(community, user_id)
        self.notes.nicknames[user_id] = nickname
        return Person(user_id, nickname, headers)

    def _register(self, community: str, user_id: int) -> None:
        response = self.client.post(
            f"/api/v1/communities/{self.org_tree[community].id}/volunteers",
            json={"user_id": user_id},
            headers=self.staff[community],
        )
        assert response.status_code in (200, 201), response.get_json()

    # --- activities and check-ins ---------------------------------------------------------------------

    def activity(
        self, community: str, title: str, starts: str, hours: float = 2, rule: str = "PARTY_DAY", **extra: Any
    ) -> int:
        """An activity of a community starting at a local time; noted unless it gets cancelled."""
        start = local(starts)
        body = {
            "community_id": self.org_tree[community].id,
            "title": title,
            # a meeting, not a party day: these residents are not all party members (who alone attend those)
            "kind": "volunteer" if extra.get("hours_count") else "meeting",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=hours)).isoformat(),
            "points_rule": rule,
            **extra,
        }
        activity_id: int = self._ok(
            self.client.post("/api/v1/activities", json=body, headers=self.staff[community]), 201
        )["id"]
        self._activity_place[activity_id] = (community, bool(extra.get("hours_count")))
        self._activity_note[activity_id] = (community, start)
        self.notes.activities.append((community, start))
        return activity_id

    def cancel_activity(self, activity_id: int) -> None:
        """Cancel an activity (no route does this yet: the column is set as a cancellation would)."""
        with self.app.app_context():
            db.session.execute(
                update(Activity).where(Activity.id == activity_id).values(cancelled_at=self.clock.now)
            )
            db.session.commit()
        self.notes.activities.remove(self._activity_note[activity_id])

    def station(self, community: str, name: str) -> int:
        """A station open every day 08:00–20:00, counting duty hours."""
        days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        body = {
            "community_id": self.org_tree[community].id,
            "name": name,
            "opening_hours": {d: [["08:00", "20:00"]] for d in days},
        }
        station_id: int = self._ok(
            self.client.post("/api/v1/stations", json=body, headers=self.staff[community]), 201
        )["id"]
        self._station_place[station_id] = community
        return station_id

    def check_in(
        self, person: Person, when: str, activity_id: int | None = None, station_id: int | None = None
    ) -> int:
        """Scan the screen code of an activity or a station at a local time."""
        self.at(when)
        kind, target = ("activity", activity_id) if activity_id is not None else ("station", station_id)
        assert target is not None
        with self.app.app_context():
            token = issue_token(kind, target, now=self.clock.now.timestamp()).token
        self._nonce += 1
        before = self.available(person)
        body = self._ok(
            self.client.post(
                "/api/v1/checkins",
                json={"token": token, "nonce": f"seed-{self._nonce:05d}"},
                headers=person.headers,
            ),
            201,
        )
        if activity_id is not None:
            community, counts_hours = self._activity_place[activity_id]
        else:
            community, counts_hours = self._station_place[target], True
        self.notes.checkins[body["id"]] = CheckInNote(community, self.clock.now, person.id, counts_hours)
        self._checkin_place[body["id"]] = (kind, target)
        self._note_issued(community, person, before)
        return int(body["id"])

    def check_out(self, person: Person, checkin_id: int, when: str) -> None:
        """Check out at a local time; the minutes since the check-in count when the place counts hours."""
        self.at(when)
        before = self.available(person)
        self._nonce += 1
        kind, target = self._checkin_place[checkin_id]
        with self.app.app_context():
            token = issue_token(kind, target, now=self.clock.now.timestamp()).token  # scanned at the door
        self._ok(
            self.client.post(
                f"/api/v1/checkins/{checkin_id}/checkout",
                json={"nonce": f"out-{self._nonce:05d}", "token": token},
                headers=person.headers,
            )
        )
        note = self.notes.checkins[checkin_id]
        if note.counts_hours:
            note.minutes = int((self.clock.now - note.at) / timedelta(minutes=1))
        self._note_issued(note.community, person, before)

    def _note_issued(self, community: str, person: Person, before: int) -> None:
        moved = self.available(person) - before
        if moved:
            self.notes.issued.append((community, self._day(), person.id, moved))

    # --- points ---------------------------------------------------------------------------------------

    def adjust(self, person: Person, community: str, amount: int, when: str) -> None:
        """A staff adjustment of a member's points."""
        self.at(when)
        body = {"user_id": person.id, "amount": amount, "reason": "测试调整"}
        self._ok(
            self.client.post("/api/v1/points/adjustments", json=body, headers=self.staff[community]), 201
        )
        self.notes.issued.append((community, self._day(), person.id, amount))

    def reverse_award(self, person: Person, community: str, ref: tuple[str, int], when: str) -> None:
        """Staff reverse the award a check-out (or check-in) earned."""
        self.at(when)
        with self.app.app_context():
            txn_id = db.session.scalar(
                select(LedgerTransaction.id).where(
                    LedgerTransaction.ref_type == ref[0],
                    LedgerTransaction.ref_id == str(ref[1]),
                    LedgerTransaction.kind == "award",
                )
            )
        before = self.available(person)
        self._ok(
            self.client.post(
                f"/api/v1/points/transactions/{txn_id}/reverse",
                json={"reason": "时长有误"},
                headers=self.staff[community],
            ),
            201,
        )
        self.notes.issued.append((community, self._day(), person.id, self.available(person) - before))

    def item(self, community: str, name: str, price: int) -> int:
        """An item of the community's supermarket."""
        body = {"community_id": self.org_tree[community].id, "name": name, "points_price": price, "stock": 20}
        item_id: int = self._ok(
            self.client.post("/api/v1/store/items", json=body, headers=self.staff[community]), 201
        )["id"]
        return item_id

    def redeem(self, person: Person, community: str, item_id: int, when: str, decide: str = "approve") -> int:
        """Request a redemption, then staff approve (captured: redeemed) or reject (released) it."""
        self.at(when)
        self._nonce += 1
        headers = person.headers | {"Idempotency-Key": f"redeem-{self._nonce:05d}"}
        created = self._ok(
            self.client.post(
                "/api/v1/redemptions", json={"item_id": item_id, "quantity": 1}, headers=headers
            ),
            201,
        )
        self.clock.now += timedelta(minutes=5)
        path = f"/api/v1/redemptions/{created['id']}/{decide}"
        payload = {"reason": "库存核对有误"} if decide == "reject" else None
        self._ok(self.client.post(path, json=payload, headers=self.staff[community]))
        if decide == "approve":
            self.notes.redeemed.append((community, self._day(), int(created["points"])))
        return int(created["id"])

    def reverse_capture(self, person: Person, community: str, redemption_id: int, when: str) -> None:
        """Staff reverse a redemption's capture (the points go back to the member)."""
        self.at(when)
        with self.app.app_context():
            redemption = db.session.get(Redemption, redemption_id)
            assert redemption is not None
            txn_id = db.session.scalar(
                select(LedgerTransaction.id).where(LedgerTransaction.settles_id == redemption.hold_id)
            )
        before = self.available(person)
        self._ok(
            self.client.post(
                f"/api/v1/points/transactions/{txn_id}/reverse",
                json={"reason": "退货"},
                headers=self.staff[community],
            ),
            201,
        )
        self.notes.redeemed.append((community, self._day(), -(self.available(person) - before)))

    # --- wishes ---------------------------------------------------------------------------------------

    def post_wish(self, owner: Person, community: str, when: str, title: str = "想请人修水龙头") -> int:
        """A resident posts a wish at a local time and staff approve it."""
        self.at(when)
        body = {
            "title": title,
            "content": "厨房水龙头一直滴水，想请懂行的邻居帮忙看看。",
            "category": "生活帮扶",
        }
        wish_id: int = self._ok(self.client.post("/api/v1/wishes", json=body, headers=owner.headers), 201)[
            "id"
        ]
        with self.app.app_context():  # the row's creation time is the clock's
            db.session.execute(update(Wish).where(Wish.id == wish_id).values(created_at=self.clock.now))
            db.session.commit()
        self.notes.posted.append((community, self.clock.now))
        self._ok(self.client.post(f"/api/v1/wishes/{wish_id}/approve", headers=self.staff[community]))
        return wish_id

    def claim(self, claimer: Person, wish_id: int, community: str, when: str) -> None:
        """A volunteer claims a wish at a local time."""
        self.at(when)
        self._ok(self.client.post(f"/api/v1/wishes/{wish_id}/claim", headers=claimer.headers))
        with self.app.app_context():
            db.session.execute(
                update(WishClaim)
                .where(WishClaim.wish_id == wish_id, WishClaim.outcome == "active")
                .values(created_at=self.clock.now)
            )
            db.session.commit()
        self.notes.claims.append((community, self.clock.now, wish_id))

    def unclaim(self, claimer: Person, wish_id: int, when: str) -> None:
        """The claimer gives the wish back."""
        self.at(when)
        self._ok(self.client.post(f"/api/v1/wishes/{wish_id}/unclaim", headers=claimer.headers))

    def fulfil(self, claimer: Person, wish_id: int, when: str) -> None:
        """The claimer marks it done."""
        self.at(when)
        note = {"note": "已经上门把事情办好了。"}  # 10+ characters: a note that stands without a photo
        self._ok(self.client.post(f"/api/v1/wishes/{wish_id}/fulfil", json=note, headers=claimer.headers))

    def confirm(self, owner: Person, claimer: Person, wish_id: int, community: str, when: str) -> None:
        """The resident confirms: completed, the claimer earns the wish's points."""
        self.at(when)
        before = self.available(claimer)
        self._ok(
            self.client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 5}, headers=owner.headers)
        )
        self.notes.completed.append((community, self.clock.now, owner.id))
        self._note_issued(community, claimer, before)


def hours(minutes: int) -> float:
    """Minutes as hours to a tenth, half up (as people round)."""
    return float((Decimal(minutes) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def get_summary(
    client: FlaskClient, headers: dict[str, str], org: str | None, start: str | None, end: str | None
) -> Any:
    """GET /api/v1/reports/summary?org=&from=&to= (parameters left out when None)."""
    params = {k: v for k, v in (("org", org), ("from", start), ("to", end)) if v is not None}
    return client.get("/api/v1/reports/summary", query_string=params, headers=headers)


def _month(moment: datetime | date) -> str:
    day = moment.astimezone(SERVER_ZONE).date() if isinstance(moment, datetime) else moment
    return day.strftime("%Y-%m")


def expected(notes: Notes, communities: set[str], start: date, end: date) -> dict[str, Any]:
    """The report computed from the notes by filtering: figures, months and the top volunteers."""

    def inside(moment: datetime | date) -> bool:
        day = moment.astimezone(SERVER_ZONE).date() if isinstance(moment, datetime) else moment
        return start <= day <= end

    months: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    activities = [s for c, s in notes.activities if c in communities and inside(s)]
    checkins = [n for n in notes.checkins.values() if n.community in communities and inside(n.at)]
    issued = [(d, u, p) for c, d, u, p in notes.issued if c in communities and inside(d)]
    redeemed = [(d, p) for c, d, p in notes.redeemed if c in communities and inside(d)]
    posted = [at for c, at in notes.posted if c in communities and inside(at)]
    first_claims: dict[int, datetime] = {}
    for c, at, wish in sorted(notes.claims, key=lambda claim: claim[1]):
        if c in communities and inside(at):
            first_claims.setdefault(wish, at)
    completed = [(at, owner) for c, at, owner in notes.completed if c in communities and inside(at)]
    for s in activities:
        months[_month(s)]["activities"] += 1
    for n in checkins:
        months[_month(n.at)]["checkins"] += 1
        months[_month(n.at)]["volunteer_minutes"] += n.minutes
    for d, _, p in issued:
        months[_month(d)]["points_issued"] += p
    for d, p in redeemed:
        months[_month(d)]["points_redeemed"] += p
    for at in posted:
        months[_month(at)]["wishes_posted"] += 1
    for at in first_claims.values():
        months[_month(at)]["wishes_claimed"] += 1
    for at, _ in completed:
        months[_month(at)]["wishes_completed"] += 1
    minutes = sum(n.minutes for n in checkins)
    figures = {
        "activities": len(activities),
        "checkins": len(checkins),
        "volunteer_minutes": minutes,
        "volunteer_hours": hours(minutes),
        "distinct_members": len({n.user_id for n in checkins}),
        "points_issued": sum(p for _, _, p in issued),
        "points_redeemed": sum(p for _, p in redeemed),
        "wishes_posted": len(posted),
        "wishes_claimed": len(first_claims),
        "wishes_completed": len(completed),
        "residents_served": len(completed),
        "residents_distinct": len({owner for _, owner in completed}),
    }
    earned: dict[int, int] = defaultdict(int)
    for _, user, p in issued:
        earned[user] += p
    minutes_of: dict[int, int] = defaultdict(int)
    visits: dict[int, int] = defaultdict(int)
    for n in checkins:
        minutes_of[n.user_id] += n.minutes
        visits[n.user_id] += 1
    ranked = sorted((-p, -minutes_of[u], u) for u, p in earned.items() if p > 0)[:10]
    top = [(-p, -m, u) for p, m, u in ranked]
    return {
        "figures": figures,
        "months": {month: _shaped(row) for month, row in months.items()},
        "top": [
            {
                "user_id": u,
                "name_masked": mask_name(notes.nicknames[u]),
                "points": p,
                "volunteer_hours": hours(h),
                "checkins": visits[u],
            }
            for p, h, u in top
        ],
    }


def _shaped(row: dict[str, float]) -> dict[str, float]:
    """A month's non-zero values, with its minutes as hours."""
    shaped = {k: v for k, v in row.items() if v and k != "volunteer_minutes"}
    if row.get("volunteer_minutes"):
        shaped["volunteer_hours"] = hours(int(row["volunteer_minutes"]))
    return shaped


def months_of(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The report's months in the shape of ``expected``'s (zeros left out)."""
    shaped = {}
    for row in summary["months"]:
        values = {
            "activities": row["activities"],
            "checkins": row["checkins"],
            "volunteer_hours": row["volunteer_hours"],
            "points_issued": row["points_issued"],
            "points_redeemed": row["points_redeemed"],
            "wishes_posted": row["wishes_posted"],
            "wishes_claimed": row["wishes_claimed"],
            "wishes_completed": row["wishes_completed"],
        }
        kept = {k: v for k, v in values.items() if v}
        if kept:
            shaped[row["month"]] = kept
    return shaped


@dataclass
class Story:
    """The seeded story's people and things."""

    people: dict[str, Person]
    notes: Notes


def seed_story(seeder: Seeder, login_user: Any) -> Story:
    """A first quarter of 2026 in C1 (with a little in C2 and C3), with events on both sides of its edges.

    C1, 2026-01-01..2026-03-31 must report: activities 3 (the cancelled one and April's not), check-ins 6
    (m4's at 00:10 on 1 April is outside although it is still 31 March in UTC), volunteer hours 6
    (150 + 120 + 90 minutes; m2's 60 minutes at a per-event party day do not count), members 3, points issued
    53, redeemed 10, wishes posted 5, claimed 5, completed 3, residents served 3 (2 distinct).
    """
    s = seeder
    s.at("2025-12-01 09:00")
    people = {
        "m1": s.resident(login_user, "m1", "王小明", "C1", volunteer=True),
        "m2": s.resident(login_user, "m2", "李华", "C1"),
        "m3": s.resident(login_user, "m3", "张伟", "C1", volunteer=True),
        "m4": s.resident(login_user, "m4", "赵敏", "C1"),
        "r1": s.resident(login_user, "r1", "陈奶奶", "C1"),
        "r2": s.resident(login_user, "r2", "刘爷爷", "C1"),
        "m5": s.resident(login_user, "m5", "周强", "C2", volunteer=True),
        "r3": s.resident(login_user, "r3", "吴阿姨", "C2"),
        "m7": s.resident(login_user, "m7", "郑洁", "C3"),
    }
    p = people
    a_jan = s.activity("C1", "元旦主题党日", "2026-01-01 00:30")
    a_feb = s.activity(
        "C1", "社区清洁志愿服务", "2026-02-14 09:00", hours=3, rule="VOLUNTEER_HOUR", hours_count=True
    )
    a_cancelled = s.activity("C1", "取消的活动", "2026-02-20 14:00")
    a_mar = s.activity("C1", "月末主题党日", "2026-03-31 23:00")
    a_apr = s.activity("C1", "四月主题党日", "2026-04-01 00:30", hours=1)
    b_mar = s.activity("C2", "二社区党日", "2026-03-05 10:00")
    x_mar = s.activity("C3", "三社区党日", "2026-03-06 10:00")
    station = s.station("C1", "党群服务驿站")
    s.cancel_activity(a_cancelled)

    s.check_in(p["m1"], "2026-01-01 00:35", a_jan)
    m2_jan = s.check_in(p["m2"], "2026-01-01 00:40", a_jan)
    s.check_out(p["m2"], m2_jan, "2026-01-01 01:40")
    m1_feb = s.check_in(p["m1"], "2026-02-14 09:00", a_feb)
    m3_feb = s.check_in(p["m3"], "2026-02-14 09:00", a_feb)
    s.check_out(p["m3"], m3_feb, "2026-02-14 11:00")
    s.check_out(p["m1"], m1_feb, "2026-02-14 11:30")
    visit = s.check_in(p["m1"], "2026-03-10 10:00", station_id=station)
    s.check_out(p["m1"], visit, "2026-03-10 11:30")
    s.check_in(p["m3"], "2026-03-31 23:50", a_mar)
    s.check_in(p["m4"], "2026-04-01 00:10", a_mar)
    s.check_in(p["m2"], "2026-04-01 00:35", a_apr)
    s.check_in(p["m5"], "2026-03-05 10:05", b_mar)
    s.check_in(p["m7"], "2026-03-06 10:05", x_mar)

    s.adjust(p["m2"], "C1", 20, "2026-02-01 10:00")
    s.adjust(p["m2"], "C1", -5, "2026-02-02 10:00")
    s.reverse_award(p["m3"], "C1", ("checkout", m3_feb), "2026-03-15 10:00")
    rice = s.item("C1", "大米 5kg", 10)
    s.redeem(p["m1"], "C1", rice, "2026-03-20 10:00")
    s.redeem(p["m2"], "C1", rice, "2026-03-21 10:00", decide="reject")
    returned = s.redeem(p["m2"], "C1", rice, "2026-03-22 10:00")
    s.reverse_capture(p["m2"], "C1", returned, "2026-03-25 10:00")

    w4 = s.post_wish(p["r1"], "C1", "2025-12-31 23:30", "想学用智能手机")
    w1 = s.post_wish(p["r1"], "C1", "2026-01-05 10:00", "想请人修水龙头")
    s.claim(p["m1"], w1, "C1", "2026-01-06 10:00")
    s.fulfil(p["m1"], w1, "2026-01-10 10:00")
    w5 = s.post_wish(p["r2"], "C1", "2026-01-20 10:00", "想要几本课外书")
    s.claim(p["m3"], w5, "C1", "2026-01-21 10:00")
    s.fulfil(p["m3"], w5, "2026-01-25 10:00")
    w6 = s.post_wish(p["r1"], "C1", "2026-02-01 09:00", "阳台晾衣架坏了")
    s.claim(p["m3"], w6, "C1", "2026-02-02 09:00")
    s.fulfil(p["m3"], w6, "2026-02-05 09:00")
    s.confirm(p["r1"], p["m1"], w1, "C1", "2026-02-02 10:00")
    w2 = s.post_wish(p["r2"], "C1", "2026-02-10 10:00", "需要陪同去医院")
    s.claim(p["m1"], w2, "C1", "2026-02-11 10:00")
    s.unclaim(p["m1"], w2, "2026-02-12 10:00")
    s.confirm(p["r1"], p["m3"], w6, "C1", "2026-02-20 10:00")
    s.claim(p["m3"], w2, "C1", "2026-03-01 10:00")
    s.confirm(p["r2"], p["m3"], w5, "C1", "2026-03-03 10:00")
    s.claim(p["m1"], w4, "C1", "2026-03-28 10:00")
    s.fulfil(p["m1"], w4, "2026-03-30 10:00")
    s.post_wish(p["r1"], "C1", "2026-03-30 11:00", "楼道灯不亮了")
    s.confirm(p["r1"], p["m1"], w4, "C1", "2026-04-01 00:05")
    w7 = s.post_wish(p["r3"], "C2", "2026-02-03 10:00", "想请人教用电脑")
    s.claim(p["m5"], w7, "C2", "2026-02-04 10:00")
    s.fulfil(p["m5"], w7, "2026-02-05 10:00")
    s.confirm(p["r3"], p["m5"], w7, "C2", "2026-02-06 10:00")
    return Story(people, s.notes)


def check_workbook(data: bytes, summary: dict[str, Any]) -> None:
    """The workbook's sheets, title rows, Chinese headers and figures equal the summary's."""
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["概览", "月度签到", "月度积分", "月度心愿", "志愿者排行"]
    for sheet in book.worksheets:
        title = sheet["A1"].value
        assert summary["org"]["name"] in title and summary["org"]["code"] in title
        assert f"{summary['from']} 至 {summary['to']}" in title
    rows = {name: list(book[name].iter_rows(min_row=2, values_only=True)) for name in book.sheetnames}
    assert rows["概览"][0] == ("指标", "数值", "单位", "说明")
    overview = {row[0]: row[1] for row in rows["概览"][1:] if row and row[0]}
    f = summary["figures"]
    assert {
        "开展活动": f["activities"],
        "签到": f["checkins"],
        "志愿服务时长": f["volunteer_hours"],
        "参与居民": f["distinct_members"],
        "发放积分": f["points_issued"],
        "兑换积分": f["points_redeemed"],
        "发布微心愿": f["wishes_posted"],
        "认领微心愿": f["wishes_claimed"],
        "认领兑现微心愿": f["wishes_completed"],
        "服务居民": f["residents_served"],
        "服务居民人数": f["residents_distinct"],
        "覆盖社区": summary["communities"],
    }.items() <= overview.items()
    assert overview["摘要"] == summary["summary_text"]
    months = summary["months"]
    assert rows["月度签到"][0] == ("月份", "开展活动（场）", "签到（人次）", "志愿服务时长（小时）")
    assert rows["月度签到"][1:] == [
        *((m["month"], m["activities"], m["checkins"], m["volunteer_hours"]) for m in months),
        ("合计", f["activities"], f["checkins"], f["volunteer_hours"]),
    ]
    assert rows["月度积分"][0] == ("月份", "发放积分（分）", "兑换积分（分）")
    assert rows["月度积分"][1:] == [
        *((m["month"], m["points_issued"], m["points_redeemed"]) for m in months),
        ("合计", f["points_issued"], f["points_redeemed"]),
    ]
    assert rows["月度心愿"][0] == ("月份", "发布微心愿（个）", "认领微心愿（个）", "完成微心愿（个）")
    assert rows["月度心愿"][1:] == [
        *((m["month"], m["wishes_posted"], m["wishes_claimed"], m["wishes_completed"]) for m in months),
        ("合计", f["wishes_posted"], f["wishes_claimed"], f["wishes_completed"]),
    ]
    assert rows["志愿者排行"][0] == ("排名", "志愿者", "积分（分）", "志愿服务时长（小时）", "签到（次）")
    assert rows["志愿者排行"][1:] == [
        (v["rank"], v["name_masked"], v["points"], v["volunteer_hours"], v["checkins"])
        for v in summary["top_volunteers"]
    ]
