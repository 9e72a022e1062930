"""The world the API fuzz run works in: callers of every kind and a few objects whose ids exist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import schemathesis
from flask import Flask
from flask.testing import FlaskClient

from points import services as points_services
from server import clock as app_clock
from server.auth.policy import Principal
from server.db import db
from server.orgs.models import OrgUnit
from server.orgs.services import create_org
from server.users.models import StaffAccount, User
from server.users.services import create_staff
from tests.conftest import FakeWeChat, bearer, reset_app_state
from wishes.models import Wish

# Reproducible: the same seed generates the same requests on every run.
FUZZ_SEED = 20_260_109
# Generated requests per operation in the fuzzing phase (the coverage phase adds its boundary cases).
MAX_EXAMPLES = 12
# Path parameters that name a seeded object: drawn from the seeded ids half the time.
PATH_IDS = [
    "activity_id",
    "award_id",
    "checkin_id",
    "item_id",
    "move_id",
    "redemption_id",
    "report_id",
    "station_id",
    "transaction_id",
    "user_id",
    "wish_id",
]
STAFF_PASSWORD = "fuzz-password-1"  # noqa: S105  (a test password)


@dataclass(frozen=True)
class Caller:
    """Who sends a fuzzed request: a name for the report and the headers that identify them."""

    name: str
    headers: dict[str, str]


@dataclass(frozen=True)
class World:
    """The callers, and the id of C1 (whose objects have the ids 1 and 2)."""

    callers: list[Caller]
    community_id: int


def load_schema(app: Flask, world: World) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, loaded over WSGI (requests go to the app in-process)."""
    config = schemathesis.Config.from_dict(
        {
            "seed": FUZZ_SEED,
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
            "generation": {
                "mode": "all",  # schema-valid requests and invalid ones
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                # The callers' headers are set by the test; generated Authorization values would replace them.
                "with-security-parameters": False,
                "dictionaries": {"integer": {"dictionary": "ids", "probability": 0.3}},
            },
            "phases": {"stateful": {"enabled": False}},
            # Random integers and strings rarely name something that exists: draw the seeded ids, C1's id
            # and known codes often enough that requests get past the lookups to the rules behind them.
            "dictionaries": {
                "ids": {"values": [1, 2]},
                "community": {"values": [world.community_id]},
                "category": {"values": ["生活帮扶"]},
                "rule": {"values": ["PARTY_DAY", "ACTIVITY_CHECKIN"]},
            },
            "parameters": {
                "community_id": {"dictionary": "community", "probability": 0.5},
                "body.community_id": {"dictionary": "community", "probability": 0.5},
                "body.category": {"dictionary": "category", "probability": 0.5},
                "body.points_rule": {"dictionary": "rule", "probability": 0.5},
                "code": {"dictionary": "rule", "probability": 0.5},
                **{f"path.{name}": {"dictionary": "ids", "probability": 0.5} for name in PATH_IDS},
            },
        }
    )
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=config)


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _login_user(client: FlaskClient, name: str, community_id: int, nickname: str) -> dict[str, Any]:
    tokens = _ok(client.post("/api/v1/auth/wechat", json={"code": f"{name}.fuzz"}))
    me = {"community_id": community_id, "nickname": nickname}
    _ok(client.patch("/api/v1/me", json=me, headers=bearer(tokens)))
    return tokens


