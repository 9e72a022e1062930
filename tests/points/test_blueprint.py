"""The points routes of API.md: balances, history, rules, adjustments, reversals, leaderboards."""

import pytest
from sqlalchemy import func, select

from points import services
from points.models import LedgerTransaction
from server.db import db
from server.users.models import User
from tests.conftest import bearer


@pytest.fixture
def resident(member):
    """A resident of C1 named 王小明 with no points yet; (user id, tokens)."""
    tokens = member(0, nickname="王小明")
    return tokens["user"]["id"], tokens


def _award(app, user_id, rule="PARTY_DAY", quantity=1, key="k"):
    with app.app_context():
        result = services.award(user_id, rule, quantity, ("test", key), key)
        db.session.commit()
        return result


def test_my_points_and_history(app, client, resident):
    user_id, tokens = resident
    _award(app, user_id, key="a")
    _award(app, user_id, "VOLUNTEER_HOUR", 2, key="b")
    assert client.get("/api/v1/me/points", headers=bearer(tokens)).get_json() == {
        "available": 9,
        "held": 0,
        "earned_total": 9,
        "spent_total": 0,
    }
    history = client.get("/api/v1/me/points/history?page_size=1", headers=bearer(tokens)).get_json()
    assert (history["total"], history["page_size"]) == (2, 1)
    item = history["items"][0]
    assert {k: item[k] for k in ("amount", "kind", "category", "memo")} == {
        "amount": 4,
        "kind": "award",
        "category": "volunteer",
        "memo": "志愿服务 +4",
    }
    assert item["created_at"].endswith("+08:00")


def test_staff_have_no_points_of_their_own(client, make_staff, login_staff):
    response = client.get("/api/v1/me/points", headers=bearer(login_staff(make_staff())))
    assert response.status_code == 403


def test_anyone_logged_in_reads_the_rules(client, resident):
    body = client.get("/api/v1/points/rules", headers=bearer(resident[1])).get_json()
    codes = {rule["code"] for rule in body["items"]}
    assert {"PARTY_DAY", "VOLUNTEER_HOUR", "ACTIVITY_CHECKIN", "WISH_FULFILLED", "STATION_DUTY_HOUR"} <= codes
    assert client.get("/api/v1/points/rules").status_code == 401


NEW_RULE = {
    "code": "GARBAGE_SORTING",
    "name": "垃圾分类督导",
    "category": "volunteer",
    "points": 2,
    "unit": "hour",
    "daily_cap": 8,
    "yearly_cap": 200,
    "party_member_multiplier": "1.50",
}


@pytest.mark.parametrize(
    ("role", "org", "status"), [("admin", "D1", 201), ("admin", "S1", 403), ("staff", "C1", 403)]
)
def test_only_a_root_admin_manages_rules(client, make_staff, login_staff, role, org, status):
    headers = bearer(login_staff(make_staff(role=role, org=org)))
    response = client.post("/api/v1/points/rules", json=NEW_RULE, headers=headers)
    assert response.status_code == status
    if status == 201:
        assert response.get_json()["party_member_multiplier"] == "1.50"
        patched = client.patch(
            "/api/v1/points/rules/GARBAGE_SORTING", json={"points": 3, "active": False}, headers=headers
        )
        assert patched.status_code == 200
        assert (patched.get_json()["points"], patched.get_json()["active"]) == (3, False)
        kept = client.patch(
            "/api/v1/points/rules/GARBAGE_SORTING", json={"name": "垃圾分类"}, headers=headers
        )
        assert (kept.get_json()["active"], kept.get_json()["points"]) == (False, 3)  # a PATCH keeps the rest
        again = client.post("/api/v1/points/rules", json=NEW_RULE, headers=headers)
        assert (again.status_code, again.get_json()["error"]["code"]) == (409, "RULE_CODE_TAKEN")


