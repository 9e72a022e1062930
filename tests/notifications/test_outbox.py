"""The outbox and its delivery: commit sends, rollback does not, nothing lost, nothing sent twice."""

from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select

from server import clock as app_clock
from server.db import db
from server.jobs import QUEUES, job_id, queue, schedule_periodic
from server.notifications import jobs as notification_jobs
from server.notifications import services
from server.notifications.jobs import deliver_outbox, relay_outbox
from server.notifications.models import Delivery, Notification, OutboxMessage, SubscriptionGrant
from server.notifications.services import publish
from server.wechat.errors import WeChatNoAnswer
from tests.conftest import bearer

SEND = "/cgi-bin/message/subscribe/send"
POINTS_TEMPLATE = "tmpl-points-change"


@pytest.fixture
def adjust(client, make_staff, login_staff):
    """A staff member of C1 adjusts a user's points through the API (publishing points.adjusted)."""
    headers = bearer(login_staff(make_staff()))

    def run(user_id, amount=5, reason="补录志愿服务"):
        return client.post(
            "/api/v1/points/adjustments",
            json={"user_id": user_id, "amount": amount, "reason": reason},
            headers=headers,
        )

    return run


def _one(app, model):
    with app.app_context():
        rows = db.session.scalars(select(model)).all()
        db.session.expunge_all()
        return rows


def _queued(app):
    with app.app_context():
        return sum(queue(name, app.extensions["linli_redis"]).count for name in QUEUES)


def test_a_commit_delivers_to_the_inbox_and_wechat_once(app, client, member, adjust, run_worker, wechat_fake):
    tokens = member(0, "alice", grants=1)
    assert adjust(tokens["user"]["id"]).status_code == 201
    assert _queued(app) == 1
    assert run_worker() == 1

    inbox = client.get("/api/v1/me/notifications", headers=bearer(tokens)).get_json()
    assert inbox["unread_count"] == 1
    assert inbox["items"][0]["title"] == "积分变动"
    assert inbox["items"][0]["body"] == "人工调整：补录志愿服务 +5，当前可用积分 5。"
    [message] = wechat_fake.state.messages
    assert message["template_id"] == POINTS_TEMPLATE
    assert message["data"]["thing1"] == "补录志愿服务"
    assert message["data"]["character_string2"] == "+5"
    [delivery] = _one(app, Delivery)
    assert (delivery.status, delivery.attempts) == ("sent", 1)
    assert client.get("/api/v1/me/subscriptions", headers=bearer(tokens)).get_json()["grants"] == {
        POINTS_TEMPLATE: 0
    }

    # running the job again sends nothing
    [outbox] = _one(app, OutboxMessage)
    assert deliver_outbox(outbox.id) == "nothing to do"
    assert run_worker() == 0
    assert wechat_fake.state.calls[SEND] == 1
    assert len(_one(app, Notification)) == 1


def test_a_rollback_sends_nothing(app, member, run_worker, wechat_fake):
    user_id = member(0, "alice", grants=1)["user"]["id"]
    with app.app_context():
        publish("points.adjusted", [user_id], {"memo": "x", "reason": "x", "amount": "+1", "available": 1})
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert _queued(app) == 0
    assert run_worker() == 0
    assert wechat_fake.state.messages == []


def test_a_refused_request_publishes_nothing(app, member, adjust):
    user_id = member(0, "alice", grants=1)["user"]["id"]
    assert adjust(user_id, amount=-5).status_code == 409
    assert _one(app, OutboxMessage) == []
    assert _queued(app) == 0


def test_without_a_grant_only_the_inbox_gets_it(app, client, member, adjust, run_worker, wechat_fake):
    tokens = member(0, "alice")
    adjust(tokens["user"]["id"])
    run_worker()
    assert client.get("/api/v1/me/notifications", headers=bearer(tokens)).get_json()["total"] == 1
    assert wechat_fake.state.calls[SEND] == 0
    [delivery] = _one(app, Delivery)
    assert (delivery.status, delivery.error) == ("skipped", "no subscribe grant")
    [outbox] = _one(app, OutboxMessage)
    assert outbox.processed_at is not None


