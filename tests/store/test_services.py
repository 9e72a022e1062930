"""The points-exchange supermarket: every transition, the refused ones, limits, idempotency and races."""

import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text

from points.models import LedgerTransaction
from server.db import db
from server.notifications.models import OutboxMessage
from store.models import Redemption, StockChange, StoreItem
from tests.conftest import bearer, points_of


@pytest.fixture
def staff(make_staff, login_staff):
    return bearer(login_staff(make_staff(org="C1")))


def _redeem(client, tokens, item_id, quantity=1, key=None):
    headers = bearer(tokens) | ({"Idempotency-Key": key} if key else {})
    return client.post(
        "/api/v1/redemptions", json={"item_id": item_id, "quantity": quantity}, headers=headers
    )


def _item(app, item_id):
    with app.app_context():
        row = db.session.get_one(StoreItem, item_id)
        return row.stock, row.reserved


def test_request_approve_and_pick_up(app, client, staff, item, member, wechat_fake, org_tree):
    item_id = item()
    tokens = member()
    listed = client.get(
        f"/api/v1/store/items?community_id={org_tree['C1'].id}", headers=bearer(tokens)
    ).get_json()
    assert listed["items"][0]["stock_available"] == 5
    requested = _redeem(client, tokens, item_id, 2)
    assert requested.status_code == 201
    body = requested.get_json()
    assert (body["status"], body["points"], body["pickup_code"]) == ("requested", 20, None)
    assert points_of(client, tokens)["available"] == 10 and points_of(client, tokens)["held"] == 20
    assert _item(app, item_id) == (5, 2)
    queue = client.get("/api/v1/redemptions?status=requested", headers=staff).get_json()
    assert [r["id"] for r in queue["items"]] == [body["id"]]

    approved = client.post(f"/api/v1/redemptions/{body['id']}/approve", headers=staff).get_json()
    assert approved["status"] == "approved" and len(approved["pickup_code"]) == 8
    assert points_of(client, tokens) | {} == {
        "available": 10,
        "held": 0,
        "earned_total": 30,
        "spent_total": 20,
    }
    assert _item(app, item_id) == (3, 0)

    picked = client.post(
        "/api/v1/redemptions/pickup", json={"pickup_code": approved["pickup_code"].lower()}, headers=staff
    )
    assert picked.get_json()["status"] == "picked_up"
    again = client.post(
        "/api/v1/redemptions/pickup", json={"pickup_code": approved["pickup_code"]}, headers=staff
    )
    # The same desk at once: a resend (tests/store/test_pickup_resend.py has the other desks and later).
    assert (again.status_code, again.headers.get("Idempotency-Replayed")) == (200, "true")
    wrong = client.post("/api/v1/redemptions/pickup", json={"pickup_code": "WRONG123"}, headers=staff)
    assert (wrong.status_code, wrong.get_json()["error"]["code"]) == (404, "PICKUP_CODE_INVALID")


def test_reject_and_cancel_give_points_and_stock_back(app, client, staff, item, member):
    item_id = item()
    tokens = member()
    first = _redeem(client, tokens, item_id).get_json()
    second = _redeem(client, tokens, item_id).get_json()
    no_reason = client.post(f"/api/v1/redemptions/{first['id']}/reject", json={"reason": " "}, headers=staff)
    assert no_reason.status_code == 422
    rejected = client.post(
        f"/api/v1/redemptions/{first['id']}/reject", json={"reason": "库存盘点有误"}, headers=staff
    ).get_json()
    assert (rejected["status"], rejected["reason"]) == ("rejected", "库存盘点有误")
    cancelled = client.post(f"/api/v1/redemptions/{second['id']}/cancel", headers=bearer(tokens)).get_json()
    assert cancelled["status"] == "cancelled"
    assert points_of(client, tokens)["available"] == 30
    assert _item(app, item_id) == (5, 0)


