"""The report page in a browser: the figures of the seeded quarter, charts, tables, and the Excel download."""

import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import bearer
from tests.reports.seed import Seeder, Story, check_workbook, expected, install_clock, seed_story

Q1 = {"org": "C1", "from": "2026-01-01", "to": "2026-03-31"}


@pytest.fixture
def story(app, client, monkeypatch, org_tree, make_staff, login_staff, login_user) -> Story:
    """The first quarter of 2026 seeded through the API (tests/reports/seed.py)."""
    staff = {code: bearer(login_staff(make_staff(org=code))) for code in ("C1", "C2", "C3")}
    seeder = Seeder(app, client, install_clock(monkeypatch), org_tree, staff)
    return seed_story(seeder, login_user)


def test_the_report_shows_the_seeded_figures_and_exports_them(
    page, console_login, make_staff, login_staff, client, story, tmp_path
):
    staff = make_staff(org="S1")
    console_login(staff)
    page.get_by_role("link", name="统计报表").click()
    expect(page.get_by_role("heading", name="统计报表")).to_be_visible()
    page.get_by_label("组织").select_option("C1")
    page.get_by_label("开始日期").fill(Q1["from"])
    page.get_by_label("结束日期").fill(Q1["to"])
    page.get_by_role("button", name="查看报表").click()

    want = expected(story.notes, {"C1"}, date(2026, 1, 1), date(2026, 3, 31))["figures"]
    expect(page.locator("[data-report-title]")).to_have_text("一社区 · 2026-01-01 至 2026-03-31")
    shown = {
        "activities": str(want["activities"]),
        "checkins": str(want["checkins"]),
        "volunteer_hours": "6",
        "distinct_members": str(want["distinct_members"]),
        "points_issued": str(want["points_issued"]),
        "points_redeemed": str(want["points_redeemed"]),
        "wishes_posted": str(want["wishes_posted"]),
        "wishes_claimed": str(want["wishes_claimed"]),
        "wishes_completed": str(want["wishes_completed"]),
        "residents_served": str(want["residents_served"]),
    }
    for key, value in shown.items():
        expect(page.locator(f"[data-figure='{key}'] .value")).to_have_text(value)
    expect(page.locator("[data-summary]")).to_have_text(
        f"本期开展活动{want['activities']}场，签到{want['checkins']}人次，志愿服务6小时；"
        f"认领兑现微心愿{want['wishes_completed']}个，服务居民{want['residents_served']}人次；"
        f"发放积分{want['points_issued']}分，兑换积分{want['points_redeemed']}分。"
    )
    for chart in ("checkins", "hours", "points", "wishes", "top"):
        expect(page.locator(f"[data-chart='{chart}'] svg[role=img]")).to_be_visible()
    expect(page.locator("[data-chart='points'] rect title").first).to_have_text("1月 发放积分：10分")
    expect(page.locator("[data-table='months'] tbody tr")).to_have_count(3)
    expect(page.locator("[data-table='top'] tbody tr").first).to_contain_text("李*")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="导出 Excel").click()
    download = download_info.value
    assert download.suggested_filename == "linli-report-C1-2026-01-01-2026-03-31.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    summary = client.get(
        "/api/v1/reports/summary", query_string=Q1, headers=bearer(login_staff(staff))
    ).get_json()
    assert summary["figures"] == want
    check_workbook(Path(saved).read_bytes(), summary)


def test_the_org_choice_is_my_subtree_and_other_orgs_are_refused_by_url(
    page, console_login, make_staff, org_tree
):
    console_login(make_staff(org="C1"))
    page.goto("/console/reports")
    options = page.locator("select[name=org] option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", "C1")
    for path in ("/console/reports?org=S1", "/console/reports/export?org=C2"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=2)).to_contain_text("没有权限")


def test_a_period_that_ends_before_it_starts_is_explained(page, console_login, make_staff, org_tree):
    console_login(make_staff(org="S1"))
    response = page.goto("/console/reports?org=S1&from=2026-03-01&to=2026-02-01")
    assert response is not None and response.status == 422
    expect(page.get_by_role("alert")).to_contain_text("开始日期不能晚于结束日期")
    expect(page.get_by_label("开始日期")).to_have_value("2026-03-01")
    expect(page.locator("[data-figure]")).to_have_count(0)
    page.get_by_label("开始日期").fill("2026-01-01")
    page.get_by_role("button", name="查看报表").click()
    expect(page).to_have_url(re.compile(r"from=2026-01-01"))
    expect(page.locator("[data-figure='checkins'] .value")).to_have_text("0")


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("from=0001-01-01&to=0001-01-02", "开始日期应在 2000-01-01 至 2099-12-31 之间"),
        ("from=9999-12-01&to=9999-12-31", "开始日期应在 2000-01-01 至 2099-12-31 之间"),
        ("from=2026-01-01&to=2100-01-01", "结束日期应在 2000-01-01 至 2099-12-31 之间"),
        ("from=2026-02-30", "开始日期格式不正确，应为 YYYY-MM-DD"),
    ],
)
@pytest.mark.parametrize("path", ["/console/reports", "/console/reports/export"])
def test_a_date_outside_2000_to_2099_or_no_date_is_explained_on_the_form(
    client, client_login, make_staff, org_tree, path, period, message
):
    client_login(make_staff(org="S1"))
    response = client.get(f"{path}?org=S1&{period}")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert f'<p class="flash error" role="alert">{message}（VALIDATION_ERROR）</p>' in html
    assert 'name="from" value="' + period.split("&")[0].removeprefix("from=") + '"' in html
