"""The wish queue in a browser: reject with a reason, approve onto the wall, scope, the review filter; a
disputed wish released back to the wall; 待确认积分 approved in bulk."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import expect
from sqlalchemy import select

from server.db import db
from server.notifications.models import OutboxMessage
from server.users.models import User
from tests.conftest import Org, bearer
from wishes.models import Wish


@dataclass(frozen=True)
class Resident:
    """A resident logged in through the fake WeChat."""

    id: int
    headers: dict[str, str]


@pytest.fixture
def resident(
    client: FlaskClient, login_user: Callable[..., dict[str, Any]], org_tree: dict[str, Org]
) -> Callable[..., Resident]:
    """``resident("chen", community="C1")``: logged in, living in that community."""

    def make(name: str, community: str = "C1", nickname: str | None = None) -> Resident:
        tokens = login_user(name)
        headers = bearer(tokens)
        changes = {"community_id": org_tree[community].id, "nickname": nickname or f"{name}昵称"}
        assert client.patch("/api/v1/me", json=changes, headers=headers).status_code == 200
        return Resident(tokens["user"]["id"], headers)

    return make


@pytest.fixture
def post_wish(client: FlaskClient) -> Callable[..., int]:
    """A wish posted through the API by ``who``; returns its id."""

    def post(
        who: Resident, title: str = "想请人修水龙头", content: str = "厨房水龙头一直滴水，想请人看看。"
    ) -> int:
        body = {"title": title, "content": content, "category": "生活帮扶", "contact_phone": "13800138001"}
        response = client.post("/api/v1/wishes", json=body, headers=who.headers)
        assert response.status_code == 201, response.get_json()
        wish_id: int = response.get_json()["id"]
        return wish_id

    return post


def _status(app: Flask, wish_id: int) -> tuple[str, str | None]:
    with app.app_context():
        wish = db.session.get(Wish, wish_id)
        assert wish is not None
        return wish.status, wish.reject_reason


def _events(app: Flask) -> list[tuple[str, int]]:
    with app.app_context():
        return [
            (o.event, o.user_id) for o in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


def test_staff_reject_a_wish_with_a_reason_the_resident_reads(
    app, client, console_login, make_staff, resident, post_wish
):
    chen = resident("chen", nickname="陈奶奶")
    wish_id = post_wish(chen, title="帮忙代购日用品")
    page = console_login(make_staff(org="C1"))
    expect(page.locator("[data-counter='心愿待审核']")).to_have_text("1")
    page.get_by_role("link", name="微心愿").click()
    row = page.locator(f"#wish-{wish_id}")
    expect(row).to_contain_text("帮忙代购日用品")
    expect(row).to_contain_text("陈**")
    expect(row).not_to_contain_text("13800138001")  # the contact is on the detail page only

    row.get_by_role("button", name="驳回").click()  # no reason: the browser's `required` stops it
    assert _status(app, wish_id) == ("pending_review", None)

    row.get_by_placeholder("驳回原因（必填）").fill("请通过社区代购服务办理")
    row.get_by_role("button", name="驳回").click()
    expect(page.locator(".flash.ok")).to_have_text(f"心愿 #{wish_id} 已驳回")
    expect(page.locator(f"#wish-{wish_id}")).to_have_count(0)  # no longer pending

    body = client.get(f"/api/v1/wishes/{wish_id}", headers=chen.headers).get_json()
    assert (body["status"], body["reject_reason"]) == ("rejected", "请通过社区代购服务办理")
    assert _events(app) == [("wish.rejected", chen.id)]


def test_approving_from_the_detail_page_puts_the_wish_on_the_wall(
    app, client, console_login, make_staff, resident, post_wish
):
    chen, wang = resident("chen", nickname="陈奶奶"), resident("wang")
    wish_id = post_wish(chen, title="想学用智能手机挂号")
    page = console_login(make_staff(org="C1"))
    page.goto("/console/wishes")
    page.get_by_role("link", name="想学用智能手机挂号").click()
    expect(page).to_have_url(re.compile(rf"/console/wishes/{wish_id}$"))
    expect(page.locator("#wish-contact")).to_contain_text("陈奶奶")  # staff see the contact
    expect(page.locator("#wish-contact")).to_contain_text("13800138001")
    page.get_by_role("button", name="通过").click()
    expect(page.locator(".flash.ok")).to_contain_text("已通过审核")
    expect(page.locator("#wish-status")).to_have_text("认领中（待认领）")

    wall = client.get("/api/v1/wishes", headers=wang.headers).get_json()
    assert [w["id"] for w in wall["items"]] == [wish_id]
    assert wall["items"][0]["contact"] is None


def test_staff_of_another_community_cannot_open_or_approve_a_wish(
    app, console_login, make_staff, resident, post_wish
):
    wish_id = post_wish(resident("chen", community="C1"))
    page = console_login(make_staff(org="C3"))
    response = page.goto(f"/console/wishes/{wish_id}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading")).to_contain_text("心愿不存在")

    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    posted = page.request.post(f"/console/wishes/{wish_id}/approve", form={"csrf_token": token or ""})
    assert posted.ok  # the refusal is flashed on the page it returns to
    assert "没有权限执行此操作（FORBIDDEN）" in posted.text()
    assert _status(app, wish_id) == ("pending_review", None)
    assert _events(app) == []


def test_the_needs_review_filter_shows_only_marked_wishes(
    app, console_login, make_staff, resident, post_wish
):
    chen = resident("chen")
    plain = post_wish(chen, title="普通的心愿")
    marked = post_wish(chen, title="被标记的心愿", content="这段内容待审，请工作人员看看。")
    page = console_login(make_staff(org="C1"))
    page.goto("/console/wishes")
    expect(page.locator("#wishes tbody tr")).to_have_count(2)
    expect(page.locator(f"#wish-{marked} mark.badge")).to_have_text("需人工审核")
    expect(page.locator(f"#wish-{plain} mark.badge")).to_have_count(0)

    page.get_by_label("只看需人工审核").check()
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"needs_review=1"))
    expect(page.locator("#wishes tbody tr")).to_have_count(1)
    expect(page.locator(f"#wish-{marked}")).to_be_visible()


# --- disputes and 待确认积分 (F4) --------------------------------------------------------------------------


@pytest.fixture
def fulfilled(
    app: Flask,
    client: FlaskClient,
    make_staff: Callable[..., Any],
    login_staff: Callable[..., Any],
    clock: Any,
) -> Callable[..., int]:
    """``fulfilled(resident, member, title)``: a wish of ``resident`` approved, claimed by ``member`` (made a
    party member of C1 here) and marked fulfilled 20 minutes later with a note; returns its id."""
    staff = bearer(login_staff(make_staff(org="C1")))

    def make(resident: Resident, member: Resident, title: str) -> int:
        with app.app_context():
            user = db.session.get(User, member.id)
            assert user is not None
            user.party_community_id = user.community_id
            db.session.commit()
        body = {"title": title, "content": "厨房水龙头一直滴水，想请人看看。", "category": "生活帮扶"}
        wish_id: int = client.post("/api/v1/wishes", json=body, headers=resident.headers).get_json()["id"]
        assert client.post(f"/api/v1/wishes/{wish_id}/approve", headers=staff).status_code == 200
        assert client.post(f"/api/v1/wishes/{wish_id}/claim", headers=member.headers).status_code == 200
        clock.now += timedelta(minutes=20)
        note = {"note": "已经上门把水龙头修好了"}
        done = client.post(f"/api/v1/wishes/{wish_id}/fulfil", json=note, headers=member.headers)
        assert done.status_code == 200, done.get_json()
        return wish_id

    return make


def _available(client: FlaskClient, who: Resident) -> int:
    available: int = client.get("/api/v1/me/points", headers=who.headers).get_json()["available"]
    return available


def test_staff_approve_the_ticked_points_awaiting_confirmation_in_bulk(
    app, client, console_login, make_staff, resident, fulfilled
):
    chen, wang = resident("chen", nickname="陈奶奶"), resident("wang", nickname="王大爷")
    li, zhao = resident("li", nickname="李师傅"), resident("zhao", nickname="赵老师")
    low = fulfilled(chen, li, "评价一星的心愿")
    client.post(f"/api/v1/wishes/{low}/confirm", json={"rating": 1}, headers=chen.headers)
    other = fulfilled(wang, zhao, "评价两星的心愿")
    client.post(f"/api/v1/wishes/{other}/confirm", json={"rating": 2}, headers=wang.headers)
    assert (_available(client, li), _available(client, zhao)) == (0, 0)  # nothing paid by itself

    page = console_login(make_staff(org="C1"))
    expect(page.locator("[data-counter='待确认积分']")).to_have_text("2")
    page.get_by_role("navigation").get_by_role("link", name="待确认积分").click()
    expect(page.locator("#awards tbody tr")).to_have_count(2)
    expect(page.locator("#awards")).to_contain_text("评价一星的心愿")
    expect(page.locator("#awards")).to_contain_text("居民评价较低")
    page.get_by_role("button", name="批量发放所选积分").click()  # nothing ticked
    expect(page.locator(".flash.error")).to_have_text("请先勾选要发放的积分")

    page.get_by_label("全选").check()
    page.get_by_role("button", name="批量发放所选积分").click()
    expect(page.locator(".flash.ok")).to_have_count(2)
    expect(page.locator("#awards tbody")).to_contain_text("没有记录")  # the queue is empty
    assert (_available(client, li), _available(client, zhao)) == (5, 5)
    page.get_by_role("link", name="已发放").click()
    expect(page.locator("#awards tbody tr[data-status='paid']")).to_have_count(2)


def test_staff_release_a_disputed_wish_back_to_the_wall_and_nobody_is_paid(
    app, client, console_login, make_staff, resident, fulfilled
):
    chen, li, wang = resident("chen", nickname="陈奶奶"), resident("li", nickname="李师傅"), resident("wang")
    wish_id = fulfilled(chen, li, "阳台晾衣架坏了")
    disputed = client.post(
        f"/api/v1/wishes/{wish_id}/dispute",
        json={"reason": "没有人上门，晾衣架还是坏的"},
        headers=chen.headers,
    )
    assert disputed.get_json()["status"] == "disputed"

    page = console_login(make_staff(org="C1"))
    expect(page.locator("[data-counter='心愿申诉待处理']")).to_have_text("1")
    page.locator("a.counter", has_text="心愿申诉待处理").click()
    expect(page).to_have_url(re.compile(r"/console/wishes\?status=disputed$"))
    page.get_by_role("link", name="阳台晾衣架坏了").click()
    expect(page.locator("#wish-status")).to_have_text("居民申诉待处理")
    expect(page.locator("#wish-dispute")).to_contain_text("没有人上门，晾衣架还是坏的")

    page.get_by_role("button", name="收回并重新开放").click()  # no reason: the browser's `required` stops it
    assert _status(app, wish_id) == ("disputed", None)
    page.get_by_placeholder("收回原因（必填）").fill("核实未上门，重新开放认领")
    page.get_by_role("button", name="收回并重新开放").click()
    expect(page.locator(".flash.ok")).to_have_text(f"心愿 #{wish_id} 的认领已收回")
    page.goto(f"/console/wishes/{wish_id}")
    expect(page.locator("#wish-status")).to_have_text("认领中（待认领）")
    expect(page.locator("#claims")).to_contain_text("工作人员收回")
    expect(page.locator("#claims")).to_contain_text("核实未上门，重新开放认领")

    assert _available(client, li) == 0
    wall = client.get("/api/v1/wishes", headers=wang.headers).get_json()
    assert [w["id"] for w in wall["items"]] == [wish_id]
    events = [e for e in _events(app) if e[0] in ("wish.released", "wish.reopened")]
    assert events == [("wish.released", li.id), ("wish.reopened", chen.id)]
