"""Idempotency-Key on the endpoints without a natural key (server/idempotency.py): a resend after a lost
answer gets the first answer, another body with the same key is refused, two racing resends make one."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import db
from server.notifications.models import SubscriptionGrant
from server.users.models import CommunityMove, PartyReport
from tests.conftest import CLOCK_START, POINTS_TEMPLATE, bearer
from tests.races import posting, race
from wishes.models import Wish

WISH = {
    "title": "想请人修水龙头",
    "content": "厨房水龙头一直滴水，想请懂行的邻居帮忙看看。",
    "category": "生活帮扶",
}


def _resident(client, login_user, org_tree, name="resident"):
    tokens = login_user(name)
    headers = bearer(tokens)
    assert (
        client.patch("/api/v1/me", json={"community_id": org_tree["C1"].id}, headers=headers).status_code
        == 200
    )
    return tokens["user"]["id"], headers


def _kept_answers(app) -> int:
    from server.idempotency import IdempotentRequest  # here: the old code has no such table

    return _count(app, IdempotentRequest)


def _count(app, model, **where: Any) -> int:
    with app.app_context():
        query = select(func.count()).select_from(model).filter_by(**where)
        return int(db.session.scalar(query) or 0)


def _keyed(headers, key):
    return {**headers, "Idempotency-Key": key}


def test_a_wish_resent_with_its_key_answers_the_first_wish_and_posts_one(app, client, login_user, org_tree):
    user_id, headers = _resident(client, login_user, org_tree)
    first = client.post("/api/v1/wishes", json=WISH, headers=_keyed(headers, "wish-tap-1"))
    again = client.post("/api/v1/wishes", json=WISH, headers=_keyed(headers, "wish-tap-1"))
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotency-Replayed"] == "true"
    assert "Idempotency-Replayed" not in first.headers
    assert _count(app, Wish, user_id=user_id) == 1


def test_the_same_key_with_another_body_is_refused_and_posts_nothing(app, client, login_user, org_tree):
    user_id, headers = _resident(client, login_user, org_tree)
    assert client.post("/api/v1/wishes", json=WISH, headers=_keyed(headers, "k1")).status_code == 201
    changed = client.post("/api/v1/wishes", json={**WISH, "title": "别的心愿"}, headers=_keyed(headers, "k1"))
    assert changed.status_code == 409
    assert changed.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert _count(app, Wish, user_id=user_id) == 1


def test_keys_belong_to_their_caller_and_a_new_key_is_a_new_wish(app, client, login_user, org_tree):
    alice, alice_headers = _resident(client, login_user, org_tree, "alice")
    bob, bob_headers = _resident(client, login_user, org_tree, "bob")
    a = client.post("/api/v1/wishes", json=WISH, headers=_keyed(alice_headers, "same-key"))
    b = client.post("/api/v1/wishes", json=WISH, headers=_keyed(bob_headers, "same-key"))
    assert a.status_code == b.status_code == 201
    assert a.get_json()["id"] != b.get_json()["id"]
    other = client.post("/api/v1/wishes", json=WISH, headers=_keyed(alice_headers, "next-key"))
    assert other.status_code == 201 and other.get_json()["id"] != a.get_json()["id"]
    assert (_count(app, Wish, user_id=alice), _count(app, Wish, user_id=bob)) == (2, 1)


def test_an_error_answer_is_not_kept_so_the_corrected_request_goes_through(app, client, login_user, org_tree):
    user_id, headers = _resident(client, login_user, org_tree)
    wrong = client.post("/api/v1/wishes", json={**WISH, "category": "没有这类"}, headers=_keyed(headers, "k"))
    assert wrong.status_code == 422
    right = client.post("/api/v1/wishes", json=WISH, headers=_keyed(headers, "k"))
    assert right.status_code == 201
    assert _count(app, Wish, user_id=user_id) == 1
    assert _kept_answers(app) == 1


def test_a_malformed_key_is_refused(client, login_user, org_tree):
    _user_id, headers = _resident(client, login_user, org_tree)
    response = client.post("/api/v1/wishes", json=WISH, headers=_keyed(headers, "bad key with spaces"))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_INVALID"


@pytest.mark.postgres
def test_four_racing_resends_with_one_key_post_one_wish(app, client, login_user, org_tree):
    user_id, headers = _resident(client, login_user, org_tree)
    answers = race([posting(app, "/api/v1/wishes", _keyed(headers, "racing"), WISH) for _ in range(4)])
    assert {status for status, _body in answers} == {201}
    assert len({body["id"] for _status, body in answers}) == 1
    assert _count(app, Wish, user_id=user_id) == 1


def test_a_party_report_resent_with_its_key_answers_the_report(app, client, login_user, org_tree):
    user_id, headers = _resident(client, login_user, org_tree)
    body = {"community_id": org_tree["C1"].id, "branch": "市委办公室党支部"}
    first = client.post("/api/v1/me/party-report", json=body, headers=_keyed(headers, "report-1"))
    again = client.post("/api/v1/me/party-report", json=body, headers=_keyed(headers, "report-1"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    # Without the key the natural rule still answers: one report waits already.
    plain = client.post("/api/v1/me/party-report", json=body, headers=headers)
    assert plain.get_json()["error"]["code"] == "PARTY_REPORT_PENDING"
    assert _count(app, PartyReport, user_id=user_id) == 1


def test_a_community_move_with_its_key_replays_and_refuses_another_body(app, client, login_user, org_tree):
    user_id, headers = _resident(client, login_user, org_tree)
    body = {"community_id": org_tree["C2"].id, "reason": "搬家"}
    first = client.post("/api/v1/me/community-moves", json=body, headers=_keyed(headers, "move-1"))
    again = client.post("/api/v1/me/community-moves", json=body, headers=_keyed(headers, "move-1"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    changed = client.post(
        "/api/v1/me/community-moves", json={**body, "reason": "换工作"}, headers=_keyed(headers, "move-1")
    )
    assert changed.status_code == 409 and changed.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert _count(app, CommunityMove, user_id=user_id) == 1


def _grants(app, user_id):
    with app.app_context():
        rows = db.session.execute(
            select(SubscriptionGrant.template_id, SubscriptionGrant.remaining).where(
                SubscriptionGrant.user_id == user_id
            )
        )
        return dict(rows.all())


def test_wechats_subscribe_result_is_taken_as_it_comes_and_counted_once(app, client, login_user, org_tree):
    user_id, headers = _resident(client, login_user, org_tree)
    templates = client.get("/api/v1/me/subscriptions", headers=headers).get_json()["template_ids"]
    other = next(t for t in templates if t != POINTS_TEMPLATE)
    result = {"errMsg": "requestSubscribeMessage:ok", POINTS_TEMPLATE: "accept", other: "reject"}
    first = client.post("/api/v1/me/subscriptions", json=result, headers=_keyed(headers, "tap-1"))
    again = client.post("/api/v1/me/subscriptions", json=result, headers=_keyed(headers, "tap-1"))
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.get_json()["grants"] == {POINTS_TEMPLATE: 1}
    assert again.get_json() == first.get_json()
    assert _grants(app, user_id) == {POINTS_TEMPLATE: 1}
    # A new tap (a new key) is a new grant; the older body shape still works.
    older = client.post(
        "/api/v1/me/subscriptions", json={"template_ids": [POINTS_TEMPLATE]}, headers=_keyed(headers, "tap-2")
    )
    assert older.status_code == 200
    assert _grants(app, user_id) == {POINTS_TEMPLATE: 2}


def test_a_subscribe_result_with_only_refusals_grants_nothing(app, client, login_user, org_tree):
    user_id, headers = _resident(client, login_user, org_tree)
    result = {"errMsg": "requestSubscribeMessage:ok", POINTS_TEMPLATE: "reject"}
    response = client.post("/api/v1/me/subscriptions", json=result, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["grants"] == {}
    assert _grants(app, user_id) == {}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"errMsg": "requestSubscribeMessage:ok", POINTS_TEMPLATE: "yes"}, POINTS_TEMPLATE),
        ({}, "template_ids"),
        ({"template_ids": []}, "template_ids"),
    ],
)
def test_a_subscribe_report_wechat_never_sends_is_refused(client, login_user, org_tree, body, field):
    _user_id, headers = _resident(client, login_user, org_tree)
    response = client.post("/api/v1/me/subscriptions", json=body, headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in str(error["details"])


def test_an_accepted_unknown_template_is_still_refused(client, login_user, org_tree):
    _user_id, headers = _resident(client, login_user, org_tree)
    response = client.post(
        "/api/v1/me/subscriptions",
        json={"errMsg": "requestSubscribeMessage:ok", "nope": "accept"},
        headers=headers,
    )
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "TEMPLATE_UNKNOWN"


def test_kept_answers_expire_and_the_key_can_be_used_again(app, client, login_user, org_tree, clock):
    user_id, headers = _resident(client, login_user, org_tree)
    assert client.post("/api/v1/wishes", json=WISH, headers=_keyed(headers, "old")).status_code == 201
    clock.now = CLOCK_START + timedelta(hours=int(app.config["IDEMPOTENCY_KEY_TTL_HOURS"]), minutes=1)
    from server.idempotency import purge_expired_requests  # here: new in issue 17

    with app.app_context():
        assert purge_expired_requests() == 1
        db.session.commit()
    assert _kept_answers(app) == 0
    assert client.post("/api/v1/wishes", json=WISH, headers=_keyed(headers, "old")).status_code == 201
    assert _count(app, Wish, user_id=user_id) == 2


def test_a_points_adjustment_resent_with_its_key_moves_points_once(
    app, client, login_user, org_tree, make_staff, login_staff
):
    user_id, headers = _resident(client, login_user, org_tree)
    staff = bearer(login_staff(make_staff(org="C1")))
    body = {"user_id": user_id, "amount": 7, "reason": "补录"}
    first = client.post("/api/v1/points/adjustments", json=body, headers=_keyed(staff, "adj-1"))
    again = client.post("/api/v1/points/adjustments", json=body, headers=_keyed(staff, "adj-1"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert client.get("/api/v1/me/points", headers=headers).get_json()["available"] == 7


KEYED_OPERATIONS = [
    ("/api/v1/wishes", "post"),
    ("/api/v1/points/adjustments", "post"),
    ("/api/v1/me/community-moves", "post"),
    ("/api/v1/me/party-report", "post"),
    ("/api/v1/me/subscriptions", "post"),
    ("/api/v1/redemptions", "post"),
]


@pytest.mark.parametrize(("path", "method"), KEYED_OPERATIONS)
def test_the_openapi_document_declares_the_idempotency_key_header(client, path, method):
    operation = client.get("/api/openapi.json").get_json()["paths"][path][method]
    headers = [p for p in operation.get("parameters", []) if p.get("in") == "header"]
    assert [p["name"] for p in headers] == ["Idempotency-Key"]
    assert operation.get("requestBody"), "the body is still documented beside the header"
