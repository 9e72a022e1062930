"""The console pages of the supermarket, through the test client: queue, detail, bulk, pickup, goods."""

import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from server.db import db
from store.models import Redemption, StockChange, StoreItem
from tests.conftest import bearer, points_of
from tests.store.flows import redeem, status_of


@pytest.fixture
def staff_headers(make_staff, login_staff):
    return bearer(login_staff(make_staff(org="C1")))


def _flashes(html):
    return re.findall(r'<p class="flash [a-z]+" role="status">([^<]*)</p>', html)


# --- the redemption queue -------------------------------------------------------------------------------


def test_the_queue_lists_requests_oldest_first_with_each_members_points(
    console, make_staff, item, member, client
):
    item_id = item()
    alice, bob = member(50, "alice", nickname="王阿姨"), member(30, "bob", nickname="李大爷")
    first, second = redeem(client, alice, item_id), redeem(client, bob, item_id, 2)
    page = console(make_staff(org="C1")).get("/console/redemptions").get_data(as_text=True)
    assert page.index(f'id="redemption-{first["id"]}"') < page.index(f'id="redemption-{second["id"]}"')
    row = page[page.index(f'id="redemption-{second["id"]}"') :]
    assert "李大爷" in row and '<td class="member-available">10</td>' in row
    assert "共 2 条" in page
    approved = console(make_staff(org="C1")).get("/console/redemptions?status=approved")
    assert "没有记录" in approved.get_data(as_text=True)


def test_the_queue_filters_by_community_and_never_shows_another_subtree(
    console, make_staff, item, member, client, org_tree
):
    c1_item, c2_item, c3_item = item("C1"), item("C2"), item("C3")
    in_c1 = redeem(client, member(name="a", community="C1"), c1_item)
    in_c2 = redeem(client, member(name="b", community="C2"), c2_item)
    in_c3 = redeem(client, member(name="c", community="C3"), c3_item)
    street = console(make_staff(org="S1"))
    everything = street.get("/console/redemptions").get_data(as_text=True)
    assert f"redemption-{in_c1['id']}" in everything and f"redemption-{in_c2['id']}" in everything
    assert f"redemption-{in_c3['id']}" not in everything
    only_c2 = street.get(f"/console/redemptions?community={org_tree['C2'].id}").get_data(as_text=True)
    assert f"redemption-{in_c2['id']}" in only_c2 and f"redemption-{in_c1['id']}" not in only_c2


def test_approve_spends_the_held_points_and_reject_needs_a_reason(
    app, console, make_staff, item, member, client
):
    item_id = item()
    tokens = member(30)
    one, two = redeem(client, tokens, item_id), redeem(client, tokens, item_id)
    session = console(make_staff(org="C1"))
    done = session.post(f"/console/redemptions/{one['id']}/approve", follow_redirects=True)
    assert f"已通过兑换申请 #{one['id']}" in done.get_data(as_text=True)
    assert status_of(app, one["id"]) == "approved"
    assert points_of(client, tokens) | {} == {
        "available": 10,
        "held": 10,
        "earned_total": 30,
        "spent_total": 10,
    }

    no_reason = session.post(
        f"/console/redemptions/{two['id']}/reject", {"reason": "  "}, follow_redirects=True
    )
    assert "请填写原因（REASON_REQUIRED）" in no_reason.get_data(as_text=True)
    assert status_of(app, two["id"]) == "requested"
    session.post(f"/console/redemptions/{two['id']}/reject", {"reason": "本周缺货"})
    with app.app_context():
        rejected = db.session.get_one(Redemption, two["id"])
        assert (rejected.status, rejected.reason) == ("rejected", "本周缺货")
    assert points_of(client, tokens)["available"] == 20 and points_of(client, tokens)["held"] == 0


