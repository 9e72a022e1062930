"""The supermarket's console pages in a browser: the redemption queue, the pickup desk, the goods."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from server.db import db
from store.models import StoreItem
from tests.conftest import bearer, points_of
from tests.store.flows import redeem, status_of


@pytest.fixture
def api_staff(make_staff, login_staff):
    """API headers of a staff member of C1 (to arrange data the way the app is used)."""
    return bearer(login_staff(make_staff(org="C1")))


def test_approving_in_the_queue_captures_the_members_held_points(
    page, console_login, make_staff, item, member, client
):
    tokens = member(30, nickname="王阿姨")
    redemption = redeem(client, tokens, item(), 2)
    assert points_of(client, tokens)["held"] == 20
    console_login(make_staff(org="C1"))
    expect(page.locator("[data-counter='兑换待审核']")).to_have_text("1")
    page.get_by_role("link", name="兑换审核").click()
    row = page.locator(f"#redemption-{redemption['id']}")
    expect(row).to_contain_text("王阿姨")
    expect(row.locator(".member-available")).to_have_text("10")
    row.get_by_role("button", name="通过").click()
    expect(page.get_by_role("status").filter(has_text=f"已通过兑换申请 #{redemption['id']}")).to_be_visible()
    expect(page.locator(f"#redemption-{redemption['id']}")).to_have_count(0)
    expect(page.get_by_text("没有记录")).to_be_visible()
    assert points_of(client, tokens) == {"available": 10, "held": 0, "earned_total": 30, "spent_total": 20}


def test_reject_needs_a_reason_and_gives_the_points_back(
    app, page, console_login, make_staff, item, member, client
):
    tokens = member(30, nickname="王阿姨")
    redemption = redeem(client, tokens, item())
    console_login(make_staff(org="C1"))
    page.goto("/console/redemptions")
    row = page.locator(f"#redemption-{redemption['id']}")
    row.get_by_role("button", name="驳回").click()  # the browser refuses an empty reason
    assert status_of(app, redemption["id"]) == "requested"
    row.get_by_placeholder("驳回原因").fill("本周大米缺货")
    row.get_by_role("button", name="驳回").click()
    expect(page.get_by_role("status").filter(has_text="已驳回")).to_be_visible()
    page.get_by_role("link", name="已驳回").click()
    expect(page.locator(f"#redemption-{redemption['id']}")).to_contain_text("本周大米缺货")
    assert points_of(client, tokens)["available"] == 30 and points_of(client, tokens)["held"] == 0


def test_bulk_approve_the_ticked_requests(app, page, console_login, make_staff, item, member, client):
    item_id = item(stock=10)
    ids = [redeem(client, member(30, f"m{i}", nickname=f"居民{i}"), item_id)["id"] for i in range(3)]
    console_login(make_staff(org="C1"))
    page.goto("/console/redemptions")
    page.get_by_label(f"选择 #{ids[0]}").check()
    page.get_by_label(f"选择 #{ids[2]}").check()
    page.get_by_role("button", name="批量通过所选").click()
    expect(page.get_by_role("status").filter(has_text=f"#{ids[0]} 已通过")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text=f"#{ids[2]} 已通过")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)
    assert [status_of(app, i) for i in ids] == ["approved", "requested", "approved"]


def test_the_pickup_page_accepts_a_code_once_and_refuses_it_the_second_time(
    page, console_login, make_staff, item, member, client, api_staff
):
    redemption = redeem(client, member(30, nickname="王阿姨"), item())
    approved = client.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=api_staff).get_json()
    code = approved["pickup_code"]
    console_login(make_staff(org="C1"))
    page.get_by_role("link", name="兑换核销").click()
    scanner = page.get_by_label("核销码")
    expect(scanner).to_be_focused()
    page.keyboard.type(code.lower())  # a USB scanner is a keyboard: the code, then Enter
    page.keyboard.press("Enter")
    ok = page.locator(".result-big.ok")
    expect(ok).to_contain_text("核销成功")
    expect(ok).to_contain_text("大米 5kg × 1")
    expect(ok).to_contain_text("王阿姨")
    expect(scanner).to_have_value("")
    expect(scanner).to_be_focused()
    expect(page.locator("#todays-pickups tbody")).to_contain_text("大米 5kg")

    page.keyboard.type(code)
    page.keyboard.press("Enter")
    refused = page.locator(".result-big.refused")
    expect(refused).to_contain_text("该核销码已使用")
    expect(refused).to_contain_text("PICKUP_CODE_USED")
    expect(page.locator(".result-big.ok")).to_have_count(0)
    expect(scanner).to_be_focused()

    page.keyboard.type("WRONG234")
    page.keyboard.press("Enter")
    expect(page.locator(".result-big.refused")).to_contain_text("PICKUP_CODE_INVALID")


def test_staff_of_another_community_cannot_open_or_approve_a_redemption_by_url(
    app, page, console_login, make_staff, item, member, client, live_url
):
    tokens = member(30, nickname="王阿姨")
    redemption = redeem(client, tokens, item())
    console_login(make_staff(org="C2"))
    response = page.goto(f"/console/redemptions/{redemption['id']}")
    assert response.status == 403
    expect(page.get_by_role("heading", name=re.compile("403"))).to_be_visible()
    expect(page.get_by_role("button", name="通过")).to_have_count(0)
    page.goto("/console/redemptions")
    expect(page.locator(f"#redemption-{redemption['id']}")).to_have_count(0)

    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    posted = page.request.post(
        f"{live_url}/console/redemptions/{redemption['id']}/approve", form={"csrf_token": token}
    )
    assert "没有权限执行此操作" in posted.text()  # the refusal, flashed
    assert status_of(app, redemption["id"]) == "requested"
    assert points_of(client, tokens)["held"] == 10


def _png(colour):
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_goods_a_new_item_with_a_photo_and_an_audited_stock_change(page, console_login, make_staff):
    console_login(make_staff(org="C1"))
    page.get_by_role("link", name="积分超市").click()
    page.get_by_role("button", name="上架新商品").click()
    page.get_by_label("名称").fill("食用油 1.8L")
    page.get_by_label("所需积分").fill("40")
    page.get_by_label("库存", exact=True).fill("20")
    page.get_by_label("赞助方").fill("爱心粮油店")
    page.get_by_label("商品图片").set_input_files(
        files=[{"name": "oil.png", "mimeType": "image/png", "buffer": _png((230, 180, 40))}]
    )
    page.get_by_role("button", name="上架", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("食用油 1.8L"))).to_be_visible()
    item_id = int(page.url.rsplit("/", 1)[1])
    photo = page.locator("img.item-photo")
    expect(photo).to_be_visible()
    assert page.evaluate("document.querySelector('img.item-photo').naturalWidth") == 320
    expect(page.locator(".available")).to_have_text("20")

    page.get_by_label("库存", exact=True).fill("26")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status").filter(has_text="REASON_REQUIRED")).to_be_visible()
    page.get_by_label("库存变更原因").fill("爱心粮油店补货")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status").filter(has_text="已保存")).to_be_visible()
    expect(page.locator("strong.stock")).to_have_text("26")
    audit = page.locator("#stock-changes tbody tr")
    expect(audit).to_have_count(2)
    expect(audit.first).to_contain_text("20")
    expect(audit.first).to_contain_text("26")
    expect(audit.first).to_contain_text("爱心粮油店补货")

    page.get_by_role("link", name="← 积分超市").click()
    row = page.locator(f"#item-{item_id}")
    expect(row).to_contain_text("食用油 1.8L")
    expect(row.locator(".available")).to_have_text("26")
    expect(row.locator("img.thumb")).to_be_visible()


def _today_counters(client):
    html = client.get("/console/").get_data(as_text=True)
    found = re.findall(
        r'<a class="counter( waiting)?" href="[^"]+">\s*'
        r'<span class="figure" data-counter="([^"]+)">(\d+)</span>',
        html,
    )
    return {label: (int(count), bool(waiting)) for waiting, label, count in found}


def test_today_counts_goods_waiting_for_pickup_and_todays_pickups_apart(
    client, client_login, make_staff, item, member, api_staff
):
    item_id = item(stock=10)
    first = redeem(client, member(30, "m1", nickname="居民1"), item_id)
    second = redeem(client, member(30, "m2", nickname="居民2"), item_id)
    code = client.post(f"/api/v1/redemptions/{first['id']}/approve", headers=api_staff).get_json()[
        "pickup_code"
    ]
    client.post(f"/api/v1/redemptions/{second['id']}/approve", headers=api_staff)
    token = client_login(make_staff(org="C1"))
    assert _today_counters(client)["待领取"] == (2, True)
    assert _today_counters(client)["今日已核销"] == (0, False)
    client.post("/console/pickup", data={"code": code, "csrf_token": token})
    counters = _today_counters(client)
    assert counters["待领取"] == (1, True)  # still waiting: marked
    assert counters["今日已核销"] == (1, False)  # done today: a tally, not marked as waiting


def _pickup_result(response):
    html = response.get_data(as_text=True)
    found = re.search(r'<div class="result-big.*?</div>\s*</div>', html, re.S)
    assert found is not None, html
    return found[0]


def test_another_communitys_pickup_code_is_answered_as_an_unknown_one(
    app, client, client_login, make_staff, item, member, api_staff
):
    redemption = redeem(client, member(30, nickname="王阿姨"), item())
    code = client.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=api_staff).get_json()[
        "pickup_code"
    ]
    unknown = "WRONG234" if code != "WRONG234" else "WRONG345"
    token = client_login(make_staff(org="C2"))
    theirs = _pickup_result(client.post("/console/pickup", data={"code": code, "csrf_token": token}))
    nobodys = _pickup_result(client.post("/console/pickup", data={"code": unknown, "csrf_token": token}))
    assert "PICKUP_CODE_INVALID" in theirs
    assert "没有权限" not in theirs and "FORBIDDEN" not in theirs
    assert theirs.replace(code, "CODE") == nobodys.replace(unknown, "CODE")
    assert status_of(app, redemption["id"]) == "approved"


NEW_ITEM = {"name": "香皂", "points_price": "5", "stock": "3", "per_user_limit": "1", "limit_period": "month"}


@pytest.mark.parametrize("field", ["on_sale_from", "on_sale_until"])
@pytest.mark.parametrize("moment", ["0001-01-01T00:00", "9999-12-31T23:59", "1999-12-31T23:59"])
def test_a_new_item_on_sale_outside_2000_to_2099_is_refused_with_the_message(
    app, client, client_login, make_staff, org_tree, field, moment
):
    token = client_login(make_staff(org="C1"))
    form = NEW_ITEM | {"community_id": str(org_tree["C1"].id), field: moment, "csrf_token": token}
    response = client.post("/console/store/new", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error">时间应在 2000 年至 2099 年之间' in html
    assert f'value="{moment}"' in html  # what was typed, shown again
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(StoreItem)) == 0


def test_an_item_edited_to_a_year_one_sale_start_is_refused_and_kept(
    app, client, client_login, make_staff, item
):
    item_id = item()
    token = client_login(make_staff(org="C1"))
    form = NEW_ITEM | {
        "stock_was": "3",
        "on_sale_from": "0001-01-01T00:00",
        "active": "on",
        "csrf_token": token,
    }
    response = client.post(f"/console/store/{item_id}", data=form)
    assert response.status_code == 422
    assert 'id="on_sale_from-error">时间应在 2000 年至 2099 年之间' in response.get_data(as_text=True)
    with app.app_context():
        kept = db.session.get_one(StoreItem, item_id)
        assert kept.name == "大米 5kg" and kept.on_sale_from is None


def test_the_goods_form_takes_a_per_member_limit_as_large_as_the_api_takes(
    app, page, console_login, make_staff
):
    console_login(make_staff(org="C1"))
    page.goto("/console/store/new")
    page.get_by_label("名称").fill("香皂")
    page.get_by_label("所需积分").fill("5")
    page.get_by_label("库存", exact=True).fill("3")
    page.get_by_label("每人限兑").fill("5000")
    page.get_by_role("button", name="上架", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("香皂"))).to_be_visible()
    item_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_label("每人限兑")).to_have_value("5000")
    with app.app_context():
        assert db.session.get_one(StoreItem, item_id).per_user_limit == 5000
