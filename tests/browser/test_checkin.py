"""Check-in pages in a browser: the activity form, the door screen's rotating code, the poster and its
reprint, voiding a flagged check-in, today."""

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from checkin.tokens import issue_token, printed_scene
from tests.checkin.conftest import START
from tests.conftest import bearer, points_of

# The door screen asks the server at least every 4 s; a change must show within a couple of polls.
SCREEN_TIMEOUT_MS = 20_000


@pytest.fixture
def login_user(app, org_tree, login_user):
    """``login_user(name)``: a resident and party member of C1, who may come to its party days."""

    def login(name: str = "resident") -> dict[str, Any]:
        from server.db import db
        from server.users.models import User

        tokens: dict[str, Any] = login_user(name)
        with app.app_context():
            user = db.session.get_one(User, tokens["user"]["id"])
            user.community_id = user.party_community_id = org_tree["C1"].id
            db.session.commit()
        return tokens

    return login


@pytest.fixture
def headers(make_staff, login_staff):
    """The API's Authorization header of a staff member of C1."""
    return bearer(login_staff(make_staff(org="C1")))


@pytest.fixture
def activity_id(client, headers, org_tree):
    """A party day of C1 from START for two hours, check-in open from 30 minutes before, 40 places."""
    body = {
        "community_id": org_tree["C1"].id,
        "title": "主题党日：学习新思想",
        "kind": "party_day",
        "place": "一社区党群服务中心二楼",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "capacity": 40,
        "points_rule": "PARTY_DAY",
    }
    response = client.post("/api/v1/activities", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _check_in(client, login_user, name, scene):
    response = client.post(
        "/api/v1/checkins",
        json={"token": scene, "nonce": f"nonce-{name}-0001"},
        headers=bearer(login_user(name)),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_staff_create_an_activity_through_the_form_and_see_it_listed(
    page, console_login, make_staff, clock, org_tree
):
    console_login(make_staff(org="S1"))
    page.get_by_role("link", name="活动签到", exact=True).click()
    expect(page.get_by_role("heading", name="活动签到")).to_be_visible()
    page.get_by_role("button", name="新建活动").click()
    page.get_by_label("活动名称").fill("志愿服务：清洁家园")
    page.get_by_label("类型").select_option(label="志愿服务")
    page.locator("select[name=community_id]").select_option(label="二社区")
    page.get_by_label("地点").fill("二社区小广场")
    page.locator("input[name=starts_at]").fill("2026-12-05T09:00")
    page.locator("input[name=ends_at]").fill("2026-12-05T11:00")
    page.get_by_role("spinbutton", name="名额").fill("30")
    page.get_by_label("积分规则").select_option("VOLUNTEER_HOUR")
    page.get_by_label("按服务时长计积分").check()
    page.get_by_role("button", name="创建活动").click()
    expect(page.get_by_role("status")).to_contain_text("已创建活动「志愿服务：清洁家园」")
    expect(page.get_by_role("heading", name="志愿服务：清洁家园")).to_be_visible()
    expect(page.get_by_text("12月5日（周六）09:00–11:00").first).to_be_visible()
    page.get_by_role("banner").get_by_role("link", name="活动签到", exact=True).click()
    row = page.locator("tr", has_text="志愿服务：清洁家园")
    expect(row).to_contain_text("二社区")
    expect(row).to_contain_text("0 / 30")


def test_the_door_screen_turns_its_code_and_counts_a_member_who_scans_it(
    page, console_login, make_staff, clock, activity_id, client, login_user
):
    console_login(make_staff(org="C1"))
    page.goto(f"/console/activities/{activity_id}/screen")
    expect(page.get_by_role("heading", name="主题党日：学习新思想")).to_be_visible()
    expect(page.locator("header.topbar")).to_have_count(0)  # no menu on a projector
    code = page.locator("#code")
    first_scene = code.get_attribute("data-scene")
    first_image = code.get_attribute("src")
    assert first_scene and first_image and first_image.startswith("data:image/svg+xml")
    expect(page.locator("#count")).to_have_text("0")
    expect(page.locator("#state")).to_have_text("签到进行中，12:00 截止")

    clock.now = START + timedelta(seconds=31)  # the next 30-second window
    expect(code).not_to_have_attribute("data-scene", first_scene, timeout=SCREEN_TIMEOUT_MS)
    second_scene = code.get_attribute("data-scene")
    assert second_scene and code.get_attribute("src") != first_image

    _check_in(client, login_user, "alice", second_scene)  # what a phone scanning the screen now sends
    expect(page.locator("#count")).to_have_text("1", timeout=SCREEN_TIMEOUT_MS)
    expect(code).not_to_have_class(re.compile("stale"))


def test_staff_of_another_community_cannot_open_the_activity_by_url(
    page, console_login, make_staff, activity_id
):
    console_login(make_staff(org="C3"))
    for path in ("screen", "poster", "edit", ""):
        response = page.goto(f"/console/activities/{activity_id}/{path}".rstrip("/"))
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="403")).to_be_visible()
        expect(page.get_by_text("主题党日：学习新思想")).to_have_count(0)