def seed_world(app: Flask) -> World:
    """On empty tables: D1 → S1 → C1, C2; a staff member of C1 and an admin of D1; a party member of C1
    with 50 points; a resident of C1; and in C1 two stations, two activities, two store items, the
    member's redemption, the resident's two approved wishes and party report, two C2 residents' moves into
    C1, two wishes the member fulfilled whose awards wait for staff — so ids 1 and 2 exist."""
    client = app.test_client()
    with app.app_context():
        for kind, name, code, parent in [
            ("district", "测试区", "D1", None),
            ("street", "一街道", "S1", "D1"),
            ("community", "一社区", "C1", "S1"),
            ("community", "二社区", "C2", "S1"),
        ]:
            create_org(kind, name, code, parent)
        create_staff("fuzz_staff", STAFF_PASSWORD, "staff", "C1")
        create_staff("fuzz_admin", STAFF_PASSWORD, "admin", "D1")
        db.session.commit()
        c1 = db.session.scalars(db.select(OrgUnit.id).where(OrgUnit.code == "C1")).one()
        c2 = db.session.scalars(db.select(OrgUnit.id).where(OrgUnit.code == "C2")).one()
    staff, admin = (
        bearer(_ok(client.post("/api/v1/auth/staff", json={"username": u, "password": STAFF_PASSWORD})))
        for u in ("fuzz_staff", "fuzz_admin")
    )
    member_tokens = _login_user(client, "member", c1, "党员甲")
    member = bearer(member_tokens)
    resident = bearer(_login_user(client, "resident", c1, "居民乙"))
    with app.app_context():
        user = db.session.get(User, member_tokens["user"]["id"])
        assert user is not None
        user.party_community_id = c1
        account = db.session.scalars(
            db.select(StaffAccount).where(StaffAccount.username == "fuzz_staff")
        ).one()
        result = points_services.adjust(Principal(kind="staff", staff=account), user.id, 50, "模糊测试开户")
        assert result.status == "done", result
        db.session.commit()

    start = app_clock.now() + timedelta(days=1)
    for name in ("党群服务中心", "志愿服务站"):
        station = {"community_id": c1, "name": name, "address": "幸福路1号"}
        _ok(client.post("/api/v1/stations", json=station, headers=staff), 201)
    for title in ("主题党日", "社区清扫"):
        activity = {
            "community_id": c1,
            "title": title,
            "kind": "party_day",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "points_rule": "PARTY_DAY",
            "signup_required": True,
            "capacity": 30,
        }
        _ok(client.post("/api/v1/activities", json=activity, headers=staff), 201)
    for name in ("大米 5kg", "食用油"):
        item = {"community_id": c1, "name": name, "points_price": 10, "stock": 5}
        _ok(client.post("/api/v1/store/items", json=item, headers=staff), 201)
    _ok(client.post("/api/v1/redemptions", json={"item_id": 1, "quantity": 1}, headers=member), 201)
    for title in ("想请人修水龙头", "想借一把梯子"):
        wish = {"title": title, "content": "厨房水龙头一直滴水，想请邻居帮忙看看。", "category": "生活帮扶"}
        wish_id = _ok(client.post("/api/v1/wishes", json=wish, headers=resident), 201)["id"]
        _ok(client.post(f"/api/v1/wishes/{wish_id}/approve", headers=staff))
    for title in ("想请人换灯泡", "想请人修门锁"):  # completed, rated 1: awards 1 and 2 wait for staff
        wish = {"title": title, "content": "家里有点小事，想请邻居帮忙看看。", "category": "生活帮扶"}
        wish_id = _ok(client.post("/api/v1/wishes", json=wish, headers=resident), 201)["id"]
        _ok(client.post(f"/api/v1/wishes/{wish_id}/approve", headers=staff))
        _ok(client.post(f"/api/v1/wishes/{wish_id}/claim", headers=member))
        with app.app_context():  # claimed an hour ago: long enough to have helped
            claimed_at = app_clock.now() - timedelta(hours=1)
            db.session.execute(db.update(Wish).where(Wish.id == wish_id).values(claimed_at=claimed_at))
            db.session.commit()
        done = {"note": "已经上门帮忙处理好了"}
        _ok(client.post(f"/api/v1/wishes/{wish_id}/fulfil", json=done, headers=member))
        _ok(client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 1}, headers=resident))
    report = {"community_id": c1, "branch": "某公司第一党支部", "employer": "某公司"}
    _ok(client.post("/api/v1/me/party-report", json=report, headers=resident), 201)
    for number in (1, 2):  # moves of C2 residents into C1: ids 1 and 2
        mover = bearer(_login_user(client, f"mover{number}", c2, f"迁入者{number}"))
        move = {"community_id": c1, "reason": "搬到一社区"}
        _ok(client.post("/api/v1/me/community-moves", json=move, headers=mover), 201)
    callers = [
        Caller("anonymous", {}),
        Caller("party member of C1", member),
        Caller("staff of C1", staff),
        Caller("admin of D1", admin),
    ]
    return World(callers, c1)


def fresh_world(app: Flask, wechat_fake: FakeWeChat) -> tuple[World, list[str]]:
    """Check the ledger invariants, empty the database and seed the world again; returns the world and
    what the ledger check found (empty when the invariants hold)."""
    problems = reset_app_state(app)
    wechat_fake.state.reset()
    return seed_world(app), problems
