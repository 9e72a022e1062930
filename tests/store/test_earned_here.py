"""Items for points earned here (``earned_here_only``): points follow the person, but such an item is
bought only with points its community issued to the member, less what they spent or hold at its store."""

import threading

import pytest
from sqlalchemy import func, select

from points import services
from points.models import LedgerTransaction
from server.auth.policy import Principal
from server.db import db
from server.users.models import StaffAccount, User
from store.models import Redemption, StoreItem
from tests.conftest import bearer, points_of


@pytest.fixture
def c1_staff(make_staff, login_staff):
    return bearer(login_staff(make_staff(org="C1")))


def _redeem(client, tokens, item_id, quantity=1, key=None):
    headers = bearer(tokens) | ({"Idempotency-Key": key} if key else {})
    return client.post(
        "/api/v1/redemptions", json={"item_id": item_id, "quantity": quantity}, headers=headers
    )


def _newcomer(app, member, org_tree, make_staff, c1_points=0, elsewhere=30, name="newcomer"):
    """A member who earned ``elsewhere`` points in C2, then moved to C1 and earned ``c1_points`` there."""
    tokens = member(elsewhere, name, community="C2")
    user_id = tokens["user"]["id"]
    staff_id = make_staff(org="C1").id
    with app.app_context():
        db.session.get_one(User, user_id).community_id = org_tree["C1"].id
        if c1_points:
            principal = Principal(kind="staff", staff=db.session.get(StaffAccount, staff_id))
            assert services.adjust(principal, user_id, c1_points, "志愿服务补录").status == "done"
        db.session.commit()
    return tokens


def _item_row(app, item_id):
    with app.app_context():
        row = db.session.get_one(StoreItem, item_id)
        return row.stock, row.reserved


def test_the_flag_is_off_unless_set_and_residents_see_it(client, c1_staff, item, member, org_tree):
    plain = item()
    here = item(earned_here_only=True, name="社区定制帆布袋")
    listed = client.get(f"/api/v1/store/items?community_id={org_tree['C1'].id}", headers=bearer(member(0)))
    assert {i["id"]: i["earned_here_only"] for i in listed.get_json()["items"]} == {plain: False, here: True}
    changed = client.patch(f"/api/v1/store/items/{plain}", json={"earned_here_only": True}, headers=c1_staff)
    assert (changed.status_code, changed.get_json()["earned_here_only"]) == (200, True)
    other = client.patch(f"/api/v1/store/items/{plain}", json={"name": "大米 10kg"}, headers=c1_staff)
    assert other.get_json()["earned_here_only"] is True  # a change of something else keeps it
    bad = client.patch(f"/api/v1/store/items/{plain}", json={"earned_here_only": "maybe"}, headers=c1_staff)
    assert bad.status_code == 422


def test_points_earned_here_buy_it(client, item, member):
    tokens = member(30)  # issued by C1
    body = _redeem(client, tokens, item(earned_here_only=True, points_price=30)).get_json()
    assert (body["status"], body["points"]) == ("requested", 30)


def test_points_earned_elsewhere_do_not_and_nothing_moves(app, client, item, member, org_tree, make_staff):
    tokens = _newcomer(app, member, org_tree, make_staff, c1_points=5, elsewhere=30)
    here_only = item(earned_here_only=True, points_price=10)
    before = (points_of(client, tokens), _item_row(app, here_only))
    refused = _redeem(client, tokens, here_only)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "POINTS_NOT_EARNED_HERE"
    assert error["details"] == {"points": 10, "needed": 10, "earned_here": 5, "used_here": 0, "left_here": 5}
    assert error["message"] == "该商品只能用在本社区获得的积分兑换，您在本社区获得的积分不足"
    assert (points_of(client, tokens), _item_row(app, here_only)) == before
    # Any other item of the community takes them: points follow the person.
    assert _redeem(client, tokens, item(points_price=30)).status_code == 201


