"""The member's screens of the supermarket: one redemption with its pickup deadline and place, one item, the
shelf paged and filtered by category with its tabs, and the pickup place and hours staff set."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import CLOCK_START, bearer
from tests.store.flows import redeem

PICKUP_DAYS = 14  # STORE_PICKUP_DAYS' default: approved goods not picked up within it expire
PLACE = {"pickup_place": "幸福里党群服务中心一楼", "pickup_hours": "周一至周五 9:00-17:00"}


@pytest.fixture
def staff(make_staff, login_staff) -> dict[str, str]:
    """The Authorization header of a staff account of C1."""
    return bearer(login_staff(make_staff(org="C1")))


def _answer(response) -> tuple[int, str | None]:
    body = response.get_json()
    return response.status_code, (body.get("error") or {}).get("code")


def _approve(client, staff, redemption_id: int) -> dict[str, Any]:
    response = client.post(f"/api/v1/redemptions/{redemption_id}/approve", headers=staff)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _set_pickup(client, headers, community_id: int, body: dict[str, Any]):
    return client.patch(f"/api/v1/store/settings/{community_id}", json=body, headers=headers)


def _detail(client, headers, redemption_id: int):
    return client.get(f"/api/v1/redemptions/{redemption_id}", headers=headers)


# --- one redemption -----------------------------------------------------------------------------------------


def test_my_redemption_is_the_lists_row_with_its_pickup_deadline_and_place(
    client, staff, item, member, org_tree, clock
):
    assert _set_pickup(client, staff, org_tree["C1"].id, PLACE).status_code == 200
    tokens = member()
    redemption = redeem(client, tokens, item())
    _approve(client, staff, redemption["id"])

    response = _detail(client, bearer(tokens), redemption["id"])

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    [row] = client.get("/api/v1/me/redemptions", headers=bearer(tokens)).get_json()["items"]
    assert {k: v for k, v in body.items() if k not in ("pickup_deadline", "pickup")} == row
    assert body["status"] == "approved"
    assert body["pickup_deadline"] == "2026-12-15T10:00:00+08:00"  # approved 1 Dec 10:00, plus 14 days
    assert body["pickup"] == {"place": "幸福里党群服务中心一楼", "hours": "周一至周五 9:00-17:00"}


def test_the_approval_expires_just_after_the_deadline_it_shows(app, client, staff, item, member, clock):
    from store.jobs import expire_redemptions

    tokens = member()
    redemption = redeem(client, tokens, item())
    _approve(client, staff, redemption["id"])
    deadline = datetime.fromisoformat(
        _detail(client, bearer(tokens), redemption["id"]).get_json()["pickup_deadline"]
    )
    assert deadline == CLOCK_START + timedelta(days=PICKUP_DAYS)

    clock.now = deadline - timedelta(minutes=1)
    with app.app_context():
        assert expire_redemptions()["approvals"] == 0
    clock.now = deadline + timedelta(minutes=1)
    with app.app_context():
        assert expire_redemptions()["approvals"] == 1

    expired = _detail(client, bearer(tokens), redemption["id"]).get_json()
    assert (expired["status"], expired["pickup_deadline"]) == ("expired", None)


def test_there_is_no_deadline_while_waiting_or_once_picked_up_and_no_place_until_staff_set_one(
    client, staff, item, member
):
    tokens = member()
    redemption = redeem(client, tokens, item())

    waiting = _detail(client, bearer(tokens), redemption["id"]).get_json()
    assert (waiting["status"], waiting["pickup_deadline"]) == ("requested", None)
    assert waiting["pickup"] == {"place": None, "hours": None}

    code = _approve(client, staff, redemption["id"])["pickup_code"]
    assert (
        client.post("/api/v1/redemptions/pickup", json={"pickup_code": code}, headers=staff).status_code
        == 200
    )
    collected = _detail(client, bearer(tokens), redemption["id"]).get_json()
    assert (collected["status"], collected["pickup_deadline"]) == ("picked_up", None)


def test_its_communitys_staff_read_it_and_everyone_else_gets_the_404_of_an_unknown_id(
    client, staff, item, member, make_staff, login_staff
):
    tokens = member()
    redemption = redeem(client, tokens, item())
    mine = _detail(client, bearer(tokens), redemption["id"])
    assert mine.status_code == 200

    admin = bearer(login_staff(make_staff(role="admin", org="D1")))
    for reader in (staff, admin):
        assert _detail(client, reader, redemption["id"]).get_json() == mine.get_json()

    unknown = _answer(_detail(client, bearer(tokens), redemption["id"] + 1000))
    assert unknown == (404, "REDEMPTION_NOT_FOUND")
    neighbour = bearer(member(0, "neighbour"))
    elsewhere = bearer(member(0, "elsewhere", community="C2"))
    other_staff = bearer(login_staff(make_staff(org="C2")))
    for stranger in (neighbour, elsewhere, other_staff):
        assert _answer(_detail(client, stranger, redemption["id"])) == unknown
    assert _detail(client, {}, redemption["id"]).status_code == 401


# --- where and when goods are picked up ---------------------------------------------------------------------


def test_staff_set_the_pickup_place_and_hours_of_their_community_only(
    client, staff, member, org_tree, make_staff, login_staff
):
    c1 = org_tree["C1"].id
    done = _set_pickup(client, staff, c1, PLACE)
    assert done.status_code == 200, done.get_json()
    assert done.get_json() == {"community_id": c1, **PLACE}

    moved = _set_pickup(client, staff, c1, {"pickup_place": " 二号楼积分超市 "})
    assert moved.get_json() == {
        "community_id": c1,
        "pickup_place": "二号楼积分超市",
        "pickup_hours": PLACE["pickup_hours"],
    }
    cleared = _set_pickup(client, staff, c1, {"pickup_hours": "  "})
    assert cleared.get_json()["pickup_hours"] is None

    other_staff = bearer(login_staff(make_staff(org="C2")))
    assert _answer(_set_pickup(client, other_staff, c1, PLACE)) == (403, "FORBIDDEN")
    assert _answer(_set_pickup(client, bearer(member(0)), c1, PLACE)) == (403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("community", "body", "expected"),
    [
        ("C1", {"pickup_place": "楼" * 201}, (422, "VALIDATION_ERROR")),
        ("C1", {"pickup_hours": 9}, (422, "VALIDATION_ERROR")),
        ("S1", PLACE, (422, "NOT_A_COMMUNITY")),
        (None, PLACE, (404, "ORG_NOT_FOUND")),
    ],
    ids=["place-too-long", "hours-not-text", "a-street", "unknown-community"],
)
def test_bad_pickup_settings_are_clear_errors(
    client, org_tree, make_staff, login_staff, community, body, expected
):
    admin = bearer(login_staff(make_staff(role="admin", org="D1")))
    community_id = org_tree[community].id if community else 999_999
    assert _answer(_set_pickup(client, admin, community_id, body)) == expected


# --- one item, the shelf, its tabs --------------------------------------------------------------------------


def _items(client, headers, query: str):
    return client.get(f"/api/v1/store/items?{query}", headers=headers)


def test_one_item_is_shown_as_the_list_shows_it_to_members_of_any_community(client, item, member, org_tree):
    item_id = item(category="food", sponsor="爱心粮油店")
    for reader in (bearer(member(0)), bearer(member(0, "elsewhere", community="C2"))):
        [listed] = _items(client, reader, f"community_id={org_tree['C1'].id}").get_json()["items"]
        one = client.get(f"/api/v1/store/items/{item_id}", headers=reader)
        assert one.status_code == 200, one.get_json()
        assert one.get_json() == listed
        assert (listed["category"], listed["category_name"]) == ("food", "粮油食品")


@pytest.mark.parametrize(
    "off_sale",
    [{"active": False}, {"on_sale_until": "2026-11-30T00:00:00+08:00"}],
    ids=["inactive", "sale-ended"],
)
def test_an_item_off_sale_is_not_found_except_by_the_staff_running_its_supermarket(
    client, staff, item, member, make_staff, login_staff, clock, off_sale
):
    item_id = item(**off_sale)
    tokens = bearer(member(0))
    unknown = _answer(client.get(f"/api/v1/store/items/{item_id + 1000}", headers=tokens))
    assert unknown == (404, "ITEM_NOT_FOUND")
    assert _answer(client.get(f"/api/v1/store/items/{item_id}", headers=tokens)) == unknown
    other_staff = bearer(login_staff(make_staff(org="C2")))
    assert _answer(client.get(f"/api/v1/store/items/{item_id}", headers=other_staff)) == unknown
    shown = client.get(f"/api/v1/store/items/{item_id}", headers=staff)
    assert (shown.status_code, shown.get_json()["id"]) == (200, item_id)


def test_the_shelf_is_paged_cheapest_first(client, item, member, org_tree):
    for price in (30, 10, 20):
        item(name=f"商品{price}", points_price=price)
    tokens = bearer(member(0))
    c1 = org_tree["C1"].id
    first = _items(client, tokens, f"community_id={c1}&page_size=2").get_json()
    assert [i["points_price"] for i in first["items"]] == [10, 20]
    assert (first["total"], first["page"], first["page_size"]) == (3, 1, 2)
    second = _items(client, tokens, f"community_id={c1}&page=2&page_size=2").get_json()
    assert ([i["points_price"] for i in second["items"]], second["total"]) == ([30], 3)


def test_the_tabs_list_the_shelves_holding_goods_on_sale_and_the_filter_shows_one(
    client, item, member, org_tree
):
    item(name="大米", category="food", points_price=20)
    item(name="食用油", category="food", points_price=15)
    item(name="理发券", category="voucher")
    item(name="没有分类的商品")
    item(name="下架的毛巾", category="daily", active=False)
    item(community="C2", name="二社区的笔记本", category="stationery")
    tokens = bearer(member(0))
    c1 = org_tree["C1"].id

    tabs = client.get(f"/api/v1/store/categories?community_id={c1}", headers=tokens)

    assert tabs.status_code == 200, tabs.get_json()
    assert tabs.get_json() == {
        "items": [
            {"code": "food", "name": "粮油食品", "count": 2},
            {"code": "voucher", "name": "服务券", "count": 1},
        ]
    }
    food = _items(client, tokens, f"community_id={c1}&category=food").get_json()
    assert ([i["name"] for i in food["items"]], food["total"]) == (["食用油", "大米"], 2)
    assert _items(client, tokens, f"community_id={c1}").get_json()["total"] == 4


def test_staff_file_an_item_under_a_category_and_take_it_out_again(client, staff, item):
    item_id = item()
    filed = client.patch(f"/api/v1/store/items/{item_id}", json={"category": "cleaning"}, headers=staff)
    assert (filed.status_code, filed.get_json()["category"], filed.get_json()["category_name"]) == (
        200,
        "cleaning",
        "洗护清洁",
    )
    unfiled = client.patch(f"/api/v1/store/items/{item_id}", json={"category": None}, headers=staff)
    assert (unfiled.get_json()["category"], unfiled.get_json()["category_name"]) == (None, None)


def test_a_category_that_does_not_exist_is_a_422_naming_the_field(client, staff, item, member, org_tree):
    tokens = bearer(member(0))
    listed = _items(client, tokens, f"community_id={org_tree['C1'].id}&category=粮油")
    assert _answer(listed) == (422, "VALIDATION_ERROR")
    assert list(listed.get_json()["error"]["details"]["fields"]) == ["category"]
    body = {"community_id": org_tree["C1"].id, "name": "零食", "points_price": 5, "category": "snacks"}
    made = client.post("/api/v1/store/items", json=body, headers=staff)
    assert _answer(made) == (422, "VALIDATION_ERROR")
    assert list(made.get_json()["error"]["details"]["fields"]) == ["category"]


@pytest.mark.parametrize("path", ["/api/v1/store/items", "/api/v1/store/categories"])
def test_the_shelf_and_its_tabs_of_a_community_that_is_not_one_are_clear_errors(
    client, member, org_tree, path
):
    tokens = bearer(member(0))
    assert _answer(client.get(f"{path}?community_id=999999", headers=tokens)) == (404, "ORG_NOT_FOUND")
    assert _answer(client.get(f"{path}?community_id={org_tree['S1'].id}", headers=tokens)) == (
        422,
        "NOT_A_COMMUNITY",
    )
    assert _answer(client.get(path, headers=tokens)) == (422, "VALIDATION_ERROR")


def test_seed_demo_sorts_the_demo_goods_and_says_where_to_pick_them_up(app, client, login_user):
    from sqlalchemy import select

    from server.db import db
    from server.orgs.models import OrgUnit

    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        community_id = db.session.scalars(select(OrgUnit.id).where(OrgUnit.code == "C01")).one()
    tokens = bearer(login_user())
    tabs = client.get(f"/api/v1/store/categories?community_id={community_id}", headers=tokens).get_json()
    assert [(t["code"], t["count"]) for t in tabs["items"]] == [("food", 2), ("daily", 1), ("voucher", 1)]
    with app.app_context():
        from store.services import pickup_info

        assert pickup_info(community_id).place
