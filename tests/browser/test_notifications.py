"""Notifications health in a browser: admins see the backlog and failures and retry; staff may not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import expect
from rq import SimpleWorker
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from server.db import db
from server.jobs import QUEUES, queue, set_job_app
from server.notifications.models import Delivery
from tests.conftest import Org, bearer

SEND = "/cgi-bin/message/subscribe/send"
POINTS_TEMPLATE = "tmpl-points-change"


@pytest.fixture
def run_worker(app: Flask) -> Iterator[Callable[[], None]]:
    """Run an RQ SimpleWorker in burst mode over every queue (real Redis), retries without waiting."""
    connection = app.extensions.get("linli_redis")
    if connection is None:
        pytest.skip("needs Redis")
    set_job_app(app)
    app.config["JOB_RETRY_INTERVALS"] = (0, 0, 0)

    def work() -> None:
        with app.app_context():
            queues = [queue(name, connection) for name in QUEUES]
        SimpleWorker(queues, connection=connection).work(burst=True)

    yield work
    app.config.pop("JOB_RETRY_INTERVALS", None)


@pytest.fixture
def points_adjusted(
    client: FlaskClient,
    login_user: Callable[..., dict[str, Any]],
    org_tree: dict[str, Org],
    make_staff: Callable[..., Any],
    login_staff: Callable[..., dict[str, Any]],
) -> Callable[[str], int]:
    """A resident of C1 who granted the points template gets an adjustment (an outbox row); their id."""
    staff = bearer(login_staff(make_staff(org="C1")))

    def make(name: str) -> int:
        tokens = login_user(name)
        client.patch("/api/v1/me", json={"community_id": org_tree["C1"].id}, headers=bearer(tokens))
        granted = client.post(
            "/api/v1/me/subscriptions", json={"template_ids": [POINTS_TEMPLATE]}, headers=bearer(tokens)
        )
        assert granted.status_code == 200
        user_id: int = tokens["user"]["id"]
        adjusted = client.post(
            "/api/v1/points/adjustments",
            json={"user_id": user_id, "amount": 5, "reason": "补录志愿服务"},
            headers=staff,
        )
        assert adjusted.status_code == 201
        return user_id

    return make


def _deliveries(app: Flask) -> list[tuple[str, int | None]]:
    with app.app_context():
        return [(d.status, d.errcode) for d in db.session.scalars(select(Delivery).order_by(Delivery.id))]


def _failed_jobs(app: Flask) -> int:
    with app.app_context():
        return FailedJobRegistry(queue=queue("default", app.extensions["linli_redis"])).count


def test_an_admin_sees_the_backlog_and_a_failed_delivery_with_its_errcode(
    app, console_login, make_staff, points_adjusted, run_worker
):
    points_adjusted("refuse-bob")  # WeChat refuses (43101): failed for good
    run_worker()
    points_adjusted("alice")  # no worker runs after this one: it waits in the outbox
    assert _deliveries(app) == [("failed", 43101)]

    page = console_login(make_staff(role="admin", org="D1"))
    page.get_by_role("link", name="消息推送").click()
    expect(page.get_by_role("heading", name="消息推送状态")).to_be_visible()
    expect(page.locator("[data-figure='backlog']")).to_have_text("1")
    expect(page.locator("[data-figure='failed-deliveries']")).to_have_text("1")
    failed = page.locator("#deliveries tbody tr").first
    expect(failed).to_contain_text("永久失败")
    expect(failed).to_contain_text("43101")
    expect(failed).to_contain_text("用户拒收")
    expect(page.locator("#queues [data-queue='default']")).to_contain_text("1")


def test_a_plain_staff_account_gets_403_and_no_menu_entry(console_login, make_staff):
    page = console_login(make_staff(role="staff", org="D1"))
    expect(page.get_by_role("link", name="微心愿")).to_be_visible()
    expect(page.get_by_role("link", name="消息推送")).to_have_count(0)
    response = page.goto("/console/notifications")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading")).to_contain_text("没有权限执行此操作")


def test_the_retry_button_puts_failed_jobs_back_and_they_are_delivered(
    app, console_login, make_staff, points_adjusted, run_worker, wechat_fake
):
    assert wechat_fake.control("fail", path=SEND, times=10, errcode=-1).ok  # WeChat busy
    points_adjusted("alice")
    run_worker()  # the first try and three retries, then the failed registry
    assert _deliveries(app) == [("pending", -1)]
    assert _failed_jobs(app) == 1

    page = console_login(make_staff(role="admin", org="D1"))
    page.goto("/console/notifications")
    expect(page.locator("[data-figure='failed-jobs']")).to_have_text("1")
    expect(page.locator("#failed-jobs tbody")).to_contain_text("deliver_outbox")
    expect(page.locator("#deliveries tbody tr").first).to_contain_text("等待重试")

    wechat_fake.state.injections.clear()  # WeChat is back
    page.get_by_role("button", name="重试失败任务").click()
    expect(page.locator(".flash.ok")).to_have_text("已将 1 个失败任务重新排队")
    expect(page.locator("[data-figure='failed-jobs']")).to_have_text("0")
    assert _failed_jobs(app) == 0
    run_worker()
    assert _deliveries(app) == [("sent", None)]
    assert len(wechat_fake.state.messages) == 1
