"""The security tests' world: one community (C1) with an object in every state an endpoint needs, the
six callers of the permission matrix, and a snapshot of every table to prove a refusal wrote nothing."""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from server.db import db
from server.users.models import User
from tests.conftest import Org, Staff, bearer

ROLES = ("anonymous", "resident", "member", "staff", "other_staff", "admin")
_unique = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other call of this run gets (codes, nonces, usernames)."""
    return f"{prefix}{next(_unique)}"


def jpeg_bytes() -> bytes:
    """A small JPEG image."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 12), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def iso(moment: datetime) -> str:
    """A time as the API reads it (with its offset)."""
    return moment.astimezone(UTC).isoformat()


# --- snapshots: every table's rows, to compare before and after a call ---------------------------------


def snapshot(app: Flask) -> dict[str, tuple[int, str]]:
    """(row count, digest of the rows) of every table; the ledger balances are rows of points_accounts."""
    with app.app_context(), db.engine.connect() as conn:
        tables = db.metadata.sorted_tables
        if conn.dialect.name == "postgresql":
            query = " UNION ALL ".join(
                f"SELECT '{t.name}', count(*), "  # noqa: S608  (table names from the models' metadata)
                f"md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM \"{t.name}\" x"
                for t in tables
            )
            return {name: (int(count), digest) for name, count, digest in conn.execute(text(query))}
        result = {}
        for table in tables:
            rows = sorted(repr(tuple(row)) for row in conn.execute(table.select()))
            result[table.name] = (
                len(rows),
                hashlib.md5("|".join(rows).encode(), usedforsecurity=False).hexdigest(),
            )
        return result


