"""The party-report queue: bulk approve with a result per report, the community filter, the pages."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import expect

from server.db import db
from server.users.models import PartyReport, User
from tests.conftest import Org


@pytest.fixture
def report(app: Flask, org_tree: dict[str, Org]) -> Callable[..., int]:
    """``report("钱同志", community="C1")``: a resident's pending report to that community; returns its id."""
    counter = iter(range(1, 10_000))

    def make(nickname: str, community: str = "C1") -> int:
        with app.app_context():
            org_id = org_tree[community].id
            user = User(openid=f"o-report-{next(counter)}", nickname=nickname, community_id=org_id)
            db.session.add(user)
            db.session.flush()
            row = PartyReport(user_id=user.id, community_id=org_id, branch=f"{nickname}所在支部")
            db.session.add(row)
            db.session.commit()
            return row.id

    return make


def _status(app: Flask, report_id: int) -> str:
    with app.app_context():
        found = db.session.get(PartyReport, report_id)
        assert found is not None
        return found.status


def test_bulk_approve_the_ticked_reports_with_a_result_for_each(
    app, page, console_login, make_staff, report, live_url
):
    ids = [report(name) for name in ("钱同志", "孙同志", "李同志")]
    console_login(make_staff(org="C1"))
    page.goto("/console/party-reports")
    page.get_by_label(f"选择 #{ids[0]}").check()
    page.get_by_label(f"选择 #{ids[2]}").check()
    # Meanwhile the third one is approved from another tab: the bulk approve says so for that one only.
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    other_tab = page.context.request.post(
        f"{live_url}/console/party-reports/{ids[2]}/approve", form={"csrf_token": token}
    )
    assert other_tab.ok
    page.get_by_role("button", name="批量通过所选").click()
    expect(page.get_by_role("status").filter(has_text=f"#{ids[0]} 已通过")).to_be_visible()
    expect(
        page.get_by_role("status").filter(has_text=f"#{ids[2]} 未通过：该申请已处理（PARTY_REPORT_DECIDED）")
    ).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator(f"#report-{ids[1]}")).to_contain_text("孙同志")
    assert [_status(app, i) for i in ids] == ["approved", "pending", "approved"]
    with app.app_context():
        qian = db.session.scalars(db.select(User).filter_by(nickname="钱同志")).one()
        assert qian.party_community_id is not None


def test_the_community_filter_shows_one_community_and_the_status_links_keep_it(
    page, console_login, make_staff, report
):
    report("钱同志", community="C1")
    report("孙同志", community="C2")
    console_login(make_staff(org="S1"))
    page.goto("/console/party-reports")
    expect(page.locator("tbody tr")).to_have_count(2)
    page.get_by_label("社区").select_option(label="二社区")
    expect(page).to_have_url(re.compile(r"community=\d+"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("孙同志")
    page.get_by_role("link", name="全部", exact=True).click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_label("社区")).to_have_value(re.compile(r"\d+"))


def test_a_queue_longer_than_a_page_has_page_links_that_keep_the_filters(
    client, client_login, make_staff, report, org_tree
):
    ids = [report(f"居民{i:02d}") for i in range(51)]
    client_login(make_staff(org="S1"))
    first = client.get(f"/console/party-reports?community={org_tree['C1'].id}").get_data(as_text=True)
    assert first.count('id="report-') == 50
    assert "第 1 / 2 页，共 51 条" in first
    next_link = re.search(r'<a href="([^"]+)">下一页</a>', first)
    assert next_link is not None
    target = next_link[1].replace("&amp;", "&")
    assert f"community={org_tree['C1'].id}" in target and "page=2" in target
    second = client.get(target).get_data(as_text=True)
    assert re.findall(r'id="report-(\d+)"', second) == [str(ids[-1])]
    assert "上一页" in second and "下一页" not in second
