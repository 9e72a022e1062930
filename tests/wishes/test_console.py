"""The wish pages of the console through the test client: queue, filters, detail, actions, refusals."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from server.console.actions import BULK_LIMIT
from server.db import db
from server.notifications.models import OutboxMessage
from tests.conftest import Staff
from wishes.models import Wish, WishAward, WishClaim


@dataclass
class Console:
    """A test client logged in to the console, with the session's CSRF token."""

    client: FlaskClient
    token: str

    def get(self, path: str) -> tuple[int, str]:
        """GET a console page: its status and text."""
        response = self.client.get(path)
        return response.status_code, response.get_data(as_text=True)

    def post(self, path: str, **form: str | list[str]) -> tuple[int, str]:
        """POST a console form with the CSRF token and follow the redirect: the final status and page."""
        response = self.client.post(path, data={"csrf_token": self.token, **form}, follow_redirects=True)
        return response.status_code, response.get_data(as_text=True)


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found[1]


@pytest.fixture
def console(app: Flask):
    """``console(staff)`` logs a staff member in through the login form of a fresh test client."""

    def login(staff: Staff) -> Console:
        client = app.test_client()
        form = {"username": staff.username, "password": staff.password}
        form["csrf_token"] = _token(client.get("/console/login").get_data(as_text=True))
        assert client.post("/console/login", data=form).status_code == 302
        # The login starts a fresh session, so the form token is taken after it.
        return Console(client, _token(client.get("/console/wishes").get_data(as_text=True)))

    return login


def _wish(app: Flask, wish_id: int) -> Wish:
    with app.app_context():
        wish = db.session.get(Wish, wish_id)
        assert wish is not None
        db.session.expunge(wish)
        return wish


def _outbox_events(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage.event).order_by(OutboxMessage.id)))


def test_the_queue_shows_pending_wishes_with_masked_residents_marks_and_the_counter(
    console, make_staff, person, post_wish, wish_in
):
    resident = person("chen", nickname="陈奶奶")
    plain = post_wish(resident, title="想学用智能手机", contact_name="陈奶奶")
    marked = post_wish(resident, title="需要帮忙", content="这段内容待审，请工作人员看看。")
    wish_in("open", resident, title="已经上墙的心愿")
    page = console(make_staff(org="C1"))

    status, html = page.get("/console/wishes")
    assert status == 200
    assert "想学用智能手机" in html and "需要帮忙" in html
    assert "已经上墙的心愿" not in html  # pending review by default
    assert "陈**" in html and "陈奶奶" not in html
    row = html[html.index(f'id="wish-{marked["id"]}"') :]
    assert "需人工审核" in row[: row.index("</tr>")]
    row = html[html.index(f'id="wish-{plain["id"]}"') :]
    assert "需人工审核" not in row[: row.index("</tr>")]
    _, today = page.get("/console/")
    assert re.search(r'data-counter="心愿待审核">2<', today)
    _, every = page.get("/console/wishes?status=all")
    assert "已经上墙的心愿" in every


def test_the_filters_narrow_the_queue(console, make_staff, person, post_wish):
    one, three = person("one", community="C1"), person("three", community="C3")
    post_wish(one, title="一社区的心愿", category="学习用品")
    post_wish(one, title="一社区待审心愿", content="这段内容待审，请工作人员看看。")
    post_wish(three, title="三社区的心愿")
    page = console(make_staff(org="D1"))

    _, html = page.get("/console/wishes")
    assert all(t in html for t in ("一社区的心愿", "一社区待审心愿", "三社区的心愿"))
    _, marked = page.get("/console/wishes?needs_review=1")
    assert "一社区待审心愿" in marked and "一社区的心愿" not in marked and "三社区的心愿" not in marked
    _, category = page.get("/console/wishes?category=学习用品")
    assert "一社区的心愿" in category and "三社区的心愿" not in category
    c3 = db_id_of(page, "三社区")
    _, community = page.get(f"/console/wishes?community={c3}")
    assert "三社区的心愿" in community and "一社区的心愿" not in community
    assert f'<option value="{c3}" selected>' in community
    _, both = page.get(f"/console/wishes?community={c3}&needs_review=1")
    assert "没有符合条件的心愿" in both  # the filters add up


