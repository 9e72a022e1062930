"""The wish queue in a browser: reject with a reason, approve onto the wall, scope, the review filter."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import expect
from sqlalchemy import select

from server.db import db
from server.notifications.models import OutboxMessage
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