@pytest.mark.parametrize(
    "change",
    [
        {"code": "lower"},
        {"points": 0},
        {"points": "5"},
        {"unit": "day"},
        {"daily_cap": 10, "yearly_cap": 5},
        {"party_member_multiplier": "0"},
        {"name": ""},
    ],
)
def test_bad_rules_are_refused(client, make_staff, login_staff, change):
    headers = bearer(login_staff(make_staff(role="admin", org="D1")))
    response = client.post("/api/v1/points/rules", json={**NEW_RULE, **change}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_rule_code_cannot_be_patched_and_unknown_rules_are_404(client, make_staff, login_staff):
    headers = bearer(login_staff(make_staff(role="admin", org="D1")))
    assert (
        client.patch("/api/v1/points/rules/PARTY_DAY", json={"code": "X"}, headers=headers).status_code == 422
    )
    missing = client.patch("/api/v1/points/rules/NOPE", json={"points": 1}, headers=headers)
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "RULE_NOT_FOUND")


def _count_transactions(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LedgerTransaction))


def test_an_adjustment_replays_under_its_key_and_refuses_a_changed_body(
    app, client, resident, make_staff, login_staff
):
    user_id, tokens = resident
    headers = {**bearer(login_staff(make_staff())), "Idempotency-Key": "adj-0001"}
    body = {"user_id": user_id, "amount": 10, "reason": "补录志愿服务"}
    first = client.post("/api/v1/points/adjustments", json=body, headers=headers)
    assert first.status_code == 201
    assert first.get_json()["memo"] == "人工调整：补录志愿服务 +10"
    replay = client.post("/api/v1/points/adjustments", json=body, headers=headers)
    assert (replay.status_code, replay.get_json()) == (201, first.get_json())
    changed = client.post("/api/v1/points/adjustments", json={**body, "amount": 11}, headers=headers)
    assert (changed.status_code, changed.get_json()["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert _count_transactions(app) == 1
    assert client.get("/api/v1/me/points", headers=bearer(tokens)).get_json()["available"] == 10
    history = client.get("/api/v1/me/points/history", headers=bearer(tokens)).get_json()
    assert history["items"][0]["reason"] == "补录志愿服务"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": 0, "reason": "x"}, 422, "INVALID_AMOUNT"),
        ({"amount": "5", "reason": "x"}, 422, "VALIDATION_ERROR"),
        ({"amount": 1.5, "reason": "x"}, 422, "VALIDATION_ERROR"),
        ({"amount": 5}, 422, "VALIDATION_ERROR"),
        ({"amount": 5, "reason": "  "}, 422, "REASON_REQUIRED"),
        ({"amount": -5, "reason": "扣减"}, 409, "INSUFFICIENT_POINTS"),
    ],
)
def test_bad_adjustments_change_nothing(app, client, resident, make_staff, login_staff, body, status, code):
    user_id, _ = resident
    response = client.post(
        "/api/v1/points/adjustments",
        json={"user_id": user_id, **body},
        headers=bearer(login_staff(make_staff())),
    )
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert _count_transactions(app) == 0


def test_adjusting_a_member_of_another_community_is_403_and_changes_nothing(
    app, client, resident, make_staff, login_staff
):
    user_id, _ = resident
    response = client.post(
        "/api/v1/points/adjustments",
        json={"user_id": user_id, "amount": 5, "reason": "x"},
        headers=bearer(login_staff(make_staff(org="C2"))),
    )
    assert response.status_code == 403
    assert _count_transactions(app) == 0
    unknown = client.post(
        "/api/v1/points/adjustments",
        json={"user_id": 999999, "amount": 5, "reason": "x"},
        headers=bearer(login_staff(make_staff())),
    )
    assert unknown.status_code == 404


def test_a_malformed_idempotency_key_is_400(client, resident, make_staff, login_staff):
    headers = {**bearer(login_staff(make_staff())), "Idempotency-Key": "空格 不行"}
    response = client.post(
        "/api/v1/points/adjustments",
        json={"user_id": resident[0], "amount": 1, "reason": "x"},
        headers=headers,
    )
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, "IDEMPOTENCY_KEY_INVALID")


def test_staff_reverse_an_award_once(app, client, resident, make_staff, login_staff):
    user_id, tokens = resident
    award = _award(app, user_id)
    headers = bearer(login_staff(make_staff()))
    url = f"/api/v1/points/transactions/{award.transaction_id}/reverse"
    response = client.post(url, json={"reason": "重复签到"}, headers=headers)
    assert response.status_code == 201
    assert (response.get_json()["amount"], response.get_json()["kind"]) == (-5, "reverse")
    again = client.post(url, json={"reason": "重复签到"}, headers=headers)
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "ALREADY_REVERSED")
    other = client.post(url, json={"reason": "x"}, headers=bearer(login_staff(make_staff(org="C3"))))
    # Another community's transaction does not exist for its staff (F3): 404, not 403.
    assert (other.status_code, other.get_json()["error"]["code"]) == (404, "TRANSACTION_NOT_FOUND")
    assert client.get("/api/v1/me/points", headers=bearer(tokens)).get_json()["available"] == 0