def db_id_of(page: Console, community_name: str) -> str:
    """The id of a community from the queue's community filter."""
    _, html = page.get("/console/wishes")
    found = re.search(rf'<option value="(\d+)"\s*>{community_name}</option>', html)
    assert found is not None, html
    return found[1]


def test_rejecting_needs_a_reason_and_tells_the_resident(app, client, console, make_staff, person, post_wish):
    resident = person("chen")
    wish_id = post_wish(resident)["id"]
    page = console(make_staff(org="C1"))

    status, html = page.post(f"/console/wishes/{wish_id}/reject", reason="   ")
    assert status == 200
    assert "请填写原因（REASON_REQUIRED）" in html
    assert _wish(app, wish_id).status == "pending_review"
    assert _outbox_events(app) == []

    _, html = page.post(f"/console/wishes/{wish_id}/reject", reason="请通过社区代购服务办理")
    assert f"心愿 #{wish_id} 已驳回" in html
    body = client.get(f"/api/v1/wishes/{wish_id}", headers=resident.headers).get_json()
    assert (body["status"], body["reject_reason"]) == ("rejected", "请通过社区代购服务办理")
    assert _outbox_events(app) == ["wish.rejected"]


def test_approving_puts_the_wish_on_the_wall(app, client, console, make_staff, person, post_wish):
    resident, neighbour = person("chen"), person("wang")
    wish_id = post_wish(resident, title="想请人修水龙头")["id"]
    page = console(make_staff(org="C1"))
    _, html = page.post(f"/console/wishes/{wish_id}/approve")
    assert "已通过审核" in html
    wall = client.get("/api/v1/wishes", headers=neighbour.headers).get_json()
    assert [w["id"] for w in wall["items"]] == [wish_id]
    _, html = page.post(f"/console/wishes/{wish_id}/approve")  # twice: refused, nothing changes
    assert "该心愿已审核（WISH_NOT_PENDING）" in html
    assert _outbox_events(app) == ["wish.approved"]


def test_staff_of_another_community_can_neither_open_nor_decide_a_wish(
    app, console, make_staff, person, post_wish
):
    wish_id = post_wish(person("chen", community="C1"))["id"]
    other = console(make_staff(org="C3"))
    status, html = other.get(f"/console/wishes/{wish_id}")
    assert status == 404 and "心愿不存在" in html
    _, queue = other.get("/console/wishes?status=all")
    assert f'id="wish-{wish_id}"' not in queue
    for action, form in (("approve", {}), ("reject", {"reason": "不行"})):
        _, html = other.post(f"/console/wishes/{wish_id}/{action}", **form)
        assert "没有权限执行此操作（FORBIDDEN）" in html
    _, html = other.post("/console/wishes/approve", ids=[str(wish_id)])
    assert "FORBIDDEN" in html
    wish = _wish(app, wish_id)
    assert (wish.status, wish.reviewed_by_id) == ("pending_review", None)
    assert _outbox_events(app) == []


def test_bulk_approve_approves_the_ticked_wishes_and_reports_refusals(
    app, console, make_staff, person, post_wish
):
    one, three = person("one", community="C1"), person("three", community="C3")
    mine = [post_wish(one)["id"] for _ in range(2)]
    foreign = post_wish(three)["id"]
    page = console(make_staff(org="C1"))
    _, html = page.post("/console/wishes/approve", ids=[str(i) for i in [*mine, foreign]])
    assert f"#{mine[0]} 已通过" in html and f"#{mine[1]} 已通过" in html
    assert f"#{foreign} 未通过：没有权限执行此操作（FORBIDDEN）" in html
    assert [_wish(app, i).status for i in [*mine, foreign]] == ["open", "open", "pending_review"]
    _, html = page.post("/console/wishes/approve")
    assert "请先勾选要通过的心愿" in html


def test_bulk_approve_refuses_more_than_bulk_limit_ids_and_approves_none(
    app, console, make_staff, person, post_wish
):
    wish_id = post_wish(person("chen"))["id"]
    page = console(make_staff(org="C1"))
    too_many = [str(wish_id)] + [str(10_000_000 + n) for n in range(BULK_LIMIT)]
    _, html = page.post("/console/wishes/approve", ids=too_many)
    assert f"一次最多批量通过 {BULK_LIMIT} 条" in html
    assert _wish(app, wish_id).status == "pending_review"
    assert _outbox_events(app) == []
    _, html = page.post("/console/wishes/approve", ids=too_many[:BULK_LIMIT])
    assert f"#{wish_id} 已通过" in html and _wish(app, wish_id).status == "open"


