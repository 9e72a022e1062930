"""A worker SIGKILLed in the middle of sending a WeChat message: never sent twice, the rest go once."""

import time
from datetime import timedelta

import pytest
from rq.registry import StartedJobRegistry

from server.jobs import job_id, queue
from server.notifications import jobs as notification_jobs
from server.notifications.jobs import relay_outbox
from server.notifications.models import Delivery, Notification, OutboxMessage
from tests.faults.conftest import SEND
from tests.faults.throwaway import wait_until

pytestmark = pytest.mark.faults


def test_a_worker_killed_mid_send_marks_the_delivery_unknown_and_delivers_the_others_once(
    make_world, monkeypatch
):
    # Retries without back-off: a retry scheduled for later would wait for a scheduler, and the killed
    # worker's scheduler locks keep the new worker from starting one for a minute (RQ's lock TTL).
    world = make_world(WECHAT_TIMEOUT_SECONDS=30, JOB_RETRY_INTERVALS=(0, 0, 0))
    members = [world.member(name) for name in ("alice", "bob", "carol")]
    # WeChat takes 5 s over the first message: the worker is killed while it waits for the answer.
    assert world.wechat.control("fail", path=SEND, times=1, delay=5).ok
    for tokens in members:
        assert world.adjust(tokens["user"]["id"]).status_code == 201

    worker = world.start_worker()
    world.wait(lambda: world.wechat.state.calls[SEND] >= 1, "the worker's first send")
    worker.kill()  # SIGKILL to the worker and its scheduler: no cleanup, no goodbye
    assert worker.process.returncode == -9
    assert world.wechat.state.calls[SEND] == 1

    # The delivery was committed as 'sending' before the call; the job stays "started" in RQ.
    [sending] = world.rows(Delivery)
    assert (sending.status, sending.attempts) == ("sending", 1)
    with world.app.app_context():
        killed_job = job_id("outbox", sending.outbox_id)
        started = StartedJobRegistry(queue=queue("default", world.app.extensions["linli_redis"]))
        assert started.get_job_ids() == [killed_job]
        # The relay hands nothing over again: every row's job id is still taken (started or queued).
        monkeypatch.setattr(notification_jobs, "RELAY_AFTER", timedelta(0))
        assert relay_outbox() == 0
    # WeChat took the message anyway, once its delay was over.
    wait_until(lambda: len(world.wechat.state.messages) == 1, "WeChat to finish the slow send")

    # RQ's abandoned-job handling, as a worker's maintenance runs it once the dead worker's heartbeat has
    # lapsed (job timeout + 60 s): the job is retried.
    started.cleanup(timestamp=time.time() + 3600)
    assert started.get_job_ids() == []

    world.start_worker()
    world.wait(
        lambda: all(row.processed_at is not None for row in world.rows(OutboxMessage)),
        "the new worker to finish every outbox row",
    )
    deliveries = {d.outbox_id: d for d in world.rows(Delivery)}
    killed = deliveries.pop(sending.outbox_id)
    assert (killed.status, killed.error, killed.attempts) == ("unknown", "an earlier run stopped mid-send", 1)
    assert {(d.status, d.attempts) for d in deliveries.values()} == {("sent", 1)}
    assert len(deliveries) == 2
    # Each member got their message once: the killed one was not sent again, the others went once.
    assert [len(world.messages_to(tokens)) for tokens in members] == [1, 1, 1]
    assert world.wechat.state.calls[SEND] == 3
    assert world.count(Notification) == 3
    assert world.verify_ledger() == []