def test_bulk_approve_reports_each_id(app, console, make_staff, item, member, client):
    item_id = item(stock=10)
    tokens = member(100)
    ids = [redeem(client, tokens, item_id)["id"] for _ in range(3)]
    session = console(make_staff(org="C1"))
    session.post(f"/console/redemptions/{ids[2]}/reject", {"reason": "重复申请"})
    session.get("/console/redemptions")  # the flash of the reject is read
    page = session.post(
        "/console/redemptions/approve", {"ids": [str(i) for i in ids]}, follow_redirects=True
    ).get_data(as_text=True)
    assert _flashes(page) == [
        f"#{ids[0]} 已通过",
        f"#{ids[1]} 已通过",
        f"#{ids[2]} 未通过：该兑换已处理（REDEMPTION_DECIDED）",
    ]
    assert [status_of(app, i) for i in ids] == ["approved", "approved", "rejected"]
    nothing = session.post("/console/redemptions/approve", {}, follow_redirects=True).get_data(as_text=True)
    assert "请先勾选要通过的兑换申请" in nothing


def test_another_communitys_redemption_is_refused_by_url_and_by_post(
    app, console, make_staff, item, member, client
):
    redemption = redeem(client, member(), item())
    other = console(make_staff(org="C2"))
    assert other.get(f"/console/redemptions/{redemption['id']}").status_code == 403
    assert other.get("/console/redemptions/999999").status_code == 404
    refused = other.post(f"/console/redemptions/{redemption['id']}/approve", follow_redirects=True)
    assert "没有权限执行此操作（FORBIDDEN）" in refused.get_data(as_text=True)
    other.post(f"/console/redemptions/{redemption['id']}/reject", {"reason": "x"})
    other.post("/console/redemptions/approve", {"ids": str(redemption["id"])})
    assert status_of(app, redemption["id"]) == "requested"
    own = console(make_staff(org="C1")).get(f"/console/redemptions/{redemption['id']}")
    assert own.status_code == 200 and "待审核" in own.get_data(as_text=True)


def test_a_post_without_the_csrf_token_changes_nothing(app, console, make_staff, item, member, client):
    redemption = redeem(client, member(), item())
    session = console(make_staff(org="C1"))
    refused = session.client.post(f"/console/redemptions/{redemption['id']}/approve")
    assert refused.status_code == 400
    assert status_of(app, redemption["id"]) == "requested"


def test_counters_on_the_today_page(console, make_staff, item, member, client, staff_headers):
    item_id = item(stock=10)
    tokens = member(100)
    waiting = [redeem(client, tokens, item_id) for _ in range(3)]
    client.post(f"/api/v1/redemptions/{waiting[0]['id']}/approve", headers=staff_headers)
    approved = client.post(
        f"/api/v1/redemptions/{waiting[1]['id']}/approve", headers=staff_headers
    ).get_json()
    client.post(
        "/api/v1/redemptions/pickup", json={"pickup_code": approved["pickup_code"]}, headers=staff_headers
    )
    page = console(make_staff(org="C1")).get("/console/").get_data(as_text=True)
    figures = dict(re.findall(r'data-counter="([^"]+)">(\d+)<', page))
    assert (figures["兑换待审核"], figures["待领取"]) == ("1", "1")  # one picked up: no longer waiting
    other = console(make_staff(org="C3")).get("/console/").get_data(as_text=True)
    assert dict(re.findall(r'data-counter="([^"]+)">(\d+)<', other))["兑换待审核"] == "0"


# --- the pickup desk ------------------------------------------------------------------------------------


def test_pickup_accepts_a_code_once(app, console, make_staff, item, member, client, staff_headers):
    redemption = redeem(client, member(), item())
    code = client.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=staff_headers).get_json()[
        "pickup_code"
    ]
    session = console(make_staff(org="C1"))
    htmx = {"HX-Request": "true"}
    first = session.post("/console/pickup", {"code": f" {code.lower()} "}, headers=htmx).get_data(
        as_text=True
    )
    assert 'class="result-big ok"' in first and "大米 5kg × 1" in first and "member" in first
    assert 'id="todays-pickups" hx-swap-oob="true"' in first and "<!doctype" not in first
    assert status_of(app, redemption["id"]) == "picked_up"
    second = session.post("/console/pickup", {"code": code}, headers=htmx).get_data(as_text=True)
    assert 'class="result-big refused"' in second and "PICKUP_CODE_USED" in second and "已于" in second
    wrong = session.post("/console/pickup", {"code": "WRONG123"}).get_data(as_text=True)
    assert "PICKUP_CODE_INVALID" in wrong and "<!doctype html>" in wrong and "autofocus" in wrong


