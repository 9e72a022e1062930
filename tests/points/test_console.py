"""The console pages of points, through the test client: members' search, a member's page, adjustments."""

import re

from sqlalchemy import select

from points.models import LedgerTransaction
from server.db import db
from tests.conftest import points_of


def _adjust_token(page: str) -> str:
    """The one-time token of the member page's adjustment form."""
    found = re.search(r'name="adjust_token" value="([0-9a-f]{32})"', page)
    assert found is not None, page
    return found[1]


def test_a_member_page_shows_balance_and_history_and_adjusts_once_per_form(
    app, console, make_staff, member, client
):
    tokens = member(30, nickname="王阿姨")
    user_id = tokens["user"]["id"]
    session = console(make_staff(org="C1"))
    page = session.get(f"/console/members/{user_id}").get_data(as_text=True)
    assert 'id="available">30<' in page and "开户" in page
    token = _adjust_token(page)
    form = {"adjust_token": token, "amount": "+5", "reason": "补录志愿服务"}
    first = session.post(f"/console/members/{user_id}/adjust", form, follow_redirects=True).get_data(
        as_text=True
    )
    assert "已调整 +5 积分" in first
    again = session.post(f"/console/members/{user_id}/adjust", form, follow_redirects=True).get_data(
        as_text=True
    )
    assert "这次调整已经记过账，没有重复调整" in again
    assert points_of(client, tokens)["available"] == 35
    with app.app_context():
        adjustments = db.session.scalars(
            select(LedgerTransaction).where(
                LedgerTransaction.user_id == user_id, LedgerTransaction.kind == "adjust"
            )
        ).all()
        assert len(adjustments) == 2  # 开户 and this one
    fresh = _adjust_token(again)
    assert fresh != token
    too_much = session.post(
        f"/console/members/{user_id}/adjust", {"adjust_token": fresh, "amount": "-100", "reason": "错发"},
        follow_redirects=True,
    ).get_data(as_text=True)  # fmt: skip
    assert "积分不足（INSUFFICIENT_POINTS）" in too_much
    for bad in ("0", "abc", "1.5", ""):
        refused = session.post(
            f"/console/members/{user_id}/adjust", {"adjust_token": fresh, "amount": bad, "reason": "x"},
            follow_redirects=True,
        ).get_data(as_text=True)  # fmt: skip
        assert "INVALID_AMOUNT" in refused
    no_reason = session.post(
        f"/console/members/{user_id}/adjust", {"adjust_token": fresh, "amount": "3", "reason": " "},
        follow_redirects=True,
    ).get_data(as_text=True)  # fmt: skip
    assert "REASON_REQUIRED" in no_reason
    assert points_of(client, tokens)["available"] == 35


def test_a_member_of_another_community_is_out_of_reach(app, console, make_staff, member, client):
    tokens = member(30, community="C3")
    user_id = tokens["user"]["id"]
    session = console(make_staff(org="C1"))
    assert session.get(f"/console/members/{user_id}").status_code == 403
    assert session.get("/console/members/999999").status_code == 404
    refused = session.post(
        f"/console/members/{user_id}/adjust",
        {"adjust_token": "a" * 32, "amount": "50", "reason": "x"},
        follow_redirects=True,
    )
    assert "FORBIDDEN" in refused.get_data(as_text=True)
    assert points_of(client, tokens)["available"] == 30
