"""The fake WeChat failing, rejecting the token or slow, with a real worker process and its own Redis."""

import pytest

from server.notifications.models import Delivery, OutboxMessage
from server.wechat.cache import RedisTokenCache
from tests.faults.conftest import SEND

pytestmark = pytest.mark.faults

TOKEN = "/cgi-bin/stable_token"  # noqa: S105  (a URL path, not a secret)


def _all_processed(world):
    return lambda: all(row.processed_at is not None for row in world.rows(OutboxMessage))


def test_5xx_and_busy_answers_are_retried_with_back_off_until_wechat_recovers(make_world):
    world = make_world(JOB_RETRY_INTERVALS=(1, 1, 1, 1))
    alice = world.member("alice")
    bob = world.member("bob")
    assert world.wechat.control("fail", path=SEND, times=2, status=502).ok
    assert world.wechat.control("fail", path=SEND, times=1, errcode=-1).ok  # "system busy"
    assert world.adjust(alice["user"]["id"]).status_code == 201
    assert world.adjust(bob["user"]["id"]).status_code == 201

    worker = world.start_worker()
    world.wait(_all_processed(world), "both messages to go out")

    assert [len(world.messages_to(tokens)) for tokens in (alice, bob)] == [1, 1]
    deliveries = world.rows(Delivery)
    assert {d.status for d in deliveries} == {"sent"}
    assert sum(d.attempts for d in deliveries) == 5  # the three failed sends were each retried once more
    assert world.wechat.state.calls[SEND] == 5
    # Each retry waited for its back-off in RQ's scheduled registry, not in a loop of the worker.
    assert worker.log_text().count("scheduled for retry") == 3
    assert world.verify_ledger() == []


def test_a_rejected_access_token_40001_is_refreshed_once_then_the_message_goes(make_world):
    world = make_world()
    alice = world.member("alice", grants=2)
    # The token every process shares (in Redis) is no longer valid at WeChat: it answers 40001.
    with world.app.app_context():
        cache = RedisTokenCache(world.app.extensions["linli_redis"], world.app.config["REDIS_PREFIX"])
        cache.set(f"access_token:{world.app.config['WECHAT_APPID']}", "a-token-wechat-forgot", 3600)
    assert world.adjust(alice["user"]["id"], amount=1).status_code == 201

    world.start_worker()
    world.wait(_all_processed(world), "the first message to go out")
    assert world.wechat.state.calls[TOKEN] == 1  # one forced refresh
    assert world.wechat.state.calls[SEND] == 2  # refused, then sent with the new token

    # WeChat rejects the fresh token once more (40001 injected): one more refresh, no retry of the job.
    assert world.wechat.control("fail", path=SEND, times=1, errcode=40001).ok
    assert world.adjust(alice["user"]["id"], amount=2).status_code == 201
    world.wait(_all_processed(world), "the second message to go out")
    assert world.wechat.state.calls[TOKEN] == 2
    assert world.wechat.state.calls[SEND] == 4
    assert [m["data"]["character_string2"] for m in world.messages_to(alice)] == ["+1", "+2"]
    assert {(d.status, d.attempts) for d in world.rows(Delivery)} == {("sent", 1)}
    assert world.verify_ledger() == []


def test_a_slow_answer_within_the_timeout_goes_once_and_one_beyond_it_is_not_sent_twice(make_world):
    world = make_world(WECHAT_TIMEOUT_SECONDS=2, JOB_RETRY_INTERVALS=(1, 1, 1))
    alice, bob, carol = (world.member(name) for name in ("alice", "bob", "carol"))
    worker = world.start_worker()

    # Slow, but within WECHAT_TIMEOUT_SECONDS: sent once, no retry.
    assert world.wechat.control("fail", path=SEND, times=1, delay=0.3).ok
    assert world.adjust(alice["user"]["id"]).status_code == 201
    world.wait(_all_processed(world), "the slow message to go out")
    [delivery] = world.rows(Delivery)
    assert (delivery.status, delivery.attempts) == ("sent", 1)

    # Slower than the timeout: the worker gives up waiting (it does not hang) and moves on. WeChat
    # may still have delivered it (here it does, once its delay is over), so it is not sent again:
    # like a send cut by a crash, the delivery ends 'unknown' for staff to see.
    assert world.wechat.control("fail", path=SEND, times=1, delay=6).ok
    assert world.adjust(bob["user"]["id"]).status_code == 201
    assert world.adjust(carol["user"]["id"]).status_code == 201
    world.wait(_all_processed(world), "the worker to get past the slow message")
    world.wait(lambda: len(world.wechat.state.messages) == 3, "WeChat to finish the slow send")
    assert worker.process.poll() is None  # still working

    deliveries = {d.user_id: d for d in world.rows(Delivery)}
    slow = deliveries[bob["user"]["id"]]
    assert (slow.status, slow.attempts) == ("unknown", 1)
    assert "timed out" in slow.error
    assert (deliveries[carol["user"]["id"]].status, deliveries[carol["user"]["id"]].attempts) == ("sent", 1)
    assert [len(world.messages_to(tokens)) for tokens in (alice, bob, carol)] == [1, 1, 1]
    assert world.wechat.state.calls[SEND] == 3
    assert world.verify_ledger() == []