def _upload(client: FlaskClient, headers: dict[str, str]) -> int:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(buffer, "PNG")
    response = client.post(
        "/api/v1/files", data={"file": (io.BytesIO(buffer.getvalue()), "p.png", "image/png")}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    file_id: int = response.get_json()["id"]
    return file_id


def test_the_detail_shows_content_photos_contact_and_the_claim_history(
    app, client, console, make_staff, person, wish_in
):
    resident = person("chen", nickname="陈奶奶")
    member = person("li", serves="party", nickname="李师傅")
    photo = _upload(client, resident.headers)
    wish_id = wish_in(
        "claimed",
        resident,
        member,
        content="厨房水龙头一直滴水 <script>alert(1)</script>",
        photos=[photo],
        contact_phone="13800138001",
        address="3 号楼 501",
    )
    page = console(make_staff(org="C1"))
    status, html = page.get(f"/console/wishes/{wish_id}")
    assert status == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert re.search(r'<img src="/files/[^"]+"', html)
    assert "13800138001" in html and "3 号楼 501" in html and "陈奶奶" in html
    assert "李师傅" in html and "认领中" in html

    status, html = page.post(f"/console/wishes/{wish_id}/release", reason="")
    assert "请填写原因（REASON_REQUIRED）" in html
    _, html = page.post(f"/console/wishes/{wish_id}/release", reason="认领人联系不上")
    assert "认领已收回" in html
    assert _wish(app, wish_id).status == "open"
    _, html = page.get(f"/console/wishes/{wish_id}")
    assert "工作人员收回" in html and "认领人联系不上" in html
    with app.app_context():
        [claim] = db.session.scalars(select(WishClaim)).all()
        assert (claim.outcome, claim.reason) == ("released", "认领人联系不上")


def test_a_form_without_the_csrf_token_changes_nothing(app, console, make_staff, person, post_wish):
    wish_id = post_wish(person("chen"))["id"]
    page = console(make_staff(org="C1"))
    response = page.client.post(f"/console/wishes/{wish_id}/approve")
    assert response.status_code == 400
    assert _wish(app, wish_id).status == "pending_review"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


# --- disputes and 待确认积分 ------------------------------------------------------------------------------


def _award_of(app: Flask, wish_id: int) -> tuple[str, str | None, int | None]:
    """(status, code, points) of the wish's award."""
    with app.app_context():
        award = db.session.scalars(select(WishAward).where(WishAward.wish_id == wish_id)).one()
        return award.status, award.code, award.points


def test_the_award_queue_approves_ticked_awards_once_and_says_why_one_pays_nothing(
    app, client, console, make_staff, person, wish_in
):
    resident, other = person("chen", nickname="陈奶奶"), person("wang", nickname="王大爷")
    li, zhao = (
        person("li", serves="party", nickname="李师傅"),
        person("zhao", serves="party", nickname="赵老师"),
    )
    low = wish_in("fulfilled", resident, li, title="评价低的心愿")
    client.post(
        f"/api/v1/wishes/{low}/confirm", json={"rating": 1, "comment": "没修好"}, headers=resident.headers
    )
    paired = wish_in("fulfilled", resident, li, title="同一对的心愿")
    client.post(f"/api/v1/wishes/{paired}/confirm", json={"rating": 2}, headers=resident.headers)
    turned_down = wish_in("fulfilled", other, zhao, title="不发放的心愿")
    client.post(f"/api/v1/wishes/{turned_down}/confirm", json={"rating": 1}, headers=other.headers)
    page = console(make_staff(org="C1"))

    _, today = page.get("/console/")
    assert re.search(r'data-counter="待确认积分">3<', today)
    status, html = page.get("/console/wish-awards")
    assert status == 200
    assert all(t in html for t in ("评价低的心愿", "同一对的心愿", "不发放的心愿", "居民评价较低", "没修好"))
    ids = {w: _award_of_id(app, w) for w in (low, paired, turned_down)}

    _, html = page.post(f"/console/wish-awards/{ids[turned_down]}/reject", reason="")
    assert "请填写原因（REASON_REQUIRED）" in html
    _, html = page.post(f"/console/wish-awards/{ids[turned_down]}/reject", reason="居民反映未完成")
    assert f"积分 #{ids[turned_down]} 已驳回" in html

    ticked = [str(ids[low]), str(ids[paired]), str(ids[turned_down])]
    _, html = page.post("/console/wish-awards/approve", ids=ticked)
    assert f"#{ids[low]} 已通过" in html
    assert f"#{ids[paired]} 未发放积分：同一居民与认领人之间的心愿积分在限定天数内只发放一次" in html
    assert f"#{ids[turned_down]} 未通过：该积分已处理（WISH_AWARD_DECIDED）" in html
    _, html = page.post("/console/wish-awards/approve", ids=ticked)  # again: nothing more is paid
    assert (_award_of(app, low), _award_of(app, paired)) == (
        ("paid", None, 5),
        ("refused", "PAIR_LIMIT", None),
    )
    assert _award_of(app, turned_down)[0] == "rejected"
    assert client.get("/api/v1/me/points", headers=li.headers).get_json()["available"] == 5
    assert client.get("/api/v1/me/points", headers=zhao.headers).get_json()["available"] == 0

    _, refused = page.get("/console/wish-awards?status=refused")
    row = refused[refused.index(f'id="award-{ids[paired]}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-code="PAIR_LIMIT"' in row and "只发放一次" in row and "PAIR_LIMIT<" not in row
    _, html = page.post("/console/wish-awards/approve")
    assert "请先勾选要发放的积分" in html


def _award_of_id(app: Flask, wish_id: int) -> int:
    with app.app_context():
        award_id: int = db.session.scalars(select(WishAward.id).where(WishAward.wish_id == wish_id)).one()
        return award_id


def test_staff_of_another_community_see_and_decide_no_award(
    app, client, console, make_staff, person, wish_in
):
    resident, member = person("chen"), person("li", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 1}, headers=resident.headers)
    award_id = _award_of_id(app, wish_id)
    other = console(make_staff(org="C3"))
    _, html = other.get("/console/wish-awards")
    assert f'id="award-{award_id}"' not in html
    for path, form in (("approve", {}), ("reject", {"reason": "不行"})):
        _, html = other.post(f"/console/wish-awards/{award_id}/{path}", **form)
        assert "没有权限执行此操作（FORBIDDEN）" in html
    _, html = other.post("/console/wish-awards/approve", ids=[str(award_id)])
    assert "FORBIDDEN" in html
    assert _award_of(app, wish_id) == ("pending", None, None)


def test_a_disputed_wish_is_released_or_completed_from_its_page(
    app, client, console, make_staff, person, wish_in
):
    resident, member = person("chen", nickname="陈奶奶"), person("li", serves="party", nickname="李师傅")
    released = wish_in("fulfilled", resident, member, title="没人来的心愿")
    done = wish_in("fulfilled", resident, member, title="其实做了的心愿")
    for wish_id in (released, done):
        client.post(
            f"/api/v1/wishes/{wish_id}/dispute", json={"reason": "没有人上门"}, headers=resident.headers
        )
    page = console(make_staff(org="C1"))
    _, today = page.get("/console/")
    assert re.search(r'data-counter="心愿申诉待处理">2<', today)
    redirected = page.client.get("/console/wishes/disputed")
    assert redirected.status_code == 302 and redirected.location.endswith("/console/wishes?status=disputed")
    _, html = page.get("/console/wishes?status=disputed")
    assert "没人来的心愿" in html and "居民申诉待处理" in html

    _, html = page.get(f"/console/wishes/{released}")
    assert "没有人上门" in html and "收回并重新开放" in html and "确认已完成并发放积分" in html
    _, html = page.post(f"/console/wishes/{released}/release", reason="核实未上门")
    assert f"心愿 #{released} 的认领已收回" in html
    assert _wish(app, released).status == "open"

    _, html = page.post(f"/console/wishes/{done}/complete")
    assert f"心愿 #{done} 已确认完成" in html
    assert (_wish(app, done).status, _award_of(app, done)) == ("completed", ("paid", None, 5))
    _, html = page.get(f"/console/wishes/{done}")
    assert 'data-award-status="paid"' in html and "获得 5 积分" in html
    assert client.get("/api/v1/me/points", headers=member.headers).get_json()["available"] == 5
