"""The console pages of points, through the test client: members' search, a member's page, adjustments."""

import re

import pytest
from sqlalchemy import select

from points.models import LedgerTransaction
from server.db import db
from tests.conftest import bearer


def _points(client, tokens):
    return client.get("/api/v1/me/points", headers=bearer(tokens)).get_json()


# --- members ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("1234", ["王阿姨"]),
        ("138****1234", ["王阿姨"]),
        ("139", ["李大爷"]),
        ("1381", ["王阿姨"]),
        ("5678", ["李大爷"]),
        ("13810001234", ["王阿姨"]),
        ("13800001234", []),
        ("王", ["王阿姨"]),
        ("大爷", ["李大爷"]),
        ("张", []),
        ("%", []),
        ("", ["李大爷", "王阿姨"]),
    ],
)
def test_member_search_by_name_or_phone_within_the_subtree(console, make_staff, member, query, found):
    member(0, "w", nickname="王阿姨", phone="13810001234")
    member(0, "l", nickname="李大爷", phone="13900005678")
    member(0, "z", community="C3", nickname="张王", phone="13800001234")
    page = (
        console(make_staff(org="C1"))
        .get("/console/members", query_string={"q": query})
        .get_data(as_text=True)
    )
    names = re.findall(r'<tr id="member-\d+">\s*<td><a href="[^"]+">([^<]+)</a>', page)
    assert sorted(names) == sorted(found)
    assert "13810001234" not in page[page.index("<table>") :]  # only ever shown masked


def test_a_member_page_shows_balance_and_history_and_adjusts_once_per_form(
    app, console, make_staff, member, client
):
    tokens = member(30, nickname="王阿姨")
    user_id = tokens["user"]["id"]
    session = console(make_staff(org="C1"))
    page = session.get(f"/console/members/{user_id}").get_data(as_text=True)
    assert 'id="available">30<' in page and "开户" in page
    token = re.search(r'name="adjust_token" value="([0-9a-f]{32})"', page)[1]
    form = {"adjust_token": token, "amount": "+5", "reason": "补录志愿服务"}
    first = session.post(f"/console/members/{user_id}/adjust", form, follow_redirects=True).get_data(
        as_text=True
    )
    assert "已调整 +5 积分" in first
    again = session.post(f"/console/members/{user_id}/adjust", form, follow_redirects=True).get_data(
        as_text=True
    )
    assert "这次调整已经记过账，没有重复调整" in again
    assert _points(client, tokens)["available"] == 35
    with app.app_context():
        adjustments = db.session.scalars(
            select(LedgerTransaction).where(
                LedgerTransaction.user_id == user_id, LedgerTransaction.kind == "adjust"
            )
        ).all()
        assert len(adjustments) == 2  # 开户 and this one
    fresh = re.search(r'name="adjust_token" value="([0-9a-f]{32})"', again)[1]
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
    assert _points(client, tokens)["available"] == 35


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
    assert _points(client, tokens)["available"] == 30
