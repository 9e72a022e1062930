"""The permission matrix: every API endpoint × six callers → the expected status, from one table.

Callers: ``anonymous``; ``resident`` (lives in C1); ``member`` (a party member of C1); ``staff`` (staff of
C1); ``other_staff`` (staff of C2, a sibling community); ``admin`` (admin of the district D1, above both).
The objects are in C1 (see conftest.py). Each row uses its own object, so a success in one row never
changes what another row finds. A refused call (4xx) must leave every table as it was, and so must every
read; a cell written ``Same(200)`` answers 200 and must change nothing too (a bulk action that refused
each item inside).

A new endpoint without a row fails ``test_the_table_has_a_row_for_every_endpoint``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.security.conftest import ROLES, World, changed_tables, iso, jpeg_bytes, snapshot, unique


@dataclass(frozen=True)
class Same:
    """A success status after which nothing may have changed (every item refused inside)."""

    status: int
    but: frozenset[str] = frozenset()  # tables that may change: e.g. the log of refused batch items


Cell = int | Same
Body = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    """One endpoint: the path to call (``{name}`` from the world's ids), a body, and a cell per caller."""

    path: str
    expect: tuple[Cell, Cell, Cell, Cell, Cell, Cell]
    body: Body | None = None
    query: str = ""
    upload: bool = False


def now_iso(_: World) -> str:
    return iso(datetime.now(UTC))


# A cell per caller, in the order of ROLES: (anonymous, resident, member, staff, other_staff, admin).
U = 401  # anonymous
PUBLIC = (200, 200, 200, 200, 200, 200)
ANY_LOGIN = (U, 200, 200, 200, 200, 200)
USERS = (U, 200, 200, 403, 403, 403)  # a WeChat user's own things
STAFF_READ = (U, 403, 403, 200, 403, 200)  # staff reading C1's things
STAFF_LIST = (U, 403, 403, 200, 200, 200)  # staff lists, filtered to the caller's subtree
STAFF_DO = (U, 403, 403, 200, 403, 200)
STAFF_MAKE = (U, 403, 403, 201, 403, 201)
RESIDENT_OWNS = (U, 200, 403, 403, 403, 403)  # the resident's wish
MEMBER_HOLDS = (U, 403, 200, 403, 403, 403)  # the member's claim
SHOWN = Same(200, but=frozenset({"audit_log"}))  # a read showing a wish's contact audits it (F7)

TABLE: dict[str, Row] = {
    # --- login ----------------------------------------------------------------------------------------
    "POST /api/v1/auth/wechat": Row("/auth/wechat", PUBLIC, lambda w: {"code": unique("login-") + ".1"}),
    "POST /api/v1/auth/staff": Row(
        "/auth/staff",
        PUBLIC,
        lambda w: {
            "username": w.values["login_staff"].username,
            "password": w.values["login_staff"].password,
        },
    ),
    "POST /api/v1/auth/refresh": Row(
        "/auth/refresh", PUBLIC, lambda w: {"refresh_token": w.values["refresh_tokens"][0]}
    ),
    "POST /api/v1/auth/logout": Row(
        "/auth/logout", (204,) * 6, lambda w: {"refresh_token": w.values["refresh_tokens"][1]}
    ),
    # --- orgs, me, files ---------------------------------------------------------------------------------
    "GET /api/v1/communities": Row("/communities", PUBLIC),
    "GET /api/v1/me": Row("/me", ANY_LOGIN),
    "PATCH /api/v1/me": Row("/me", USERS, lambda w: {"nickname": "新昵称"}),
    "POST /api/v1/me/phone": Row("/me/phone", USERS, lambda w: {"code": unique("phone-") + ".1"}),
    "POST /api/v1/me/party-report": Row(
        "/me/party-report",
        (U, 201, 409, 403, 403, 403),  # the member already belongs to C1: ALREADY_PARTY_MEMBER
        lambda w: {"community_id": w.ids["c1"], "branch": "二支部"},
    ),
    # the resident reported just above; the member (made one directly) never did: PARTY_REPORT_NOT_FOUND
    "GET /api/v1/me/party-report": Row("/me/party-report", (U, 200, 404, 403, 403, 403)),
    "POST /api/v1/files": Row("/files", (U, 201, 201, 201, 201, 201), upload=True),
    # --- party reports and volunteers -----------------------------------------------------------------
    "GET /api/v1/party-reports": Row("/party-reports", STAFF_LIST),
    "POST /api/v1/party-reports/<int:report_id>/approve": Row(
        "/party-reports/{report_approve}/approve", STAFF_DO
    ),
    "POST /api/v1/party-reports/<int:report_id>/reject": Row(
        "/party-reports/{report_reject}/reject", STAFF_DO, lambda w: {"reason": "信息不全"}
    ),
    # --- community moves: staff of the community moved into decide; to others a move does not exist ---
    "POST /api/v1/me/community-moves": Row(
        "/me/community-moves",
        (U, 201, 201, 403, 403, 403),
        lambda w: {"community_id": w.ids["c2"], "reason": "搬家"},
    ),
    "GET /api/v1/me/community-moves": Row("/me/community-moves", USERS),
    "GET /api/v1/community-moves": Row("/community-moves", STAFF_LIST, query="status=pending"),
    "POST /api/v1/community-moves/<int:move_id>/approve": Row(
        "/community-moves/{move_approve}/approve", (U, 403, 403, 200, 404, 200)
    ),
    "POST /api/v1/community-moves/<int:move_id>/reject": Row(
        "/community-moves/{move_reject}/reject",
        (U, 403, 403, 200, 404, 200),
        lambda w: {"reason": "地址不符"},
    ),
    "GET /api/v1/communities/<int:community_id>/volunteers": Row("/communities/{c1}/volunteers", STAFF_READ),
    "POST /api/v1/communities/<int:community_id>/volunteers": Row(
        "/communities/{c1}/volunteers", STAFF_DO, lambda w: {"user_id": w.ids["new_volunteer"]}
    ),
    "DELETE /api/v1/communities/<int:community_id>/volunteers/<int:user_id>": Row(
        "/communities/{c1}/volunteers/{volunteer}", (U, 403, 403, 204, 403, 204)
    ),
    # --- disabling residents: C1's staff (and the admin above); to C2's staff the resident does not exist ---
    "POST /api/v1/users/<int:user_id>/disable": Row(
        "/users/{disable_target}/disable", (U, 403, 403, 200, 404, 200), lambda w: {"reason": "矩阵停用"}
    ),
    "POST /api/v1/users/<int:user_id>/enable": Row(
        "/users/{enable_target}/enable", (U, 403, 403, 200, 404, 200)
    ),
    # --- volunteer applications: residents of C1 apply; C1's staff decide; to others one does not exist ---
    "POST /api/v1/me/volunteer-application": Row(
        "/me/volunteer-application", (U, 201, 201, 403, 403, 403), lambda w: {"community_id": w.ids["c1"]}
    ),
    "GET /api/v1/me/volunteer-application": Row("/me/volunteer-application", USERS),
    "DELETE /api/v1/me/volunteer-application": Row("/me/volunteer-application", (U, 204, 204, 403, 403, 403)),
    "GET /api/v1/volunteer-applications": Row("/volunteer-applications", STAFF_LIST, query="status=pending"),
    "POST /api/v1/volunteer-applications/<int:application_id>/accept": Row(
        "/volunteer-applications/{application_accept}/accept", (U, 403, 403, 200, 404, 200)
    ),
    "POST /api/v1/volunteer-applications/<int:application_id>/decline": Row(
        "/volunteer-applications/{application_decline}/decline",
        (U, 403, 403, 200, 404, 200),
        lambda w: {"reason": "名额已满"},
    ),
    # --- points -------------------------------------------------------------------------------------------
    "GET /api/v1/me/points": Row("/me/points", USERS),
    "GET /api/v1/me/volunteer-summary": Row("/me/volunteer-summary", USERS),
    "GET /api/v1/me/points/history": Row("/me/points/history", USERS),
    "GET /api/v1/points/rules": Row("/points/rules", ANY_LOGIN),
    "POST /api/v1/points/rules": Row(
        "/points/rules",
        (U, 403, 403, 403, 403, 201),  # only an admin of a root of the org tree
        lambda w: {
            "code": unique("NEW_RULE_"),
            "name": "新规则",
            "category": "其他",
            "points": 2,
            "unit": "event",
        },
    ),
    "PATCH /api/v1/points/rules/<string:code>": Row(
        "/points/rules/MATRIX_RULE", (U, 403, 403, 403, 403, 200), lambda w: {"name": "改名"}
    ),
    "POST /api/v1/points/adjustments": Row(
        "/points/adjustments",
        STAFF_MAKE,
        lambda w: {"user_id": w.ids["resident"], "amount": 3, "reason": "补录"},
    ),
    "POST /api/v1/points/transactions/<int:transaction_id>/reverse": Row(
        "/points/transactions/{transaction}/reverse",
        (U, 403, 403, 201, 404, 201),  # another community's transaction does not exist for its staff (F3)
        lambda w: {"reason": "录错了"},
    ),
    "GET /api/v1/points/members/<int:user_id>": Row("/points/members/{resident}", STAFF_READ),
    "GET /api/v1/points/members/<int:user_id>/history": Row("/points/members/{resident}/history", STAFF_READ),
    "GET /api/v1/points/leaderboard": Row("/points/leaderboard", ANY_LOGIN, query="community_id={c1}"),
    # --- the store ------------------------------------------------------------------------------------------
    "GET /api/v1/store/items": Row("/store/items", ANY_LOGIN, query="community_id={c1}"),
    "GET /api/v1/store/items/<int:item_id>": Row("/store/items/{item}", ANY_LOGIN),
    "GET /api/v1/store/categories": Row("/store/categories", ANY_LOGIN, query="community_id={c1}"),
    "PATCH /api/v1/store/settings/<int:community_id>": Row(
        "/store/settings/{c1}", STAFF_DO, lambda w: {"pickup_place": "党群服务中心一楼"}
    ),
    "POST /api/v1/store/items": Row(
        "/store/items",
        STAFF_MAKE,
        lambda w: {"community_id": w.ids["c1"], "name": "大米", "points_price": 20},
    ),
    "PATCH /api/v1/store/items/<int:item_id>": Row(
        "/store/items/{item}", STAFF_DO, lambda w: {"description": "五公斤装"}
    ),
    "POST /api/v1/redemptions": Row(
        "/redemptions", (U, 201, 201, 403, 403, 403), lambda w: {"item_id": w.ids["item"]}
    ),
    "GET /api/v1/me/redemptions": Row("/me/redemptions", USERS),
    # the resident's approved redemption: C1's staff read it too; to anyone else it does not exist
    "GET /api/v1/redemptions/<int:redemption_id>": Row(
        "/redemptions/{redemption_qr}", (U, 200, 404, 200, 404, 200)
    ),
    "GET /api/v1/redemptions": Row("/redemptions", STAFF_LIST),
    "POST /api/v1/redemptions/approve": Row(
        "/redemptions/approve",
        (U, 403, 403, 200, Same(200), 200),  # other staff: 200 with each id refused, nothing approved
        lambda w: {"ids": [w.ids["redemption_bulk"]]},
    ),
    "POST /api/v1/redemptions/<int:redemption_id>/approve": Row(
        "/redemptions/{redemption_approve}/approve", STAFF_DO
    ),
    "POST /api/v1/redemptions/<int:redemption_id>/reject": Row(
        "/redemptions/{redemption_reject}/reject", STAFF_DO, lambda w: {"reason": "库存核对中"}
    ),
    "POST /api/v1/redemptions/<int:redemption_id>/cancel": Row(
        "/redemptions/{redemption_cancel}/cancel", (U, 200, 404, 403, 403, 403)
    ),
    "GET /api/v1/redemptions/<int:redemption_id>/pickup-qr": Row(
        "/redemptions/{redemption_qr}/pickup-qr", (U, 200, 404, 403, 403, 403)
    ),
    "POST /api/v1/redemptions/pickup": Row(
        # Another community's code is answered as an unknown one (404 PICKUP_CODE_INVALID), not 403.
        "/redemptions/pickup",
        (U, 403, 403, 200, 404, 200),
        lambda w: {"pickup_code": w.values["pickup_code"]},
    ),
    # --- check-in -------------------------------------------------------------------------------------------
    "POST /api/v1/stations": Row(
        "/stations", STAFF_MAKE, lambda w: {"community_id": w.ids["c1"], "name": "服务驿站"}
    ),
    "GET /api/v1/stations": Row("/stations", ANY_LOGIN, query="community_id={c1}"),
    "PATCH /api/v1/stations/<int:station_id>": Row(
        "/stations/{station}", STAFF_DO, lambda w: {"address": "一号楼"}
    ),
    "GET /api/v1/stations/<int:station_id>/code": Row("/stations/{station}/code", STAFF_READ),
    "GET /api/v1/stations/<int:station_id>/printed-code": Row("/stations/{station}/printed-code", STAFF_READ),
    "POST /api/v1/activities": Row(
        "/activities",
        STAFF_MAKE,
        lambda w: {
            "community_id": w.ids["c1"],
            "title": "新活动",
            "kind": "volunteer",
            "starts_at": "2030-06-01T09:00:00+08:00",
            "ends_at": "2030-06-01T11:00:00+08:00",
            "points_rule": "ACTIVITY_CHECKIN",
        },
    ),
    "GET /api/v1/activities": Row("/activities", ANY_LOGIN, query="community_id={c1}"),
    "GET /api/v1/activities/<int:activity_id>": Row("/activities/{activity}", ANY_LOGIN),
    "PATCH /api/v1/activities/<int:activity_id>": Row(
        "/activities/{activity_future}", STAFF_DO, lambda w: {"place": "活动室"}
    ),
    "GET /api/v1/activities/<int:activity_id>/code": Row("/activities/{activity}/code", STAFF_READ),
    "GET /api/v1/activities/<int:activity_id>/printed-code": Row(
        "/activities/{activity}/printed-code", STAFF_READ
    ),
    "POST /api/v1/activities/<int:activity_id>/scans": Row(
        "/activities/{activity_scan}/scans",
        STAFF_DO,
        lambda w: {"member_token": w.token("member", "resident"), "nonce": unique("nonce-scan-")},
    ),
    "POST /api/v1/activities/<int:activity_id>/signup": Row(
        "/activities/{activity_future}/signup", (U, 201, 201, 403, 403, 403)
    ),
    "DELETE /api/v1/activities/<int:activity_id>/signup": Row(
        "/activities/{activity_future}/signup", (U, 204, 204, 403, 403, 403)
    ),
    "GET /api/v1/me/signups": Row("/me/signups", USERS),
    "POST /api/v1/checkins": Row(
        "/checkins",
        (U, 201, 201, 403, 403, 403),
        lambda w: {"token": w.token("activity", "activity"), "nonce": unique("nonce-in-")},
    ),
    "POST /api/v1/checkins/<int:checkin_id>/checkout": Row(
        "/checkins/{checkin}/checkout",
        (U, 200, 404, 403, 403, 403),
        # hours are paid: the place's current code proves the member is still there
        lambda w: {"nonce": unique("nonce-out-"), "token": w.token("activity", "activity_hours")},
    ),
    "POST /api/v1/checkins/<int:checkin_id>/void": Row(
        "/checkins/{checkin_void}/void", STAFF_DO, lambda w: {"reason": "代签"}
    ),
    "POST /api/v1/activities/<int:activity_id>/printed-code/reprint": Row(
        "/activities/{activity_future}/printed-code/reprint", STAFF_DO, lambda w: {"from_version": 1}
    ),
    "POST /api/v1/stations/<int:station_id>/printed-code/reprint": Row(
        "/stations/{station}/printed-code/reprint", STAFF_DO, lambda w: {"from_version": 1}
    ),
    "POST /api/v1/checkins/batch": Row(
        "/checkins/batch",
        # other staff: 200, the item refused (FORBIDDEN) and only that refusal recorded
        (U, 403, 403, 200, Same(200, but=frozenset({"checkin_batch_items"})), 200),
        lambda w: {
            "device_id": "scanner-1",
            "items": [
                {
                    "user_id": w.ids["resident"],
                    "activity_id": w.ids["activity_batch"],
                    "kind": "in",
                    "at": now_iso(w),
                    "nonce": unique("nonce-batch-"),
                }
            ],
        },
    ),
    "GET /api/v1/me/checkins": Row("/me/checkins", USERS),
    "GET /api/v1/me/code": Row("/me/code", USERS),
    # --- notifications --------------------------------------------------------------------------------------
    "GET /api/v1/me/notifications": Row("/me/notifications", USERS),
    "POST /api/v1/me/notifications/read": Row("/me/notifications/read", USERS, lambda w: {"all": True}),
    "GET /api/v1/notifications/templates": Row("/notifications/templates", PUBLIC),
    "GET /api/v1/config": Row("/config", PUBLIC),
    "GET /api/v1/me/subscriptions": Row("/me/subscriptions", USERS),
    "POST /api/v1/me/subscriptions": Row(
        "/me/subscriptions", USERS, lambda w: {"template_ids": [w.values["template_id"]]}
    ),
    # --- reports --------------------------------------------------------------------------------------------
    "GET /api/v1/reports/summary": Row("/reports/summary", STAFF_READ, query="org=C1"),
    "GET /api/v1/reports/export": Row("/reports/export", STAFF_READ, query="org=C1"),
    # --- wishes ---------------------------------------------------------------------------------------------
    "GET /api/v1/wishes/categories": Row("/wishes/categories", PUBLIC),
    "GET /api/v1/wishes/stories": Row("/wishes/stories", PUBLIC, query="community_id={c1}"),
    "POST /api/v1/wishes": Row(
        "/wishes",
        (U, 201, 201, 403, 403, 403),
        lambda w: {"title": "想学智能手机", "content": "想请人教我用手机挂号。", "category": "其他"},
    ),
    "GET /api/v1/wishes": Row("/wishes", (U, 200, 200, SHOWN, 200, SHOWN), query="community_id={c1}"),
    # a wish waiting for review: its resident and C1's staff see it; to anyone else it does not exist
    "GET /api/v1/wishes/<int:wish_id>": Row("/wishes/{wish_view}", (U, 200, 404, SHOWN, 404, SHOWN)),
    "POST /api/v1/wishes/<int:wish_id>/approve": Row("/wishes/{wish_approve}/approve", STAFF_DO),
    "POST /api/v1/wishes/<int:wish_id>/reject": Row(
        "/wishes/{wish_reject}/reject", STAFF_DO, lambda w: {"reason": "请补充地址"}
    ),
    "POST /api/v1/wishes/<int:wish_id>/release": Row(
        "/wishes/{wish_release}/release", STAFF_DO, lambda w: {"reason": "认领人联系不上"}
    ),
    # the resident posted it (WISH_OWN); staff are not WeChat users
    "POST /api/v1/wishes/<int:wish_id>/claim": Row("/wishes/{wish_claim}/claim", MEMBER_HOLDS),
    "POST /api/v1/wishes/<int:wish_id>/unclaim": Row("/wishes/{wish_unclaim}/unclaim", MEMBER_HOLDS),
    "POST /api/v1/wishes/<int:wish_id>/fulfil": Row(
        "/wishes/{wish_fulfil}/fulfil", MEMBER_HOLDS, lambda w: {"note": "已经上门帮忙修好水龙头"}
    ),
    "POST /api/v1/wishes/<int:wish_id>/confirm": Row(
        "/wishes/{wish_confirm}/confirm", RESIDENT_OWNS, lambda w: {"rating": 5, "comment": "谢谢"}
    ),
    "POST /api/v1/wishes/<int:wish_id>/cancel": Row(
        "/wishes/{wish_cancel}/cancel", RESIDENT_OWNS, lambda w: {"reason": "已自己解决"}
    ),
    "PUT /api/v1/wishes/<int:wish_id>/story": Row(
        "/wishes/{wish_story}/story", RESIDENT_OWNS, lambda w: {"consent": True}
    ),
    # a fulfilled wish: its resident says it was not done; a disputed one: staff complete it
    "POST /api/v1/wishes/<int:wish_id>/dispute": Row(
        "/wishes/{wish_dispute}/dispute", RESIDENT_OWNS, lambda w: {"reason": "没有人上门"}
    ),
    "POST /api/v1/wishes/<int:wish_id>/complete": Row("/wishes/{wish_complete}/complete", STAFF_DO),
    # 待确认积分: awards waiting for C1's staff (a second decision answers the first)
    "GET /api/v1/wish-awards": Row("/wish-awards", STAFF_LIST, query="status=pending"),
    "POST /api/v1/wish-awards/<int:award_id>/approve": Row("/wish-awards/{award_approve}/approve", STAFF_DO),
    "POST /api/v1/wish-awards/<int:award_id>/reject": Row(
        "/wish-awards/{award_reject}/reject", STAFF_DO, lambda w: {"reason": "居民反映未完成"}
    ),
    "GET /api/v1/me/wishes": Row("/me/wishes", USERS),
    "GET /api/v1/me/claims": Row("/me/claims", (U, 200, SHOWN, 403, 403, 403)),
    # KEEP LAST: it ends every login of the caller, so the caller's token answers 401 to any row after it.
    "POST /api/v1/auth/logout-everywhere": Row("/auth/logout-everywhere", (U, 204, 204, 204, 204, 204)),
}


def api_endpoints(app: Flask) -> set[str]:
    """``METHOD /rule`` of every route under /api/v1."""
    return {
        f"{method} {rule.rule}"
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    }


def test_the_table_has_a_row_for_every_endpoint(app):
    endpoints = api_endpoints(app)
    missing = sorted(endpoints - set(TABLE))
    stale = sorted(set(TABLE) - endpoints)
    assert not missing, "endpoints without a row in the permission matrix:\n" + "\n".join(missing)
    assert not stale, "rows of endpoints that no longer exist:\n" + "\n".join(stale)


def _call(app: Flask, client: FlaskClient, world: World, key: str, row: Row, role: str) -> Any:
    method = key.split(" ", 1)[0]
    path = "/api/v1" + row.path.format(**world.ids)
    if row.query:
        path += "?" + row.query.format(**world.ids)
    headers = dict(world.headers[role])
    if row.upload:
        data = {"file": (io.BytesIO(jpeg_bytes()), "photo.jpg", "image/jpeg")}
        return client.open(
            path, method=method, headers=headers, data=data, content_type="multipart/form-data"
        )
    with app.app_context():  # bodies may sign a check-in code
        body = row.body(world) if row.body is not None else None
    return client.open(path, method=method, headers=headers, json=body)


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_answers_this_caller_as_the_table_says(app, client, world, role):
    from server.notifications.services import template_ids

    with app.app_context():
        world.values["template_id"] = template_ids()[0]
    column = ROLES.index(role)
    wrong: list[str] = []
    for key, row in TABLE.items():
        cell = row.expect[column]
        expected = cell.status if isinstance(cell, Same) else cell
        method = key.split(" ", 1)[0]
        # A refusal and a read must write nothing; so must a Same(...) success.
        keep = isinstance(cell, Same) or expected >= 400 or method == "GET"
        before = snapshot(app) if keep else None
        response = _call(app, client, world, key, row, role)
        if response.status_code != expected:
            body = response.get_json(silent=True)
            wrong.append(f"{key}: {response.status_code} (expected {expected}) {body}")
            continue
        if expected >= 400:
            assert response.is_json and "error" in response.get_json(), key
        if before is not None:
            changed = changed_tables(before, snapshot(app))
            for name in cell.but if isinstance(cell, Same) else ():
                changed.pop(name, None)
            if changed:
                wrong.append(f"{key}: answered {response.status_code} but changed {changed}")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "path",
    [
        "/party-reports",
        "/party-reports?status=pending",
        "/community-moves",
        "/community-moves?status=pending",
        "/redemptions",
        "/redemptions?community_id={c1}",
        "/wishes",
        "/wishes?community_id={c1}&status=pending_review",
        "/wish-awards",
        "/wish-awards?status=pending",
    ],
)
def test_staff_lists_hold_c1s_rows_for_its_staff_and_none_for_another_communitys(client, world, path):
    url = "/api/v1" + path.format(**world.ids)
    mine = client.get(url, headers=world.headers["staff"]).get_json()
    theirs = client.get(url, headers=world.headers["other_staff"]).get_json()
    assert mine["total"] > 0
    assert {item.get("community_id", world.ids["c1"]) for item in mine["items"]} == {world.ids["c1"]}
    assert theirs["total"] == 0 and theirs["items"] == []


def test_a_snapshot_sees_one_changed_value(app, world):
    from server.db import db
    from server.users.models import User

    before = snapshot(app)
    with app.app_context():
        user = db.session.get(User, world.ids["resident"])
        assert user is not None
        user.nickname += "!"
        db.session.commit()
    assert set(changed_tables(before, snapshot(app))) == {"users"}
