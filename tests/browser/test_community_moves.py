"""The community-move queue (社区迁移审核): approve, reject with a reason, bulk approve, the member page's
history; staff of the community a resident leaves do not decide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import expect

from server.db import db
from server.users.models import CommunityMove, User
from tests.conftest import Org, bearer


@pytest.fixture
def move(
    client: FlaskClient, member: Callable[..., dict[str, Any]], org_tree: dict[str, Org]
) -> Callable[..., tuple[int, int]]:
    """``move("钱阿姨", to="C2")``: a C1 resident's pending move; returns (move id, user id)."""
    counter = iter(range(1, 10_000))

    def make(nickname: str, to: str = "C2", reason: str = "搬到女儿家附近") -> tuple[int, int]:
        tokens = member(points=0, name=f"mover{next(counter)}", community="C1", nickname=nickname)
        response = client.post(
            "/api/v1/me/community-moves",
            json={"community_id": org_tree[to].id, "reason": reason},
            headers=bearer(tokens),
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"], tokens["user"]["id"]

    return make


def _move(app: Flask, move_id: int) -> tuple[str, str | None]:
    with app.app_context():
        found = db.session.get(CommunityMove, move_id)
        assert found is not None
        return found.status, found.decision_reason


def _community(app: Flask, user_id: int) -> int | None:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return user.community_id


def test_staff_of_the_new_community_approve_and_reject_with_a_reason(
    app, page, console_login, make_staff, move, org_tree
):
    approve_id, approved_user = move("钱阿姨")
    reject_id, rejected_user = move("孙大爷", reason="想换个社区")
    console_login(make_staff(org="C2"))
    expect(page.locator("[data-counter='社区迁移待审核']")).to_have_text("2")
    page.get_by_role("link", name="社区迁移").first.click()
    row = page.locator(f"#move-{approve_id}")
    expect(row).to_contain_text("钱阿姨")
    expect(row).to_contain_text("一社区")
    expect(row).to_contain_text("搬到女儿家附近")
    row.get_by_role("button", name="通过").click()
    expect(page.get_by_role("status").filter(has_text="已通过社区迁移")).to_be_visible()
    expect(page.locator(f"#move-{approve_id}")).to_have_count(0)
    assert _community(app, approved_user) == org_tree["C2"].id

    row = page.locator(f"#move-{reject_id}")
    row.get_by_role("button", name="驳回").click()  # the browser refuses an empty reason
    assert _move(app, reject_id) == ("pending", None)
    row.get_by_placeholder("驳回原因").fill("地址不在本社区")
    row.get_by_role("button", name="驳回").click()
    expect(page.get_by_role("status").filter(has_text="已驳回社区迁移")).to_be_visible()
    assert _move(app, reject_id) == ("rejected", "地址不在本社区")
    assert _community(app, rejected_user) == org_tree["C1"].id
    page.get_by_role("link", name="已驳回").click()
    expect(page.locator(f"#move-{reject_id}")).to_contain_text("地址不在本社区")


def test_bulk_approve_the_ticked_moves_with_a_result_for_each(app, page, console_login, make_staff, move):
    ids = [move(name)[0] for name in ("钱阿姨", "孙大爷", "李叔叔")]
    console_login(make_staff(org="C2"))
    page.goto("/console/community-moves")
    page.get_by_label(f"选择 #{ids[0]}").check()
    page.get_by_label(f"选择 #{ids[2]}").check()
    page.get_by_role("button", name="批量通过所选").click()
    expect(page.get_by_role("status").filter(has_text=f"#{ids[0]} 已通过")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text=f"#{ids[2]} 已通过")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator(f"#move-{ids[1]}")).to_contain_text("孙大爷")
    assert [_move(app, i)[0] for i in ids] == ["approved", "pending", "approved"]


def test_the_old_communitys_staff_neither_see_nor_decide_the_move(
    app, page, console_login, make_staff, move, live_url, org_tree
):
    move_id, user_id = move("钱阿姨")
    console_login(make_staff(org="C1"))
    page.goto("/console/community-moves")
    expect(page.get_by_text("没有记录")).to_be_visible()
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    posted = page.context.request.post(
        f"{live_url}/console/community-moves/{move_id}/approve", form={"csrf_token": token}
    )
    assert posted.ok  # back to the queue, with the refusal flashed
    assert "社区迁移申请不存在（COMMUNITY_MOVE_NOT_FOUND）" in posted.text()
    assert _move(app, move_id) == ("pending", None)
    assert _community(app, user_id) == org_tree["C1"].id


def test_the_member_page_shows_where_the_member_lived(app, page, console_login, make_staff, move):
    move_id, user_id = move("钱阿姨", reason="搬家")
    console_login(make_staff(org="C2"))
    page.goto("/console/community-moves")
    page.locator(f"#move-{move_id}").get_by_role("button", name="通过").click()
    expect(page.get_by_role("status").filter(has_text="已通过社区迁移")).to_be_visible()
    page.goto(f"/console/members/{user_id}")
    expect(page.get_by_role("heading", name="社区迁移记录")).to_be_visible()
    row = page.locator(f"#member-move-{move_id}")
    expect(row).to_contain_text("一社区")
    expect(row).to_contain_text("二社区")
    expect(row).to_contain_text("已迁入")