def test_refused_transitions(app, client, staff, item, member, make_staff, login_staff):
    item_id = item()
    tokens = member()
    redemption = _redeem(client, tokens, item_id).get_json()
    other_staff = bearer(login_staff(make_staff(org="C2")))
    assert (
        client.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=other_staff).status_code == 403
    )
    assert client.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=staff).status_code == 200
    colleague = bearer(login_staff(make_staff(org="C1")))
    twice = client.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=colleague)
    assert (twice.status_code, twice.get_json()["error"]["code"]) == (409, "REDEMPTION_DECIDED")
    late_cancel = client.post(f"/api/v1/redemptions/{redemption['id']}/cancel", headers=bearer(tokens))
    assert late_cancel.status_code == 409
    stranger = client.post(f"/api/v1/redemptions/{redemption['id']}/cancel", headers=bearer(member(0, "x")))
    assert stranger.status_code == 404


@pytest.mark.parametrize(
    ("setup", "quantity", "code", "status"),
    [
        ({"stock": 1}, 2, "OUT_OF_STOCK", 409),
        ({"points_price": 40}, 1, "INSUFFICIENT_POINTS", 409),
        ({"active": False}, 1, "NOT_ON_SALE", 409),
        ({"on_sale_from": "2099-01-01T00:00:00+08:00"}, 1, "NOT_ON_SALE", 409),
        ({"per_user_limit": 1}, 2, "LIMIT_REACHED", 409),
    ],
)
def test_refused_requests_change_nothing(app, client, item, member, setup, quantity, code, status):
    item_id = item(**setup)
    tokens = member()
    before = (points_of(client, tokens), _item(app, item_id))
    response = _redeem(client, tokens, item_id, quantity)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert (points_of(client, tokens), _item(app, item_id)) == before


def test_the_limit_counts_per_period(app, client, item, member):
    item_id = item(per_user_limit=2, limit_period="month")
    tokens = member()
    assert _redeem(client, tokens, item_id).status_code == 201
    assert _redeem(client, tokens, item_id).status_code == 201
    assert _redeem(client, tokens, item_id).get_json()["error"]["code"] == "LIMIT_REACHED"


def test_members_of_another_community_cannot_redeem(client, item, login_user, org_tree):
    item_id = item()
    outsider = login_user("outsider")
    client.patch("/api/v1/me", json={"community_id": org_tree["C2"].id}, headers=bearer(outsider))
    response = _redeem(client, outsider, item_id)
    assert (response.status_code, response.get_json()["error"]["code"]) == (403, "NOT_YOUR_COMMUNITY")


def test_the_same_key_replays_and_a_changed_body_is_409(app, client, item, member):
    item_id = item()
    tokens = member()
    first = _redeem(client, tokens, item_id, 1, key="redeem-key-1")
    replay = _redeem(client, tokens, item_id, 1, key="redeem-key-1")
    changed = _redeem(client, tokens, item_id, 2, key="redeem-key-1")
    assert (replay.status_code, replay.get_json()) == (201, first.get_json())
    assert (changed.status_code, changed.get_json()["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert points_of(client, tokens)["held"] == 10


def test_an_item_without_approval_is_approved_at_once(client, item, member):
    item_id = item(requires_approval=False, name="理发券")
    body = _redeem(client, member(), item_id).get_json()
    assert body["status"] == "approved" and body["pickup_code"]


def test_stock_changes_are_audited_and_never_below_reserved(app, client, staff, item, member):
    item_id = item(stock=3)
    _redeem(client, member(), item_id, 2)
    no_reason = client.patch(f"/api/v1/store/items/{item_id}", json={"stock": 10}, headers=staff)
    assert (no_reason.status_code, no_reason.get_json()["error"]["code"]) == (422, "REASON_REQUIRED")
    below = client.patch(
        f"/api/v1/store/items/{item_id}", json={"stock": 1, "stock_reason": "损耗"}, headers=staff
    )
    assert (below.status_code, below.get_json()["error"]["code"]) == (409, "STOCK_BELOW_RESERVED")
    raised = client.patch(
        f"/api/v1/store/items/{item_id}", json={"stock": 10, "stock_reason": "爱心企业捐赠"}, headers=staff
    )
    assert raised.get_json()["stock_available"] == 8
    with app.app_context():
        audit = [(c.stock_from, c.stock_to, c.reason) for c in db.session.scalars(select(StockChange))]
    assert audit == [(0, 3, "上架"), (3, 10, "爱心企业捐赠")]


def _answer(response):
    """(status, error code or "") of a response."""
    body = response.get_json() or {}
    return response.status_code, (body.get("error") or {}).get("code", "")


def _race_answers(app, calls):
    """Run the calls at once, each with its own client; their (status, code), in the order of the calls."""
    barrier = threading.Barrier(len(calls))
    answers: list[tuple[int, str] | None] = [None] * len(calls)

    def run(index, call):
        racer = app.test_client()
        barrier.wait()
        answers[index] = _answer(call(racer))

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def _holds(app):
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "hold")
        )