def changed_tables(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> dict[str, str]:
    """Tables whose rows differ, with their counts before → after."""
    return {
        name: f"{before[name][0]} → {after.get(name, (0, ''))[0]} rows"
        for name in before
        if before[name] != after.get(name)
    }


# --- the world ------------------------------------------------------------------------------------------


@dataclass
class World:
    """Ids of what was made (``ids``, for paths), each caller's headers, and a few spare credentials."""

    app: Flask
    ids: dict[str, int] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def token(self, kind: str, target: str) -> str:
        """A check-in code issued now (call inside an app context)."""
        from checkin.tokens import issue_token

        return issue_token(kind, self.ids[target]).token


class Builder:
    """Makes the world through the API, as a staff member, residents and party members would."""

    def __init__(self, app: Flask, client: FlaskClient, org_tree: dict[str, Org]) -> None:
        self.app, self.client, self.org_tree = app, client, org_tree
        self.world = World(app)

    def call(self, method: str, path: str, who: dict[str, str], expect: int = 200, **kwargs: Any) -> Any:
        response = self.client.open(f"/api/v1{path}", method=method, headers=who, **kwargs)
        assert response.status_code == expect, (method, path, response.get_json())
        return response.get_json()

    def login_user(
        self, name: str, community: str | None = "C1", nickname: str | None = None
    ) -> tuple[int, Any]:
        tokens = self.call("POST", "/auth/wechat", {}, json={"code": unique(name + "-") + ".1"})
        headers = bearer(tokens)
        if community is not None:
            body = {"community_id": self.org_tree[community].id, "nickname": nickname or f"{name}昵称"}
            self.call("PATCH", "/me", headers, json=body)
        return tokens["user"]["id"], headers

    def set_user(self, user_id: int, **values: Any) -> None:
        with self.app.app_context():
            user = db.session.get(User, user_id)
            assert user is not None
            for name, value in values.items():
                setattr(user, name, value)
            db.session.commit()


@pytest.fixture
def world(
    app: Flask,
    client: FlaskClient,
    org_tree: dict[str, Org],
    make_staff: Callable[..., Staff],
    login_staff: Callable[[Staff], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    """C1 with an object in every state the matrix needs; one object per mutating row, so rows never
    disturb each other whatever one caller may do."""
    b = Builder(app, client, org_tree)
    w = b.world
    c1 = org_tree["C1"].id
    w.ids["c1"] = c1

    # The six callers.
    staff = login_staff(make_staff(role="staff", org="C1"))
    w.headers["anonymous"] = {}
    w.headers["staff"] = bearer(staff)
    w.headers["other_staff"] = bearer(login_staff(make_staff(role="staff", org="C2")))
    w.headers["admin"] = bearer(login_staff(make_staff(role="admin", org="D1")))
    resident, w.headers["resident"] = b.login_user("resident")
    member, w.headers["member"] = b.login_user("member")
    b.set_user(member, party_community_id=c1, party_member_since=datetime.now(UTC))
    claimer, claimer_headers = b.login_user("claimer")
    b.set_user(claimer, party_community_id=c1, party_member_since=datetime.now(UTC))
    w.ids.update(resident=resident, member=member)
    s, admin = w.headers["staff"], w.headers["admin"]

    # Spare credentials for the login routes (each caller logs in, refreshes and logs out with them).
    w.values["login_staff"] = make_staff(role="staff", org="C1", username=unique("spare_staff_"))
    w.values["refresh_tokens"] = [
        b.call("POST", "/auth/wechat", {}, json={"code": unique("spare-") + ".1"})["refresh_token"]
        for _ in range(2)
    ]

    # Party reports waiting for a decision; a volunteer to take off the list; a resident to register.
    for key in ("report_approve", "report_reject"):
        _, headers = b.login_user(key.replace("_", "-"))
        w.ids[key] = b.call(
            "POST", "/me/party-report", headers, 201, json={"community_id": c1, "branch": "一支部"}
        )["id"]
    w.ids["new_volunteer"], _ = b.login_user("new-volunteer")
    # Moves of C2 residents into C1, waiting for C1's staff (C2's staff, the old community, do not decide).
    w.ids["c2"] = org_tree["C2"].id
    for key in ("move_approve", "move_reject"):
        _, headers = b.login_user(key.replace("_", "-"), community="C2")
        w.ids[key] = b.call(
            "POST", "/me/community-moves", headers, 201, json={"community_id": c1, "reason": "搬到一社区"}
        )["id"]
    w.ids["volunteer"], _ = b.login_user("volunteer")
    # Residents of C1 asking to volunteer for it, waiting for C1's staff.
    for key in ("application_accept", "application_decline"):
        _, headers = b.login_user(key.replace("_", "-"))
        w.ids[key] = b.call("POST", "/me/volunteer-application", headers, 201, json={"community_id": c1})[
            "id"
        ]
    b.call("POST", f"/communities/{c1}/volunteers", s, json={"user_id": w.ids["volunteer"]})
    # Residents of C1 for staff to disable, and one already disabled to enable again.
    w.ids["disable_target"], _ = b.login_user("disable-target")
    w.ids["enable_target"], _ = b.login_user("enable-target")
    b.call("POST", f"/users/{w.ids['enable_target']}/disable", s, json={"reason": "矩阵停用"})

    # Points: the resident and the member can redeem; an adjustment to reverse; a rule to edit.
    for user_id, amount in ((resident, 200), (member, 50)):
        b.call(
            "POST",
            "/points/adjustments",
            admin,
            201,
            json={"user_id": user_id, "amount": amount, "reason": "初始"},
        )
    w.ids["transaction"] = b.call(
        "POST", "/points/adjustments", admin, 201, json={"user_id": resident, "amount": 5, "reason": "待冲正"}
    )["transaction_id"]
    rule = {"code": "MATRIX_RULE", "name": "矩阵", "category": "其他", "points": 1, "unit": "event"}
    b.call("POST", "/points/rules", admin, 201, json=rule)

    # The store: an item and the resident's redemptions, one per row that decides one.
    item = {"community_id": c1, "name": "洗衣液", "points_price": 10, "stock": 50}
    w.ids["item"] = b.call("POST", "/store/items", s, 201, json=item)["id"]
    for key in (
        "redemption_approve",
        "redemption_reject",
        "redemption_cancel",
        "redemption_bulk",
        "redemption_qr",
        "redemption_pickup",
    ):
        w.ids[key] = b.call(
            "POST", "/redemptions", w.headers["resident"], 201, json={"item_id": w.ids["item"]}
        )["id"]
    b.call("POST", f"/redemptions/{w.ids['redemption_qr']}/approve", s)
    w.values["pickup_code"] = b.call("POST", f"/redemptions/{w.ids['redemption_pickup']}/approve", s)[
        "pickup_code"
    ]

    # Check-in: a station, activities open now and one tomorrow, an open check-in of the resident.
    now = datetime.now(UTC)
    station = {"community_id": c1, "name": "党群服务中心", "printed_code_allowed": True}
    w.ids["station"] = b.call("POST", "/stations", s, 201, json=station)["id"]

    def activity(title: str, starts: datetime, **extra: Any) -> int:
        body = {
            "community_id": c1,
            "title": title,
            "kind": "volunteer",  # open to every resident of C1 (a party day takes its party members only)
            "starts_at": iso(starts),
            "printed_code_allowed": True,
            "ends_at": iso(starts + timedelta(hours=3)),
            "points_rule": "PARTY_DAY",
            **extra,
        }
        activity_id: int = b.call("POST", "/activities", s, 201, json=body)["id"]
        return activity_id

    started = now - timedelta(minutes=10)
    for key in ("activity", "activity_scan", "activity_batch", "activity_void"):
        w.ids[key] = activity(key, started)
    w.ids["activity_future"] = activity("明天的活动", now + timedelta(days=1))
    w.ids["activity_hours"] = activity("志愿服务", started, hours_count=True, points_rule="VOLUNTEER_HOUR")
    with app.app_context():
        token = w.token("activity", "activity_hours")
    w.ids["checkin"] = b.call(
        "POST",
        "/checkins",
        w.headers["resident"],
        201,
        json={"token": token, "nonce": unique("nonce-world-")},
    )["id"]
    with app.app_context():
        token = w.token("activity", "activity_void")
    w.ids["checkin_void"] = b.call(
        "POST", "/checkins", w.headers["member"], 201, json={"token": token, "nonce": unique("nonce-void-")}
    )["id"]

    # Wishes of the resident in every state a row needs; the claimer (a second party member) holds some
    # claims, the member two, so the member can still claim one more. The resident posts more than
    # WISH_POST_RATE_LIMIT and WISH_MAX_PENDING let one user, and claimers fulfil at once: those limits
    # have their own tests (tests/wishes/test_review.py).
    monkeypatch.setitem(app.config, "WISH_POST_RATE_LIMIT", "1000 per day")
    monkeypatch.setitem(app.config, "WISH_MAX_PENDING", 1000)
    monkeypatch.setitem(app.config, "WISH_MIN_FULFIL_MINUTES", 0)
    monkeypatch.setitem(app.config, "WISH_CLAIMS_PER_DAY", 1000)  # F7's day limit: tests/wishes too

    def wish(state: str, holder: dict[str, str] | None = None) -> int:
        body = {"title": "修水龙头", "content": "厨房水龙头一直滴水。", "category": "生活帮扶"}
        wish_id: int = b.call("POST", "/wishes", w.headers["resident"], 201, json=body)["id"]
        if state == "pending_review":
            return wish_id
        b.call("POST", f"/wishes/{wish_id}/approve", s)
        if state == "open":
            return wish_id
        assert holder is not None
        b.call("POST", f"/wishes/{wish_id}/claim", holder)
        if state == "claimed":
            return wish_id
        b.call("POST", f"/wishes/{wish_id}/fulfil", holder, json={"note": "已经上门把水龙头修好了"})
        if state == "fulfilled":
            return wish_id
        b.call("POST", f"/wishes/{wish_id}/confirm", w.headers["resident"], json={"rating": 5})
        return wish_id

    w.ids["wish_view"] = wish("pending_review")
    w.ids["wish_approve"] = wish("pending_review")
    w.ids["wish_reject"] = wish("pending_review")
    w.ids["wish_claim"] = wish("open")
    w.ids["wish_cancel"] = wish("open")
    w.ids["wish_release"] = wish("claimed", claimer_headers)
    w.ids["wish_unclaim"] = wish("claimed", w.headers["member"])
    w.ids["wish_fulfil"] = wish("claimed", w.headers["member"])
    w.ids["wish_confirm"] = wish("fulfilled", claimer_headers)
    w.ids["wish_story"] = wish("completed", claimer_headers)
    w.ids["wish_dispute"] = wish("fulfilled", claimer_headers)
    w.ids["wish_complete"] = wish("fulfilled", claimer_headers)
    dispute = {"reason": "没有人上门"}
    b.call("POST", f"/wishes/{w.ids['wish_complete']}/dispute", w.headers["resident"], json=dispute)
    # A rating of 1: the points wait for staff. The member helped (the claimer's pair with the resident was
    # paid for wish_story already: PAIR_LIMIT would refuse them at once).
    for key in ("award_approve", "award_reject"):
        rated = wish("fulfilled", w.headers["member"])
        confirmed = b.call("POST", f"/wishes/{rated}/confirm", w.headers["resident"], json={"rating": 1})
        w.ids[key] = confirmed["award"]["id"]
    return w