def test_staff_see_the_points_of_their_members_only(app, client, resident, make_staff, login_staff):
    user_id, _ = resident
    _award(app, user_id)
    own = client.get(f"/api/v1/points/members/{user_id}", headers=bearer(login_staff(make_staff())))
    assert (own.status_code, own.get_json()["available"], own.get_json()["nickname"]) == (200, 5, "王小明")
    history = client.get(
        f"/api/v1/points/members/{user_id}/history", headers=bearer(login_staff(make_staff()))
    )
    assert history.get_json()["total"] == 1
    other = client.get(f"/api/v1/points/members/{user_id}", headers=bearer(login_staff(make_staff(org="C2"))))
    assert other.status_code == 403


def test_the_leaderboard_of_a_community_and_of_a_subtree(app, client, resident, login_user, org_tree):
    user_id, tokens = resident
    other = login_user("other")
    client.patch(
        "/api/v1/me", json={"nickname": "李四", "community_id": org_tree["C2"].id}, headers=bearer(other)
    )
    _award(app, user_id, "VOLUNTEER_HOUR", 3, key="a")  # 6
    _award(app, other["user"]["id"], key="b")  # 5
    own = client.get("/api/v1/points/leaderboard", headers=bearer(tokens)).get_json()
    assert own == {
        "period": "month",
        "items": [
            {"rank": 1, "user_id": user_id, "nickname_masked": "王**", "points": 6},
        ],
        "me": {"rank": 1, "points": 6},
    }
    street = client.get("/api/v1/points/leaderboard?org=S1&period=year", headers=bearer(tokens)).get_json()
    assert [row["points"] for row in street["items"]] == [6, 5]
    c2 = client.get(
        f"/api/v1/points/leaderboard?community_id={org_tree['C2'].id}&period=all", headers=bearer(tokens)
    ).get_json()
    assert [row["nickname_masked"] for row in c2["items"]] == ["李*"]
    assert client.get("/api/v1/points/leaderboard?period=week", headers=bearer(tokens)).status_code == 422
    assert client.get("/api/v1/points/leaderboard?org=NOPE", headers=bearer(tokens)).status_code == 404


def test_a_resident_without_a_community_must_name_one(client, login_user, app):
    response = client.get("/api/v1/points/leaderboard", headers=bearer(login_user("nowhere")))
    assert (response.status_code, response.get_json()["error"]["code"]) == (422, "NO_COMMUNITY")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_numbers_beyond_the_integer_range_are_a_422_not_a_500(client, resident, make_staff, login_staff):
    # Found by the fuzz run: a user id and caps no integer column holds reached PostgreSQL.
    admin = bearer(login_staff(make_staff(role="admin", org="D1")))
    response = client.post(
        "/api/v1/points/adjustments", json={"user_id": 2**31, "amount": 5, "reason": "x"}, headers=admin
    )
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["user_id"]
    rule = {
        "code": "BIG_CAP",
        "name": "大",
        "category": "志愿",
        "points": 1,
        "unit": "event",
        "daily_cap": 2**31,
    }
    response = client.post("/api/v1/points/rules", json=rule, headers=admin)
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["daily_cap"]
    assert client.get(f"/api/v1/points/leaderboard?community_id={2**31}", headers=admin).status_code == 422


def test_the_multiplier_is_documented_as_the_string_it_is(client):
    # Found by the fuzz run: the document said number with the bounds "0.01" and "99.00" (strings, an
    # invalid OpenAPI document); the API answers "1.50".
    spec = client.get("/api/openapi.json").get_json()
    multiplier = spec["components"]["schemas"]["Rule"]["properties"]["party_member_multiplier"]
    assert (multiplier["type"], multiplier["format"]) == ("string", "decimal")
    assert (multiplier["x-minimum"], multiplier["x-maximum"]) == (0.01, 99.0)