@pytest.mark.postgres
def test_fifty_members_racing_for_the_last_three(app, client, item, member):
    item_id = item(stock=3)
    members = [member(10, f"racer{i}") for i in range(50)]
    answers = _race_answers(app, [lambda c, t=t: _redeem(c, t, item_id) for t in members])
    # The losers are told why: not a 409 of any kind (a CHECK turned into IDEMPOTENCY_KEY_REUSED passed here).
    assert sorted(answers) == [(201, "")] * 3 + [(409, "OUT_OF_STOCK")] * 47
    assert _item(app, item_id) == (3, 3)


@pytest.mark.postgres
def test_twenty_requests_from_a_member_whose_points_cover_two(app, client, item, member):
    item_id = item(stock=50, points_price=15)
    tokens = member(30)
    answers = _race_answers(
        app, [lambda c, i=i: _redeem(c, tokens, item_id, key=f"race-key-{i}") for i in range(20)]
    )
    assert sorted(answers) == [(201, "")] * 2 + [(409, "INSUFFICIENT_POINTS")] * 18
    assert points_of(client, tokens)["held"] == 30
    assert _item(app, item_id) == (50, 2)


@pytest.mark.postgres
def test_ten_requests_racing_for_a_limit_of_one_get_one(app, client, item, member):
    """The per-person limit is counted after the reservation has locked the item row: counted before it,
    all ten read "none taken yet" and pass (mutation i2 of the test review)."""
    item_id = item(stock=50, per_user_limit=1, limit_period="ever")
    tokens = member(100)
    answers = _race_answers(
        app, [lambda c, i=i: _redeem(c, tokens, item_id, key=f"limit-key-{i}") for i in range(10)]
    )
    assert sorted(answers) == [(201, "")] + [(409, "LIMIT_REACHED")] * 9
    assert _holds(app) == 1
    assert points_of(client, tokens) | {} == {
        "available": 90,
        "held": 10,
        "earned_total": 100,
        "spent_total": 0,
    }
    assert _item(app, item_id) == (50, 1)


@pytest.mark.postgres
def test_an_approval_racing_a_cancel_has_one_winner(app, client, staff, item, member):
    item_id = item()
    tokens = member()
    ids = [_redeem(client, tokens, item_id).get_json()["id"] for _ in range(3)]
    for redemption_id in ids:
        approval, cancel = _race_answers(
            app,
            [
                lambda c, r=redemption_id: c.post(f"/api/v1/redemptions/{r}/approve", headers=staff),
                lambda c, r=redemption_id: c.post(f"/api/v1/redemptions/{r}/cancel", headers=bearer(tokens)),
            ],
        )
        won = "approved" if approval == (200, "") else "cancelled"
        # The loser is told the request was already decided, whichever side lost.
        assert sorted([approval, cancel]) == [(200, ""), (409, "REDEMPTION_DECIDED")]
        with app.app_context():
            redemption = db.session.get_one(Redemption, redemption_id)
            settlements = db.session.scalars(
                select(LedgerTransaction.kind).where(LedgerTransaction.settles_id == redemption.hold_id)
            ).all()
        assert (redemption.status, settlements) == (won, ["capture" if won == "approved" else "release"])
    with app.app_context():
        statuses = [r.status for r in db.session.scalars(select(Redemption))]
    approved = statuses.count("approved")
    assert len(statuses) == 3 and approved + statuses.count("cancelled") == 3
    # The points: each approval spent 10 of the 30, each cancellation gave 10 back.
    assert points_of(client, tokens) == {
        "available": 10 * (3 - approved),
        "held": 0,
        "earned_total": 30,
        "spent_total": 10 * approved,
    }
    assert _item(app, item_id) == (5 - approved, 0)


