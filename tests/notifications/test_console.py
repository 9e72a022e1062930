"""The notifications health page of the console (admins): backlog, failed deliveries, retry and relay."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from server import clock as app_clock
from server.db import db
from server.jobs import queue
from server.notifications.models import Delivery, OutboxMessage
from tests.conftest import Staff, bearer

SEND = "/cgi-bin/message/subscribe/send"
POINTS_TEMPLATE = "tmpl-points-change"


@dataclass
class Console:
    """A test client logged in to the console, with the session's CSRF token."""

    client: FlaskClient
    token: str

    def get(self, path: str) -> tuple[int, str]:
        """GET a console page: its status and text."""
        response = self.client.get(path)
        return response.status_code, response.get_data(as_text=True)

    def post(self, path: str) -> tuple[int, str]:
        """POST a console form with the CSRF token and follow the redirect: the final status and page."""
        response = self.client.post(path, data={"csrf_token": self.token}, follow_redirects=True)
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
        return Console(client, _token(client.get("/console/").get_data(as_text=True)))

    return login


@pytest.fixture
def adjust(client, make_staff, login_staff):
    """A staff member of C1 adjusts a user's points through the API (publishing points.adjusted)."""
    headers = bearer(login_staff(make_staff()))

    def run(user_id: int) -> None:
        response = client.post(
            "/api/v1/points/adjustments",
            json={"user_id": user_id, "amount": 5, "reason": "补录志愿服务"},
            headers=headers,
        )
        assert response.status_code == 201

    return run


def _failed_count(app: Flask) -> int:
    with app.app_context():
        return FailedJobRegistry(queue=queue("default", app.extensions["linli_redis"])).count


def _deliveries(app: Flask) -> list[tuple[str, int | None]]:
    with app.app_context():
        return [(d.status, d.errcode) for d in db.session.scalars(select(Delivery).order_by(Delivery.id))]


def test_only_admins_see_the_page_and_its_menu_entry(console, make_staff):
    staff = console(make_staff(role="staff", org="C1"))
    _, today = staff.get("/console/")
    assert "消息推送" not in today
    for method, path in (("get", "/console/notifications"), ("post", "/console/notifications/relay")):
        status, html = getattr(staff, method)(path)
        assert status == 403 and "没有权限执行此操作" in html
    status, _ = staff.post("/console/notifications/retry-failed")
    assert status == 403

    admin = console(make_staff(role="admin", org="D1"))
    _, today = admin.get("/console/")
    assert 'href="/console/notifications"' in today
    status, html = admin.get("/console/notifications")
    assert status == 200 and "消息推送状态" in html


def test_the_backlog_and_a_permanently_failed_delivery_are_shown(
    app, console, member, adjust, run_worker, make_staff
):
    adjust(
        member(0, "refuse-bob", grants=1)["user"]["id"]
    )  # WeChat answers 43101: failed for good, not retried
    run_worker()
    adjust(member(0, "alice", grants=1)["user"]["id"])  # waits in the outbox: no worker runs
    assert _deliveries(app) == [("failed", 43101)]
    admin = console(make_staff(role="admin", org="D1"))
    _, html = admin.get("/console/notifications")
    assert re.search(r'data-figure="backlog">1<', html)
    assert re.search(r'data-figure="failed-deliveries">1<', html)
    row = html[html.index('id="delivery-1"') :]
    row = row[: row.index("</tr>")]
    assert "永久失败" in row and "<code>43101</code>" in row and "用户拒收" in row and "积分变动" in row
    assert 'data-queue="default"><td>default</td><td>1<' in html


def test_the_retry_button_requeues_failed_jobs_and_they_deliver(
    app, console, member, adjust, run_worker, make_staff, wechat_fake
):
    assert wechat_fake.control("fail", path=SEND, times=10, errcode=-1).ok
    adjust(member(0, "alice", grants=1)["user"]["id"])
    run_worker()  # the first try and three retries, then the failed registry
    assert _deliveries(app) == [("pending", -1)]
    assert _failed_count(app) == 1
    admin = console(make_staff(role="admin", org="D1"))
    _, html = admin.get("/console/notifications")
    assert "deliver_outbox" in html and "TransientDeliveryError" in html
    assert "等待重试" in html and "<code>-1</code>" in html

    wechat_fake.state.injections.clear()  # WeChat is back
    _, html = admin.post("/console/notifications/retry-failed")
    assert "已将 1 个失败任务重新排队" in html
    assert _failed_count(app) == 0
    run_worker()
    assert _deliveries(app) == [("sent", None)]
    assert len(wechat_fake.state.messages) == 1


def test_the_relay_button_enqueues_rows_left_behind(app, console, member, run_worker, make_staff):
    user_id = member(0, "alice", grants=1)["user"]["id"]
    with app.app_context():  # committed, but never handed to the queue (as when Redis was down)
        db.session.add(
            OutboxMessage(
                event="points.adjusted",
                user_id=user_id,
                payload={"memo": "x", "reason": "x", "amount": "+1", "available": 1},
                created_at=app_clock.now() - timedelta(minutes=5),
            )
        )
        db.session.commit()
    admin = console(make_staff(role="admin", org="D1"))
    _, html = admin.get("/console/notifications")
    assert re.search(r'data-figure="oldest">5 分 \d+ 秒<', html)
    _, html = admin.post("/console/notifications/relay")
    assert "已补发 1 条积压消息" in html
    _, html = admin.post("/console/notifications/relay")
    assert "已补发 0 条积压消息" in html  # the job id is the row's: not enqueued twice
    assert run_worker() == 1
    with app.app_context():
        [row] = db.session.scalars(select(OutboxMessage)).all()
        assert row.processed_at is not None


def test_without_redis_the_page_says_so_and_retry_is_refused(app, console, make_staff, monkeypatch):
    admin = console(make_staff(role="admin", org="D1"))
    monkeypatch.delitem(app.extensions, "linli_redis")
    status, html = admin.get("/console/notifications")
    assert status == 200 and "未配置 Redis" in html
    _, html = admin.post("/console/notifications/retry-failed")
    assert "没有失败任务队列" in html