def test_staff_of_another_community_cannot_collect_the_goods(
    console, make_staff, item, member, client, staff_headers
):
    tokens = member()
    redemption = redeem(client, tokens, item())
    code = client.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=staff_headers).get_json()[
        "pickup_code"
    ]
    other = console(make_staff(org="C3")).post("/console/pickup", {"code": code}).get_data(as_text=True)
    assert 'class="result-big refused"' in other and "PICKUP_CODE_INVALID" in other


# --- goods ------------------------------------------------------------------------------------------------


def _png(colour=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
    return buffer.getvalue()


def _item_form(org_tree, **changes):
    form = {
        "community_id": str(org_tree["C1"].id),
        "name": "食用油 1.8L",
        "description": "",
        "sponsor": "爱心粮油店",
        "points_price": "40",
        "stock": "20",
        "per_user_limit": "1",
        "limit_period": "month",
        "on_sale_from": "",
        "on_sale_until": "",
        "requires_approval": "on",
        "active": "on",
    }
    return form | changes


def test_create_an_item_with_a_photo_then_change_its_stock_with_a_reason(app, console, make_staff, org_tree):
    session = console(make_staff(org="C1"))
    assert session.get("/console/store/new").status_code == 200
    created = session.post(
        "/console/store/new",
        _item_form(org_tree, photo=(io.BytesIO(_png()), "oil.png")),
        content_type="multipart/form-data",
    )
    assert created.status_code == 302
    item_id = int(created.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        row = db.session.get_one(StoreItem, item_id)
        assert (row.name, row.points_price, row.stock, row.sponsor, row.per_user_limit) == (
            "食用油 1.8L",
            40,
            20,
            "爱心粮油店",
            1,
        )
        assert row.photo_url and row.photo_url.startswith("/files/")
        photo_url = row.photo_url
    assert session.get(photo_url).status_code == 200
    listed = session.get("/console/store").get_data(as_text=True)
    assert f'id="item-{item_id}"' in listed and photo_url in listed

    edit = {**_item_form(org_tree), "stock_was": "20", "stock": "25", "stock_reason": ""}
    no_reason = session.post(f"/console/store/{item_id}", edit)
    assert no_reason.status_code == 422 and "请填写原因（REASON_REQUIRED）" in no_reason.get_data(
        as_text=True
    )
    saved = session.post(f"/console/store/{item_id}", edit | {"stock_reason": "补货"})
    assert saved.status_code == 302
    # Another field changed while the stock field is left as it was: no reason needed, stock untouched.
    session.post(f"/console/store/{item_id}", edit | {"stock_was": "25", "points_price": "45"})
    page = session.get(f"/console/store/{item_id}").get_data(as_text=True)
    with app.app_context():
        row = db.session.get_one(StoreItem, item_id)
        assert (row.stock, row.points_price) == (25, 45)
        changes = db.session.scalars(select(StockChange).where(StockChange.item_id == item_id)).all()
        assert [(c.stock_from, c.stock_to, c.reason) for c in changes] == [(0, 20, "上架"), (20, 25, "补货")]
    audit = page[page.index('id="stock-changes"') :]
    assert "补货" in audit and "上架" in audit


def test_a_stock_change_goes_no_lower_than_what_is_reserved(
    app, console, make_staff, item, member, client, org_tree
):
    item_id = item(stock=5)
    redeem(client, member(50), item_id, 3)
    session = console(make_staff(org="C1"))
    edit = {**_item_form(org_tree, name="大米 5kg", points_price="10"), "stock_was": "5", "stock": "2"}
    refused = session.post(f"/console/store/{item_id}", edit | {"stock_reason": "盘点"})
    assert "STOCK_BELOW_RESERVED" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get_one(StoreItem, item_id).stock == 5


def test_item_form_errors_are_shown_and_nothing_is_made(app, console, make_staff, org_tree):
    session = console(make_staff(org="C1"))
    response = session.post(
        "/console/store/new", _item_form(org_tree, name="", points_price="0", on_sale_from="2026-13-01T00:00")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请填写名称" in page and "所需积分应为 1–1000000 的整数" in page and "时间格式不正确" in page
    other_community = session.post(
        "/console/store/new", _item_form(org_tree, community_id=str(org_tree["C3"].id))
    )
    assert "没有权限执行此操作（FORBIDDEN）" in other_community.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(StoreItem.id)) is None


def test_another_communitys_item_is_refused(console, make_staff, item, org_tree):
    item_id = item("C3")
    session = console(make_staff(org="C1"))
    assert session.get(f"/console/store/{item_id}").status_code == 403
    assert session.post(f"/console/store/{item_id}", _item_form(org_tree)).status_code == 403
    upload = session.post(
        f"/console/store/{item_id}/photo",
        {"photo": (io.BytesIO(_png()), "x.png")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 403
    assert f"item-{item_id}" not in session.get("/console/store").get_data(as_text=True)


def test_a_photo_that_is_not_an_image_is_refused(app, console, make_staff, item):
    item_id = item()
    session = console(make_staff(org="C1"))
    page = session.post(
        f"/console/store/{item_id}/photo",
        {"photo": (io.BytesIO(b"not an image at all"), "x.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "FILE_TYPE_NOT_ALLOWED" in page
    replaced = session.post(
        f"/console/store/{item_id}/photo",
        {"photo": (io.BytesIO(_png()), "x.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "已更新商品图片" in replaced
    with app.app_context():
        assert (db.session.get_one(StoreItem, item_id).photo_url or "").startswith("/files/")


def test_the_item_form_takes_the_per_member_limit_the_api_takes(
    app, client, console, make_staff, org_tree, staff_headers
):
    body = {"community_id": org_tree["C1"].id, "name": "大米 5kg", "points_price": 10, "per_user_limit": 5000}
    assert client.post("/api/v1/store/items", json=body, headers=staff_headers).status_code == 201
    session = console(make_staff(org="C1"))
    created = session.post("/console/store/new", _item_form(org_tree, per_user_limit="5000"))
    assert created.status_code == 302
    item_id = int(created.headers["Location"].rsplit("/", 1)[1])
    edit = {**_item_form(org_tree), "stock_was": "20", "per_user_limit": "2147483647"}
    assert session.post(f"/console/store/{item_id}", edit).status_code == 302
    with app.app_context():
        assert db.session.get_one(StoreItem, item_id).per_user_limit == 2147483647
    page = session.get(f"/console/store/{item_id}").get_data(as_text=True)
    assert 'name="per_user_limit" value="2147483647" min="1" max="2147483647"' in page


def test_a_bad_value_in_the_item_form_is_named_in_chinese_and_writes_nothing(
    app, console, make_staff, item, org_tree
):
    item_id = item()
    with app.app_context():
        before = db.session.get_one(StoreItem, item_id)
        kept = (before.stock, before.per_user_limit, before.limit_period, before.on_sale_until)
    session = console(make_staff(org="C1"))
    edit = {
        **_item_form(org_tree),
        "stock_was": "5",
        "stock": "6",
        "stock_reason": "盘" * 256,
        "per_user_limit": "0",
        "limit_period": "week",
        "on_sale_from": "2026-12-10T10:00",
        "on_sale_until": "2026-12-01T10:00",
    }
    refused = session.post(f"/console/store/{item_id}", edit)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    messages = dict(re.findall(r'<small class="field-error" id="([a-z_]+)-error">([^<]*)</small>', page))
    assert messages == {
        "stock_reason": "库存变更原因最多 255 字",
        "per_user_limit": "每人限兑应为 1–2147483647 的整数",
        "limit_period": "限兑周期不正确",
        "on_sale_until": "下架时间应晚于上架时间",
    }
    assert 'value="2026-12-10T10:00"' in page  # what was typed comes back
    for internal in ("Must be", "Not a valid", "VALIDATION_ERROR"):
        assert internal not in page
    new = session.post("/console/store/new", _item_form(org_tree, points_price="", stock="十"))
    assert new.status_code == 422
    shown = dict(
        re.findall(
            r'<small class="field-error" id="([a-z_]+)-error">([^<]*)</small>', new.get_data(as_text=True)
        )
    )
    assert shown == {"points_price": "请填写所需积分", "stock": "请输入整数"}
    with app.app_context():
        row = db.session.get_one(StoreItem, item_id)
        assert (row.stock, row.per_user_limit, row.limit_period, row.on_sale_until) == kept
        assert (
            db.session.scalars(select(StockChange).where(StockChange.reason.startswith("盘"))).first() is None
        )
        assert db.session.scalar(select(func.count()).select_from(StoreItem)) == 1
