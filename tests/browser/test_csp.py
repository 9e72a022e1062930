"""The console's main pages under its strict CSP (issue 16, F16): nothing refused, no script error, and the
moved behaviours (select-all, the pickup desk, the door screen's refresh) still work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.checkin.conftest import START
from tests.conftest import bearer
from tests.store.flows import redeem

# Each securitypolicyviolation the page sees, kept where the test can read it (an init script runs before
# the page's own and is not itself subject to the page's policy).
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(
    e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "")
  );
});
"""


@pytest.fixture
def watched(page: Any) -> Any:
    """The page, recording CSP violations, console and uncaught script errors into ``page.problems``."""
    problems: list[str] = []
    page.context.add_init_script(LISTEN)

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            problems.append(f"console: {message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.problems = problems
    return page


def visit(page: Any, path: str, ready: str) -> None:
    """Open ``path`` under the strict policy, wait for ``ready`` to show, and find nothing refused."""
    response = page.goto(path)
    assert response is not None and response.status == 200, path
    assert response.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
    expect(page.locator(ready).first).to_be_visible()
    page.wait_for_load_state("load")
    assert page.evaluate("window.__violations") == [], path
    assert page.problems == [], path


@pytest.fixture
def world(client, org_tree, make_staff, login_staff, member, item, clock) -> dict[str, Any]:
    """A member with points and a pending redemption, a wish, and a party day open for check-in, all of C1."""
    staff = bearer(login_staff(make_staff(org="C1")))
    tokens = member(30, nickname="王阿姨")
    redemption = redeem(client, tokens, item(), 1)
    wish = {
        "title": "想请人修水龙头",
        "content": "厨房水龙头一直滴水，\n想请人看看。",
        "category": "生活帮扶",
    }
    posted = client.post(
        "/api/v1/wishes", json=wish | {"contact_phone": "13800138001"}, headers=bearer(tokens)
    )
    assert posted.status_code == 201, posted.get_json()
    activity = {
        "community_id": org_tree["C1"].id,
        "title": "主题党日：学习新思想",
        "description": "第一项：学习。\n第二项：讨论。",
        "kind": "party_day",
        "place": "一社区党群服务中心二楼",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "printed_code_allowed": True,
        "points_rule": "PARTY_DAY",
    }
    made = client.post("/api/v1/activities", json=activity, headers=staff)
    assert made.status_code == 201, made.get_json()
    return {
        "member": tokens["user"]["id"],
        "redemption": redemption["id"],
        "wish": posted.get_json()["id"],
        "activity": made.get_json()["id"],
    }


def test_the_main_console_pages_load_with_nothing_refused(watched, console_login, make_staff, world):
    console_login(make_staff(org="C1"))
    expect(watched.locator("#today-panel-checkins, [hx-get]").first).not_to_have_text("加载中…")
    assert watched.evaluate("window.__violations") == []
    visit(watched, "/console/members", "table")
    visit(watched, f"/console/members/{world['member']}", "#adjust-form")
    visit(watched, f"/console/wishes/{world['wish']}", "#wish-content")
    expect(watched.locator("#wish-content")).to_have_css("white-space", "pre-wrap")
    visit(watched, "/console/wishes", "table")
    visit(watched, "/console/wish-awards", "table")
    visit(watched, "/console/redemptions", f"#redemption-{world['redemption']}")
    visit(watched, f"/console/redemptions/{world['redemption']}", "h2")
    visit(watched, "/console/pickup", "input[name=code]")
    visit(watched, "/console/store", "table")
    visit(watched, "/console/activities", "table")
    visit(watched, f"/console/activities/{world['activity']}", "h2")
    expect(watched.locator("p.pre-line")).to_have_css("white-space", "pre-line")
    visit(watched, f"/console/activities/{world['activity']}/poster", "#poster")
    visit(watched, "/console/stations", "h2")
    visit(watched, "/console/party-reports", "h2")
    visit(watched, "/console/community-moves", "h2")
    visit(watched, "/console/reports", "h2")


def test_the_door_screen_refreshes_its_code_under_the_policy(watched, console_login, make_staff, world):
    console_login(make_staff(org="C1"))
    screen = f"/console/activities/{world['activity']}/screen"
    with watched.expect_response(lambda response: response.url.endswith(f"{screen[:-6]}code")) as answer:
        visit(watched, screen, "#code")
    assert answer.value.status == 200
    expect(watched.locator("body")).to_have_css("background-color", "rgb(163, 21, 21)")  # its own stylesheet
    expect(watched.locator("#connection")).to_have_text("")  # the refresh was read, nothing went wrong
    assert watched.evaluate("window.__violations") == []
    assert watched.problems == []


def test_select_all_and_the_pickup_desk_work_without_inline_handlers(
    watched, console_login, make_staff, member, item, client
):
    for name in ("li", "zhao"):
        redeem(client, member(30, name=name), item(), 1)
    console_login(make_staff(org="C1"))
    visit(watched, "/console/redemptions", "input[name=ids]")
    boxes = watched.locator("input[name=ids]")
    expect(boxes).to_have_count(2)
    watched.get_by_label("全选").check()
    for index in range(2):
        expect(boxes.nth(index)).to_be_checked()
    watched.get_by_label("全选").uncheck()
    expect(boxes.nth(0)).not_to_be_checked()

    visit(watched, "/console/pickup", "input[name=code]")
    scanner = watched.get_by_label("核销码")
    scanner.fill("NOSUCHCODE")
    scanner.press("Enter")
    expect(watched.locator("#pickup-result")).not_to_be_empty()
    expect(scanner).to_have_value("")  # emptied as the request went
    expect(scanner).to_be_focused()  # and ready for the next scan
    assert watched.evaluate("window.__violations") == []
    assert watched.problems == []


def test_swagger_ui_runs_under_its_own_policy(watched):
    response = watched.goto("/api/docs")
    assert response is not None and "'sha256-" in response.headers["content-security-policy"]
    expect(watched.locator(".swagger-ui .info .title").first).to_be_visible()
    assert watched.evaluate("window.__violations") == []
    assert watched.problems == []
