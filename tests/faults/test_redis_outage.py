"""Redis stopped and started during requests: nothing fails, nothing is lost, each message goes once."""

from datetime import timedelta

import pytest

from server.jobs import QUEUES, queue
from server.notifications import jobs as notification_jobs
from server.notifications.models import Delivery, Notification, OutboxMessage
from tests.conftest import bearer
from tests.faults.conftest import POINTS_TEMPLATE, REVIEW_TEMPLATE

pytestmark = pytest.mark.faults


def _queued(world) -> int:
    with world.app.app_context():
        return sum(queue(name, world.app.extensions["linli_redis"]).count for name in QUEUES)


def test_requests_succeed_while_redis_is_down_and_every_message_goes_once_after(make_world, monkeypatch):
    world = make_world(LOGIN_RATE_LIMIT="3 per minute", JOB_RETRY_INTERVALS=(0, 0, 0))
    client = world.client
    alice = world.member("alice", grants=3)
    bob = world.member("bob", grants=1, template=REVIEW_TEMPLATE)
    report = client.post(
        "/api/v1/me/party-report",
        json={"community_id": world.community_id, "branch": "第一党支部"},
        headers=bearer(bob),
    )
    assert report.status_code == 201, report.get_json()

    # One message is queued while Redis is up; Redis keeps nothing on disk, so its restart loses the job.
    assert world.adjust(alice["user"]["id"], amount=1).status_code == 201
    assert _queued(world) == 1

    world.redis.stop()

    # Requests that publish notifications still succeed: the outbox row is part of their transaction.
    assert world.adjust(alice["user"]["id"], amount=2).status_code == 201
    approved = client.post(
        f"/api/v1/party-reports/{report.get_json()['id']}/approve", headers=world.staff_headers
    )
    assert approved.status_code == 200, approved.get_json()
    # Logins still work, the rate limits counted in memory meanwhile (still enforced).
    assert client.post("/api/v1/auth/wechat", json={"code": "carol.1"}).status_code == 200
    attempts = [
        client.post("/api/v1/auth/staff", json={"username": "fault_staff", "password": "correct-horse-1"})
        for _ in range(4)
    ]
    assert [a.status_code for a in attempts] == [200, 200, 200, 429]
    assert attempts[-1].get_json()["error"]["code"] == "RATE_LIMITED"
    # /readyz names Redis.
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["down"] == ["redis"]
    assert ready.get_json()["checks"]["database"] == "ok"
    outbox = world.rows(OutboxMessage)
    assert len(outbox) == 3
    assert all(row.processed_at is None for row in outbox)

    world.redis.start()
    assert client.get("/readyz").status_code == 200
    assert _queued(world) == 0  # the queue came back empty

    # The relay hands each waiting row to the queue once; a worker delivers them.
    monkeypatch.setattr(notification_jobs, "RELAY_AFTER", timedelta(0))
    runner = world.app.test_cli_runner()
    assert "enqueued 3 outbox rows" in runner.invoke(args=["jobs", "relay"]).output
    assert "enqueued 0 outbox rows" in runner.invoke(args=["jobs", "relay"]).output
    assert world.work_here() == 3

    assert [m["data"]["character_string2"] for m in world.messages_to(alice)] == ["+1", "+2"]
    assert [m["template_id"] for m in world.messages_to(alice)] == [POINTS_TEMPLATE] * 2
    assert [m["template_id"] for m in world.messages_to(bob)] == [REVIEW_TEMPLATE]
    deliveries = world.rows(Delivery)
    assert sorted(d.outbox_id for d in deliveries) == [row.id for row in outbox]
    assert {(d.status, d.attempts) for d in deliveries} == {("sent", 1)}
    assert world.count(Notification) == 3
    assert all(row.processed_at is not None for row in world.rows(OutboxMessage))

    # Nothing is left to relay or to run, and nothing went twice.
    assert "enqueued 0 outbox rows" in runner.invoke(args=["jobs", "relay"]).output
    assert world.work_here() == 0
    assert len(world.wechat.state.messages) == 3
    assert world.verify_ledger() == []