def test_the_poster_shows_the_printed_code_and_the_title_on_a4(
    page, console_login, make_staff, activity_id, client, headers
):
    allowed = {"printed_code_allowed": True}
    assert client.patch(f"/api/v1/activities/{activity_id}", json=allowed, headers=headers).status_code == 200
    console_login(make_staff(org="C1"))
    page.goto(f"/console/activities/{activity_id}/poster")
    poster = page.locator("#poster")
    expect(poster.get_by_role("heading", name="主题党日：学习新思想")).to_be_visible()
    expect(poster).to_contain_text("12月1日（周二）10:00–12:00")
    expect(poster).to_contain_text("一社区党群服务中心二楼")
    image = poster.get_by_role("img", name="签到小程序码")
    expect(image).to_have_attribute("data-source", "wxacode")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="打印海报（A4）")).to_be_hidden()
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(image).to_be_visible()


def test_the_today_panel_counts_check_ins_as_they_happen(
    page, console_login, make_staff, clock, activity_id, client, login_user
):
    console_login(make_staff(org="C1"))
    panel = page.locator("section.panel", has_text="今日活动签到")
    row = panel.locator(f"#today-activity-{activity_id}")
    expect(row).to_contain_text("主题党日：学习新思想")
    expect(row.locator(f"[data-today-count='{activity_id}']")).to_have_text("0")
    with client.application.app_context():
        token = issue_token("activity", activity_id, now=clock.now.timestamp()).token
    _check_in(client, login_user, "bob", token)
    expect(row.locator(f"[data-today-count='{activity_id}']")).to_have_text("1", timeout=SCREEN_TIMEOUT_MS)


def test_the_activity_list_filters_by_community_and_its_tabs_keep_the_filter(
    page, console_login, make_staff, clock, activity_id
):
    console_login(make_staff(org="S1"))  # C1 and C2
    page.goto("/console/activities")
    expect(page.locator("tr", has_text="主题党日：学习新思想")).to_have_count(1)
    page.get_by_label("社区").select_option(label="二社区")
    expect(page).to_have_url(re.compile(r"community=\d+"))
    expect(page.get_by_text("没有即将开始的活动")).to_be_visible()
    page.get_by_role("link", name="已结束").click()
    expect(page).to_have_url(re.compile(r"when=past&community=\d+"))
    page.get_by_label("社区").select_option(label="一社区")
    expect(page).to_have_url(re.compile(r"when=past&community=\d+"))  # the tab is kept as well