def test_redis_down_during_the_request_loses_nothing(
    app, client, member, adjust, run_worker, wechat_fake, monkeypatch
):
    tokens = member(0, "alice", grants=1)
    live = app.extensions["linli_redis"]
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    app.extensions["linli_redis"] = dead
    try:
        response = adjust(tokens["user"]["id"])
    finally:
        app.extensions["linli_redis"] = live
        dead.close()
    assert response.status_code == 201  # the request succeeds
    [outbox] = _one(app, OutboxMessage)
    assert outbox.processed_at is None  # and the row waits in the outbox
    assert _queued(app) == 0

    monkeypatch.setattr(notification_jobs, "RELAY_AFTER", timedelta(0))
    with app.app_context():
        assert relay_outbox() == 1
        assert relay_outbox() == 0  # enqueued once: the job id is taken
    run_worker()
    assert wechat_fake.state.calls[SEND] == 1
    with app.app_context():
        assert relay_outbox() == 0
    assert run_worker() == 0
    assert wechat_fake.state.calls[SEND] == 1


def test_43101_is_recorded_and_not_retried(app, member, adjust, run_worker, wechat_fake):
    tokens = member(0, "refuse-bob", grants=1)
    adjust(tokens["user"]["id"])
    run_worker()
    assert wechat_fake.state.calls[SEND] == 1
    [delivery] = _one(app, Delivery)
    assert (delivery.status, delivery.errcode) == ("failed", 43101)
    [grant] = _one(app, SubscriptionGrant)
    assert grant.remaining == 0
    [outbox] = _one(app, OutboxMessage)
    assert outbox.processed_at is not None
    assert run_worker() == 0


def test_a_5xx_is_retried_until_it_succeeds(app, member, adjust, run_worker, wechat_fake):
    tokens = member(0, "alice", grants=1)
    assert wechat_fake.control("fail", path=SEND, times=2, status=502).ok
    adjust(tokens["user"]["id"])
    run_worker()
    assert wechat_fake.state.calls[SEND] == 3
    assert len(wechat_fake.state.messages) == 1
    [delivery] = _one(app, Delivery)
    assert (delivery.status, delivery.attempts) == ("sent", 3)


def test_busy_is_retried_and_then_kept_in_the_failed_registry(app, member, adjust, run_worker, wechat_fake):
    tokens = member(0, "alice", grants=1)
    assert wechat_fake.control("fail", path=SEND, times=10, errcode=-1).ok
    adjust(tokens["user"]["id"])
    run_worker()
    assert wechat_fake.state.calls[SEND] == 4  # the first try and three retries
    [delivery] = _one(app, Delivery)
    assert (delivery.status, delivery.errcode) == ("pending", -1)
    from rq.registry import FailedJobRegistry

    with app.app_context():
        failed = FailedJobRegistry(queue=queue("default", app.extensions["linli_redis"]))
        assert failed.count == 1
        runner = app.test_cli_runner()
        assert "requeued 1 failed jobs" in runner.invoke(args=["jobs", "retry-failed"]).output
    wechat_fake.state.injections.clear()  # WeChat is back
    run_worker()
    [delivery] = _one(app, Delivery)
    assert delivery.status == "sent"