@pytest.mark.postgres
def test_requests_racing_with_one_key_all_get_the_first_answer(app, client, item, member):
    """Five identical requests (one Idempotency-Key) pass the key lookup before any is written, then queue
    on the item row: the first is taken, the others meet its key's unique constraint and replay it."""
    item_id = item()
    tokens = member()
    with app.app_context():
        blocker = db.engine.connect()
        blocker.execute(select(StoreItem.id).where(StoreItem.id == item_id).with_for_update())
        answers: list[Any] = [None] * 5

        def run(index):
            answers[index] = _redeem(app.test_client(), tokens, item_id, key="the-same-key")

        threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        _wait_until_waiting_for_locks(5)
        blocker.rollback()
        blocker.close()
        for thread in threads:
            thread.join(timeout=120)
    assert [a.status_code for a in answers] == [201] * 5, [a.get_json() for a in answers]
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert points_of(client, tokens)["held"] == 10 and _holds(app) == 1
    assert _item(app, item_id) == (5, 1)


def _wait_until_waiting_for_locks(count):
    with db.engine.connect() as conn:
        for _ in range(3000):
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting >= count:
                return
            time.sleep(0.01)
    pytest.fail(f"{count} requests never waited for the item's row lock")


def test_a_database_refusal_other_than_the_key_is_not_called_a_reused_key(
    app, client, item, member, monkeypatch
):
    """A constraint other than the key's (here a foreign key: the ledger handing back a hold that does not
    exist) is a bug, not the member's key: the generic error, after everything is rolled back."""
    from points import services as points_services
    from points.ledger import LedgerResult

    item_id = item()
    tokens = member()
    before = (points_of(client, tokens), _item(app, item_id))
    monkeypatch.setattr(
        points_services, "hold", lambda *args, **kwargs: LedgerResult("done", 10, 2_000_000_000)
    )
    response = _redeem(client, tokens, item_id, key="a-fresh-key")
    assert _answer(response) == (500, "INTERNAL_ERROR")
    assert (points_of(client, tokens), _item(app, item_id)) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Redemption)) == 0


def test_undecided_requests_and_uncollected_goods_expire_once(app, client, staff, item, member):
    from store.jobs import expire_redemptions

    item_id = item(stock=5)
    tokens = member()
    waiting = _redeem(client, tokens, item_id).get_json()
    approved = _redeem(client, tokens, item_id).get_json()
    client.post(f"/api/v1/redemptions/{approved['id']}/approve", headers=staff)
    assert points_of(client, tokens)["available"] == 10
    app.config.update(STORE_REQUEST_DAYS=0, STORE_PICKUP_DAYS=1)
    try:
        with app.app_context():
            assert expire_redemptions() == {"requests": 1, "approvals": 0, "warned": 1}
        app.config["STORE_PICKUP_DAYS"] = 0
        with app.app_context():
            assert expire_redemptions() == {"requests": 0, "approvals": 1, "warned": 0}
            assert expire_redemptions() == {"requests": 0, "approvals": 0, "warned": 0}
    finally:
        app.config.update(STORE_REQUEST_DAYS=7, STORE_PICKUP_DAYS=14)
    mine = client.get("/api/v1/me/redemptions", headers=bearer(tokens)).get_json()["items"]
    assert {r["id"]: r["status"] for r in mine} == {waiting["id"]: "expired", approved["id"]: "expired"}
    assert points_of(client, tokens) == {"available": 30, "held": 0, "earned_total": 30, "spent_total": 0}
    assert _item(app, item_id) == (5, 0)
    expired_pickup = client.post(
        "/api/v1/redemptions/pickup",
        json={"pickup_code": mine[0]["pickup_code"] or mine[1]["pickup_code"]},
        headers=staff,
    )
    assert (expired_pickup.status_code, expired_pickup.get_json()["error"]["code"]) == (
        409,
        "PICKUP_CODE_EXPIRED",
    )
    with app.app_context():
        events = [m.event for m in db.session.scalars(select(OutboxMessage))]
    assert events.count("redemption.expired") == 2 and events.count("redemption.expiring") == 1