@pytest.fixture
def printed_activity(client, headers, org_tree):
    """A meeting of C1 under way that accepts its poster's code, with no fence (1 point at check-in)."""
    body = {
        "community_id": org_tree["C1"].id,
        "title": "居民议事会",
        "kind": "meeting",
        "place": "一社区会议室",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "points_rule": "ACTIVITY_CHECKIN",
        "printed_code_allowed": True,
    }
    response = client.post("/api/v1/activities", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_staff_void_a_flagged_check_in_from_the_activity_page(
    page, console_login, make_staff, clock, printed_activity, client, member
):
    frank = member(points=10, name="frank", nickname="居民frank")
    with client.application.app_context():
        scene = printed_scene("activity", printed_activity, 1)
    checked = client.post(
        "/api/v1/checkins", json={"token": scene, "nonce": "poster-frank-01"}, headers=bearer(frank)
    )
    assert checked.status_code == 201, checked.get_json()
    checkin_id = checked.get_json()["id"]
    assert points_of(client, frank)["available"] == 11

    console_login(make_staff(org="C1", username="zhao_c1"))
    page.goto(f"/console/activities/{printed_activity}")
    page.get_by_role("link", name="需复核（1）").click()
    expect(page).to_have_url(re.compile(r"review=1"))
    row = page.locator(f"#checkin-{checkin_id}")
    expect(row).to_contain_text("居民frank")
    expect(row).to_contain_text("纸质码且未开签到范围")
    expect(row).to_contain_text("纸质签到码")
    confirm = row.get_by_role("button", name="确认作废")
    expect(confirm).to_be_hidden()  # the first click only opens the confirmation
    row.get_by_text("作废", exact=True).click()
    expect(row).to_contain_text("所得 1 积分从该居民账户撤回")
    row.get_by_label("作废原因").fill("本人未到场，代签")
    confirm.click()

    expect(page.get_by_role("status")).to_contain_text(f"已作废签到 #{checkin_id}")
    expect(page).to_have_url(re.compile(r"review=1"))  # back where the staff member was
    row = page.locator(f"#checkin-{checkin_id}")
    expect(row).to_have_attribute("data-status", "voided")
    expect(row).to_contain_text("已作废")
    expect(row).to_contain_text("原因：本人未到场，代签")
    expect(row).to_contain_text("zhao_c1")
    expect(row.get_by_role("button", name="确认作废")).to_have_count(0)
    expect(page.get_by_role("link", name="需复核（0）")).to_be_visible()
    assert points_of(client, frank)["available"] == 10


def test_the_reprint_button_retires_the_poster_and_shows_the_new_one(
    page, console_login, make_staff, clock, printed_activity, client, member
):
    console_login(make_staff(org="C1"))
    page.goto(f"/console/activities/{printed_activity}")
    poster_url = f"/console/activities/{printed_activity}/poster"
    expect(page.get_by_role("button", name="打印海报")).to_have_attribute("href", poster_url)  # a new tab
    page.goto(poster_url)
    expect(page.locator("#poster-version")).to_have_text("第1版")
    image = page.get_by_role("img", name="签到小程序码")
    first = image.get_attribute("src")
    expect(page.get_by_text("旧海报将立即失效")).to_be_hidden()
    page.get_by_text("重新打印", exact=True).click()
    expect(page.get_by_text("旧海报将立即失效")).to_be_visible()
    page.get_by_role("button", name="确认重新打印").click()

    expect(page.get_by_role("status")).to_contain_text("已重新打印签到码")
    expect(page.locator("#poster-version")).to_have_text("第2版")
    expect(page.locator("#poster")).to_contain_text("第2版")
    assert image.get_attribute("src") != first

    grace = member(points=0, name="grace")
    with client.application.app_context():
        old, new = (printed_scene("activity", printed_activity, v) for v in (1, 2))
    refused = client.post(
        "/api/v1/checkins", json={"token": old, "nonce": "old-grace-01"}, headers=bearer(grace)
    )
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (400, "TOKEN_INVALID")
    accepted = client.post(
        "/api/v1/checkins", json={"token": new, "nonce": "new-grace-01"}, headers=bearer(grace)
    )
    assert accepted.status_code == 201, accepted.get_json()