def test_a_job_that_dies_mid_send_is_not_sent_again(app, member, adjust, wechat_fake, monkeypatch):
    tokens = member(0, "alice", grants=1)
    with app.app_context():
        # the request's after-commit enqueue is not what this test is about: keep the job for us
        monkeypatch.setattr(deliver_outbox, "enqueue", lambda *a, **k: True)
    adjust(tokens["user"]["id"])
    [outbox] = _one(app, OutboxMessage)

    class Killed(BaseException):
        """The process dying between WeChat's answer and our record of it."""

    def die(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(services, "finish_wechat", die)
    with pytest.raises(Killed):
        deliver_outbox(outbox.id)
    monkeypatch.undo()
    assert wechat_fake.state.calls[SEND] == 1
    assert deliver_outbox(outbox.id) == "delivered"  # the retry
    assert wechat_fake.state.calls[SEND] == 1
    [delivery] = _one(app, Delivery)
    assert delivery.status == "unknown"


def test_an_expired_access_token_is_refreshed_once(app, member, adjust, run_worker, wechat_fake):
    tokens = member(0, "alice", grants=1)
    adjust(tokens["user"]["id"])
    run_worker()
    before = wechat_fake.state.calls["/cgi-bin/stable_token"]
    assert wechat_fake.control("expire-tokens").ok
    adjust(tokens["user"]["id"], amount=1)
    client_grant = app.test_client().post(
        "/api/v1/me/subscriptions", json={"template_ids": [POINTS_TEMPLATE]}, headers=bearer(tokens)
    )
    assert client_grant.status_code == 200
    # the grant came after the second adjustment's job was queued: deliver a third one with the grant
    adjust(tokens["user"]["id"], amount=2)
    run_worker()
    assert wechat_fake.state.calls["/cgi-bin/stable_token"] == before + 1
    assert len(wechat_fake.state.messages) == 2


def test_the_relay_picks_only_rows_left_behind(app, member):
    user_id = member(0, "alice", grants=1)["user"]["id"]
    with app.app_context():
        [outbox_id] = publish("points.adjusted", [user_id], {})
        db.session.commit()
        assert services.pending_outbox(timedelta(seconds=30)) == []
        assert services.pending_outbox(timedelta(0)) == [outbox_id]


def test_periodic_jobs_are_scheduled_once_per_slot(app):
    with app.app_context():
        connection = app.extensions["linli_redis"]
        first = schedule_periodic(connection, app_clock.now())
        again = schedule_periodic(connection, app_clock.now())
        assert first >= 2
        assert again == 0


def test_readyz_warns_of_an_old_backlog_without_failing(app, client, member):
    user_id = member(0, "alice", grants=1)["user"]["id"]
    with app.app_context():
        db.session.add(
            OutboxMessage(
                event="points.adjusted",
                user_id=user_id,
                payload={},
                created_at=app_clock.now() - timedelta(minutes=10),
            )
        )
        db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["warnings"][0].startswith("outbox backlog: 1 waiting")


def test_jobs_status_shows_queues_and_the_outbox(app, member, adjust):
    adjust(member(0, "alice", grants=1)["user"]["id"])
    output = app.test_cli_runner().invoke(args=["jobs", "status"]).output
    assert "queue default  queued      1" in output
    assert "outbox   waiting      1" in output


def _queued_ids(app):
    with app.app_context():
        return {job_id for name in QUEUES for job_id in queue(name, app.extensions["linli_redis"]).job_ids}


def test_a_released_savepoint_does_not_dispatch_before_the_commit(app, member):
    # SQLAlchemy's after_commit also fires when a savepoint is released. Dispatching then let a worker
    # run the job before the row was committed ("nothing to do"), and the finished job's id then kept
    # the relay from handing the row over for minutes (bulk approvals publish inside savepoints).
    if app.extensions.get("linli_redis") is None:
        pytest.skip("needs Redis")
    user_id = member(0, "alice", grants=1)["user"]["id"]
    with app.app_context():
        with db.session.begin_nested():
            [outbox_id] = publish("points.adjusted", [user_id], {})
        assert _queued(app) == 0
        db.session.commit()
        expected = job_id("outbox", outbox_id)
    assert _queued_ids(app) == {expected}


def test_a_rolled_back_savepoint_keeps_what_was_published_before_it(app, member):
    if app.extensions.get("linli_redis") is None:
        pytest.skip("needs Redis")
    user_id = member(0, "alice", grants=1)["user"]["id"]
    with app.app_context():
        [kept] = publish("points.adjusted", [user_id], {})
        with pytest.raises(LookupError), db.session.begin_nested():  # noqa: PT012  (the refusal is raised inside the savepoint it rolls back)
            publish("points.adjusted", [user_id], {})
            raise LookupError("a refusal inside the savepoint")
        db.session.commit()
        expected = job_id("outbox", kept)
    assert expected in _queued_ids(app)


def test_a_send_without_an_answer_is_marked_unknown_and_not_retried(app, member, adjust, monkeypatch):
    tokens = member(0, "alice", grants=1)
    with app.app_context():
        monkeypatch.setattr(deliver_outbox, "enqueue", lambda *a, **k: True)
    adjust(tokens["user"]["id"])
    [outbox] = _one(app, OutboxMessage)

    def no_answer(*args, **kwargs):
        raise WeChatNoAnswer("POST /cgi-bin/message/subscribe/send: timed out waiting for the answer")

    monkeypatch.setattr(app.extensions["linli_wechat"], "send_subscribe_message", no_answer)
    with app.app_context():
        assert deliver_outbox(outbox.id) == "unknown (no answer)"
    monkeypatch.undo()
    with app.app_context():
        assert deliver_outbox(outbox.id) == "nothing to do"  # processed: never sent a second time
    [delivery] = _one(app, Delivery)
    assert (delivery.status, delivery.attempts) == ("unknown", 1)
    assert "timed out" in delivery.error
