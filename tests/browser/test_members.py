"""Members' points in a browser: search by name or phone, the member page, the adjustment form."""

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from points.models import LedgerTransaction
from server.db import db
from server.users.models import User
from tests.conftest import bearer


def _rows(page):
    return page.locator("tbody tr[id^=member-]")


def test_search_finds_members_by_last_four_digits_with_a_name_by_whole_number_and_by_name(
    page, console_login, make_staff, member
):
    member(name="m1", nickname="王阿姨", phone="13810001234")
    member(name="m2", nickname="李大爷", phone="13900005678")
    member(
        name="m3", nickname="王小二", phone="13700001234", community="C3"
    )  # another street: never found by C1's staff
    console_login(make_staff(org="C1"))
    page.get_by_role("link", name="居民积分").click()
    expect(_rows(page)).to_have_count(2)

    search = page.get_by_role("searchbox", name="搜索居民")
    search.fill("1234")  # the last four digits alone match no phone (F6: no phone oracle)
    search.press("Enter")
    expect(_rows(page)).to_have_count(0)
    page.get_by_role("searchbox", name="搜索居民").fill("王 1234")
    page.get_by_role("button", name="搜索").click()
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first).to_contain_text("王阿姨")
    expect(_rows(page).first).to_contain_text("138****1234")

    page.get_by_role("searchbox", name="搜索居民").fill("13900005678")
    page.get_by_role("button", name="搜索").click()
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first).to_contain_text("李大爷")

    page.get_by_role("searchbox", name="搜索居民").fill("王")
    page.get_by_role("button", name="搜索").click()
    expect(_rows(page)).to_have_count(1)
    expect(_rows(page).first).to_contain_text("王阿姨")
    expect(_rows(page).first).to_contain_text("30")


def test_the_adjustment_form_moves_points_once_even_if_submitted_twice(
    app, page, console_login, make_staff, member, client
):
    tokens = member(30, "m1", nickname="王阿姨", phone="13810001234")
    console_login(make_staff(org="C1"))
    page.goto("/console/members?q=王 1234")
    page.get_by_role("link", name="王阿姨").click()
    expect(page.locator("#available")).to_have_text("30")
    expect(page.locator("#history")).to_contain_text("开户")

    page.get_by_label("调整积分").fill("5")
    page.get_by_label("原因").fill("补录重阳节志愿服务")
    # The same form sent twice: once behind the page's back (as a double click or a resend would),
    # then by the button. Both carry the key rendered into this form.
    page.evaluate(
        """async () => {
            const form = document.getElementById('adjust-form');
            await fetch(form.action, {method: 'POST', body: new URLSearchParams(new FormData(form))});
        }"""
    )
    page.get_by_role("button", name="确认调整").click()
    expect(page.get_by_role("status").filter(has_text="这次调整已经记过账，没有重复调整")).to_be_visible()
    expect(page.locator("#available")).to_have_text("35")
    expect(page.locator("#history tbody tr").filter(has_text="补录重阳节志愿服务")).to_have_count(1)
    assert client.get("/api/v1/me/points", headers=bearer(tokens)).get_json()["available"] == 35
    with app.app_context():
        adjustments = db.session.scalar(
            select(func.count()).where(
                LedgerTransaction.user_id == tokens["user"]["id"], LedgerTransaction.kind == "adjust"
            )
        )
        assert adjustments == 2  # 开户 and the one adjustment

    # A fresh render is a fresh adjustment: a deduction, refused below zero.
    page.get_by_label("调整积分").fill("-50")
    page.get_by_label("原因").fill("误发")
    page.get_by_role("button", name="确认调整").click()
    expect(page.get_by_role("status").filter(has_text="INSUFFICIENT_POINTS")).to_be_visible()
    page.get_by_label("调整积分").fill("-5")
    page.get_by_label("原因").fill("误发")
    page.get_by_role("button", name="确认调整").click()
    expect(page.get_by_role("status").filter(has_text="已调整 -5 积分")).to_be_visible()
    expect(page.locator("#available")).to_have_text("30")


def test_a_member_of_another_community_cannot_be_opened(page, console_login, make_staff, member):
    tokens = member(name="m3", nickname="王小二", phone="13700001234", community="C3")
    console_login(make_staff(org="C1"))
    response = page.goto(f"/console/members/{tokens['user']['id']}")
    assert response.status == 403
    expect(page.get_by_label("调整积分")).to_have_count(0)


def test_more_members_than_a_page_are_paged_with_links_that_keep_the_search(
    app, client, client_login, make_staff, org_tree
):
    with app.app_context():
        for i in range(31):
            db.session.add(User(openid=f"o-page-{i}", nickname=f"张{i:02d}", community_id=org_tree["C1"].id))
        db.session.commit()
    client_login(make_staff(org="C1"))
    first = client.get("/console/members?q=张").get_data(as_text=True)
    assert first.count('id="member-') == 30
    assert "第 1 / 2 页，共 31 条" in first
    next_link = re.search(r'<a href="([^"]+)">下一页</a>', first)
    assert next_link is not None
    second = client.get(next_link[1].replace("&amp;", "&")).get_data(as_text=True)
    assert second.count('id="member-') == 1
    assert "上一页" in second