def test_what_was_spent_or_held_here_comes_off_and_what_came_back_goes_on(
    app, client, c1_staff, item, member, org_tree, make_staff
):
    tokens = _newcomer(app, member, org_tree, make_staff, c1_points=30, elsewhere=30)
    plain, here_only = item(points_price=20), item(earned_here_only=True, points_price=20)
    first = _redeem(client, tokens, plain).get_json()  # held in C1: 20 of the 30 earned here are used
    refused = _redeem(client, tokens, here_only).get_json()["error"]
    assert (refused["code"], refused["details"]["left_here"]) == ("POINTS_NOT_EARNED_HERE", 10)
    client.post(f"/api/v1/redemptions/{first['id']}/cancel", headers=bearer(tokens))  # released: 30 left
    second = _redeem(client, tokens, here_only).get_json()
    approved = client.post(f"/api/v1/redemptions/{second['id']}/approve", headers=c1_staff).get_json()
    assert approved["status"] == "approved"  # captured: 10 left here, 40 available
    assert points_of(client, tokens)["available"] == 40
    assert _redeem(client, tokens, here_only).get_json()["error"]["details"]["left_here"] == 10
    with app.app_context():
        capture = db.session.scalar(
            select(LedgerTransaction.id).where(
                LedgerTransaction.kind == "capture", LedgerTransaction.user_id == tokens["user"]["id"]
            )
        )
    client.post(f"/api/v1/points/transactions/{capture}/reverse", json={"reason": "退货"}, headers=c1_staff)
    assert _redeem(client, tokens, here_only).status_code == 201  # the refund gave C1's 20 back


def test_short_of_points_at_all_is_insufficient_points(app, client, item, member, org_tree, make_staff):
    tokens = _newcomer(app, member, org_tree, make_staff, c1_points=5, elsewhere=0)
    refused = _redeem(client, tokens, item(earned_here_only=True, points_price=10)).get_json()["error"]
    assert refused["code"] == "INSUFFICIENT_POINTS"


@pytest.mark.postgres
def test_racing_requests_cannot_spend_what_was_earned_here_twice(
    app, client, item, member, org_tree, make_staff
):
    """Ten different items (so their rows do not queue the requests) against 30 points earned here and 300
    from elsewhere: what was earned here is read under the member's balance lock, so exactly three pass."""
    tokens = _newcomer(app, member, org_tree, make_staff, c1_points=30, elsewhere=300)
    items = [item(earned_here_only=True, points_price=10, name=f"定制{i}") for i in range(10)]
    barrier = threading.Barrier(len(items))
    answers: list[tuple[int, str]] = []

    def run(item_id):
        racer = app.test_client()
        barrier.wait()
        response = _redeem(racer, tokens, item_id)
        answers.append((response.status_code, (response.get_json().get("error") or {}).get("code", "")))

    threads = [threading.Thread(target=run, args=(i,)) for i in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(answers) == [(201, "")] * 3 + [(409, "POINTS_NOT_EARNED_HERE")] * 7
    assert points_of(client, tokens)["held"] == 30
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Redemption)) == 3
        assert services.balance_earned_in(tokens["user"]["id"], org_tree["C1"].id).left == 0


def test_the_item_form_of_the_console_sets_and_clears_the_flag(app, console, make_staff, org_tree):
    session = console(make_staff(org="C1"))
    form = {
        "community_id": str(org_tree["C1"].id),
        "name": "社区定制帆布袋",
        "points_price": "15",
        "stock": "10",
        "per_user_limit": "1",
        "limit_period": "month",
        "requires_approval": "on",
        "active": "on",
        "earned_here_only": "on",
    }
    created = session.post("/console/store/new", form)
    assert created.status_code == 302, created.get_data(as_text=True)
    with app.app_context():
        item = db.session.scalars(select(StoreItem)).one()
        assert item.earned_here_only is True
        item_id = item.id
    page = session.get(f"/console/store/{item_id}").get_data(as_text=True)
    assert 'name="earned_here_only" checked' in page and "仅限本社区获得的积分" in page
    assert "限本社区积分" in session.get("/console/store").get_data(as_text=True)
    edit = {k: v for k, v in form.items() if k not in ("community_id", "earned_here_only")} | {
        "stock_was": "10"
    }
    assert session.post(f"/console/store/{item_id}", edit).status_code == 302
    with app.app_context():
        assert db.session.get_one(StoreItem, item_id).earned_here_only is False