def test_seed_demo_stocks_each_demo_supermarket_once(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        names = sorted(i.name for i in db.session.scalars(select(StoreItem)))
    assert names == sorted(["大米 5kg", "食用油 1.8L", "毛巾两条装", "理发券"] * 2)


def test_bulk_approve_and_the_queue_shows_balances(app, client, staff, item, member):
    item_id = item(stock=2)
    tokens = member(30, "bulk")
    ids = [_redeem(client, tokens, item_id).get_json()["id"] for _ in range(2)]
    queue = client.get("/api/v1/redemptions?status=requested", headers=staff).get_json()["items"]
    assert [(r["member_available"], r["member_nickname"]) for r in queue] == [(10, ""), (10, "")]
    result = client.post(
        "/api/v1/redemptions/approve", json={"ids": [ids[0], ids[1], ids[0], 999999]}, headers=staff
    ).get_json()["items"]
    assert [(r["result"], r.get("code")) for r in result] == [
        ("approved", None),
        ("approved", None),
        ("refused", "REDEMPTION_DECIDED"),
        ("refused", "REDEMPTION_NOT_FOUND"),
    ]
    assert _item(app, item_id) == (0, 0)


def test_the_member_sees_the_pickup_code_as_a_qr(client, staff, item, member):
    item_id = item()
    tokens = member()
    redemption = _redeem(client, tokens, item_id).get_json()
    waiting = client.get(f"/api/v1/redemptions/{redemption['id']}/pickup-qr", headers=bearer(tokens))
    assert waiting.status_code == 409
    client.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=staff)
    image = client.get(f"/api/v1/redemptions/{redemption['id']}/pickup-qr", headers=bearer(tokens))
    assert (image.status_code, image.mimetype) == (200, "image/png")
    other = client.get(
        f"/api/v1/redemptions/{redemption['id']}/pickup-qr", headers=bearer(member(0, "other"))
    )
    assert other.status_code == 404


def test_ids_beyond_the_integer_range_are_a_422_not_a_500(client, staff, member, org_tree):
    # Found by the fuzz run: community and item ids no integer column holds reached PostgreSQL.
    tokens = member(points=0)
    assert (
        client.get("/api/v1/store/items?community_id=2833012202", headers=bearer(tokens)).status_code == 422
    )
    assert client.get(f"/api/v1/redemptions?community_id={-(2**50)}", headers=staff).status_code == 422
    response = _redeem(client, tokens, 2**31)
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["item_id"]
    approve = client.post("/api/v1/redemptions/approve", json={"ids": [1, 2**31]}, headers=staff)
    assert approve.status_code == 422, approve.get_json()


def test_sale_times_out_of_range_are_a_422(client, staff, org_tree):
    body = {
        "community_id": org_tree["C1"].id,
        "name": "大米",
        "points_price": 10,
        "on_sale_from": "1237-06-21T00:00:00Z",
    }
    response = client.post("/api/v1/store/items", json=body, headers=staff)
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["on_sale_from"]
