"""WeChatClient against the fake WeChat, over real HTTP."""

from __future__ import annotations

import pickle
import re
import socket
import threading

import fakeredis
import pytest

from server.wechat.cache import MemoryTokenCache, RedisTokenCache
from server.wechat.client import WeChatClient
from server.wechat.errors import (
    WeChatBusy,
    WeChatCodeInvalid,
    WeChatCredentialError,
    WeChatError,
    WeChatInvalidData,
    WeChatInvalidRecipient,
    WeChatInvalidTemplate,
    WeChatNetworkError,
    WeChatNoAnswer,
    WeChatRateLimited,
    WeChatTokenInvalid,
    WeChatUserBlocked,
    WeChatUserRefused,
    error_for,
)

from .conftest import APPID, FakeControl

SEND = "/cgi-bin/message/subscribe/send"
TOKEN = "/cgi-bin/stable_token"  # noqa: S105  (a URL path, not a secret)


# -- login -----------------------------------------------------------------------------------------


def test_code2session_returns_openid_session_key_and_unionid(client: WeChatClient) -> None:
    session = client.code2session("alice.1")
    assert re.fullmatch(r"o[A-Za-z0-9_-]{27}", session.openid)
    assert session.session_key
    assert session.unionid is not None and session.unionid.startswith("U")
    assert session.session_key not in repr(session)


def test_same_user_part_gives_same_openid(client: WeChatClient) -> None:
    first, second = client.code2session("alice.1"), client.code2session("alice.2")
    assert first.openid == second.openid
    assert first.unionid == second.unionid
    assert first.session_key != second.session_key
    assert client.code2session("bob").openid != first.openid


def test_reused_code_is_refused(client: WeChatClient) -> None:
    client.code2session("carol.1")
    with pytest.raises(WeChatCodeInvalid) as info:
        client.code2session("carol.1")
    assert info.value.errcode == 40163
    assert not info.value.retryable


@pytest.mark.parametrize("code", ["invalid-code", "has space", "a.b.c"])
def test_invalid_code(client: WeChatClient, code: str) -> None:
    with pytest.raises(WeChatCodeInvalid) as info:
        client.code2session(code)
    assert info.value.errcode == 40029


def test_empty_code_is_refused_without_a_call(client: WeChatClient, control: FakeControl) -> None:
    with pytest.raises(WeChatCodeInvalid):
        client.code2session("")
    assert control.calls("/sns/jscode2session") == 0


def test_wrong_secret(fake_url: str) -> None:
    with WeChatClient(fake_url, APPID, "not-the-secret", MemoryTokenCache()) as wrong:
        with pytest.raises(WeChatCredentialError) as info:
            wrong.code2session("dave")
        assert info.value.errcode == 40125
        assert "not-the-secret" not in str(info.value)
        with pytest.raises(WeChatCredentialError):
            wrong.access_token()


def test_wrong_appid(fake_url: str) -> None:
    with WeChatClient(fake_url, "wx-other", "fake-secret", MemoryTokenCache()) as wrong:
        with pytest.raises(WeChatCredentialError) as info:
            wrong.code2session("dave")
        assert info.value.errcode == 40013


# -- access token ----------------------------------------------------------------------------------


def test_access_token_is_cached(client: WeChatClient, control: FakeControl) -> None:
    token = client.access_token()
    assert client.access_token() == token
    assert control.calls(TOKEN) == 1


def test_concurrent_callers_fetch_the_token_once(client: WeChatClient, control: FakeControl) -> None:
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(client.access_token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1 and len(tokens) == 8
    assert control.calls(TOKEN) == 1


def test_force_refresh_gets_a_new_token(client: WeChatClient, control: FakeControl) -> None:
    token = client.access_token()
    assert client.access_token(force_refresh=True) != token
    assert control.calls(TOKEN) == 2


def test_token_ttl_keeps_a_margin() -> None:
    cache = MemoryTokenCache(clock=lambda: 0.0)
    client = WeChatClient("http://127.0.0.1:9", APPID, "s", cache, token_margin_seconds=300)
    try:
        assert client._token_ttl(7200) == 6900
        assert client._token_ttl(200) == 60
        assert client._token_ttl(30) == 30
    finally:
        client.close()


def test_expired_token_is_refreshed_exactly_once(client: WeChatClient, control: FakeControl) -> None:
    client.access_token()
    control.expire_tokens()
    phone = client.get_phone_number("erin")
    assert phone.pure_phone_number.startswith("138")
    assert control.calls(TOKEN) == 2
    assert control.calls("/wxa/business/getuserphonenumber") == 2


def test_token_rejected_twice_raises(client: WeChatClient, control: FakeControl) -> None:
    control.fail(SEND, times=2, errcode=40001)
    openid = client.code2session("frank").openid
    with pytest.raises(WeChatTokenInvalid) as info:
        client.send_subscribe_message(openid, "tmpl", {"thing1": "hi"})
    assert info.value.retryable
    assert control.calls(SEND) == 2
    assert control.calls(TOKEN) == 2


# -- phone number ----------------------------------------------------------------------------------


def test_phone_number_shape(client: WeChatClient) -> None:
    phone = client.get_phone_number("grace.1")
    assert re.fullmatch(r"138\d{8}", phone.pure_phone_number)
    assert phone.phone_number == phone.pure_phone_number
    assert phone.country_code == "86"
    assert client.get_phone_number("grace.2") == phone


def test_phone_code_used_twice(client: WeChatClient) -> None:
    client.get_phone_number("heidi")
    with pytest.raises(WeChatCodeInvalid) as info:
        client.get_phone_number("heidi")
    assert info.value.errcode == 40163


# -- subscribe messages ----------------------------------------------------------------------------


def test_subscribe_message_is_sent(client: WeChatClient, control: FakeControl) -> None:
    openid = client.code2session("ivan").openid
    client.send_subscribe_message(
        openid, "tmpl-1", {"thing1": "水管维修", "time2": "2024-05-01 10:00"}, page="p/x"
    )
    [message] = control.messages()
    assert message["openid"] == openid
    assert message["template_id"] == "tmpl-1"
    assert message["data"] == {"thing1": "水管维修", "time2": "2024-05-01 10:00"}
    assert message["page"] == "p/x"


@pytest.mark.parametrize(
    ("user", "template_id", "data", "error", "errcode"),
    [
        ("refuse-judy", "tmpl", {"thing1": "hi"}, WeChatUserRefused, 43101),
        (None, "tmpl", {"thing1": "hi"}, WeChatInvalidRecipient, 40003),
        ("karl", "invalid-tmpl", {"thing1": "hi"}, WeChatInvalidTemplate, 40037),
        ("karl", "tmpl", {"thing1": "x" * 21}, WeChatInvalidData, 47003),
        ("karl", "tmpl", {}, WeChatInvalidData, 47003),
    ],
)
def test_subscribe_message_errors(
    client: WeChatClient,
    control: FakeControl,
    user: str | None,
    template_id: str,
    data: dict[str, str],
    error: type[WeChatError],
    errcode: int,
) -> None:
    openid = client.code2session(user).openid if user else "o-never-logged-in"
    with pytest.raises(error) as info:
        client.send_subscribe_message(openid, template_id, data)
    assert info.value.errcode == errcode
    assert info.value.permanent and not info.value.retryable
    assert control.messages() == []


def test_injected_busy(client: WeChatClient, control: FakeControl) -> None:
    openid = client.code2session("leo").openid
    control.fail(SEND, times=1, errcode=-1)
    with pytest.raises(WeChatBusy) as info:
        client.send_subscribe_message(openid, "tmpl", {"thing1": "hi"})
    assert info.value.retryable
    client.send_subscribe_message(openid, "tmpl", {"thing1": "hi"})  # the injection is used up
    assert len(control.messages()) == 1


def test_injected_rate_limit(client: WeChatClient, control: FakeControl) -> None:
    openid = client.code2session("leo").openid
    control.fail(SEND, times=1, errcode=45009)
    with pytest.raises(WeChatRateLimited) as info:
        client.send_subscribe_message(openid, "tmpl", {"thing1": "hi"})
    assert info.value.retryable


def test_injected_http_502(client: WeChatClient, control: FakeControl) -> None:
    openid = client.code2session("mallory").openid
    control.fail(SEND, times=1, status=502)
    with pytest.raises(WeChatNetworkError) as info:
        client.send_subscribe_message(openid, "tmpl", {"thing1": "hi"})
    assert info.value.errcode is None
    assert info.value.retryable


def test_injected_non_json_body(client: WeChatClient, control: FakeControl) -> None:
    control.fail("/sns/jscode2session", times=1, status=200)
    with pytest.raises(WeChatNetworkError, match="not JSON"):
        client.code2session("nina")


def test_injected_delay_times_out(fake_url: str, control: FakeControl) -> None:
    with WeChatClient(fake_url, APPID, "fake-secret", MemoryTokenCache(), timeout=(2.0, 0.2)) as slow:
        control.fail("/sns/jscode2session", times=1, delay=1.0)
        with pytest.raises(WeChatNetworkError, match="timed out") as info:
            slow.code2session("oscar")
        assert info.value.retryable
        assert "fake-secret" not in str(info.value)


def test_a_send_without_an_answer_may_have_been_delivered(fake_url: str, control: FakeControl) -> None:
    # A read timeout means the message went out and WeChat may have delivered it: the caller must be able
    # to tell that from a failure where nothing was sent (the delivery job does not resend it).
    with WeChatClient(fake_url, APPID, "fake-secret", MemoryTokenCache(), timeout=(2.0, 0.2)) as slow:
        openid = slow.code2session("olga").openid
        slow.access_token()
        control.fail(SEND, times=1, delay=1.0)
        with pytest.raises(WeChatNoAnswer, match="timed out waiting for the answer"):
            slow.send_subscribe_message(openid, "tmpl", {"thing1": "hi"})
        assert control.calls(SEND) == 1


def test_a_token_fetch_without_an_answer_is_a_network_error(fake_url: str, control: FakeControl) -> None:
    with WeChatClient(fake_url, APPID, "fake-secret", MemoryTokenCache(), timeout=(2.0, 0.2)) as slow:
        openid = slow.code2session("pavel").openid
        control.fail(TOKEN, times=1, delay=1.0)
        with pytest.raises(WeChatNetworkError) as info:  # the message itself was never sent
            slow.send_subscribe_message(openid, "tmpl", {"thing1": "hi"})
        assert not isinstance(info.value, WeChatNoAnswer)
        assert control.calls(SEND) == 0


def test_connection_refused_does_not_leak_the_secret() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with (
        WeChatClient(closed_port, APPID, "top-secret", MemoryTokenCache(), timeout=(1, 1)) as client,
        pytest.raises(WeChatNetworkError) as info,
    ):
        client.code2session("peggy")
    assert "top-secret" not in str(info.value)
    assert "peggy" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# -- content security ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "suggest", "label"),
    [("今天天气不错", "pass", 100), ("这条待审", "review", 21000), ("有违规内容", "risky", 20001)],
)
def test_msg_sec_check(client: WeChatClient, content: str, suggest: str, label: int) -> None:
    openid = client.code2session("quinn").openid
    result = client.msg_sec_check(content, openid)
    assert (result.suggest, result.label) == (suggest, label)
    assert result.trace_id


# -- mini program codes ----------------------------------------------------------------------------


def test_wxacode_is_a_png(client: WeChatClient) -> None:
    image = client.get_wxacode_unlimit("org=42", page="pages/org/detail")
    assert image.startswith(b"\x89PNG")


def test_wxacode_bad_page(client: WeChatClient) -> None:
    with pytest.raises(WeChatInvalidData) as info:
        client.get_wxacode_unlimit("org=42", page="invalid/page")
    assert info.value.errcode == 41030


@pytest.mark.parametrize("scene", ["x" * 33, "", "中文"])
def test_bad_scene_is_refused_locally(client: WeChatClient, control: FakeControl, scene: str) -> None:
    with pytest.raises(WeChatInvalidData) as info:
        client.get_wxacode_unlimit(scene)
    assert info.value.errcode == 40097
    assert control.calls("/wxa/getwxacodeunlimit") == 0
    assert control.calls(TOKEN) == 0


def test_wxacode_refreshes_a_rejected_token(client: WeChatClient, control: FakeControl) -> None:
    client.access_token()
    control.expire_tokens()
    assert client.get_wxacode_unlimit("a=1").startswith(b"\x89PNG")
    assert control.calls(TOKEN) == 2


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "cls", "permanent"),
    [
        (40029, WeChatCodeInvalid, True),
        (40226, WeChatUserBlocked, True),
        (42001, WeChatTokenInvalid, False),
        (40164, WeChatCredentialError, True),
        (41004, WeChatCredentialError, True),
        (43101, WeChatUserRefused, True),
        (47001, WeChatInvalidData, True),
        (45011, WeChatRateLimited, False),
        (-1, WeChatBusy, False),
        (99999, WeChatError, True),
    ],
)
def test_error_for(errcode: int, cls: type[WeChatError], permanent: bool) -> None:
    error = error_for(errcode, "msg")
    assert type(error) is cls
    assert (error.errcode, error.errmsg, error.permanent, error.retryable) == (
        errcode,
        "msg",
        permanent,
        not permanent,
    )


def test_errors_survive_pickling() -> None:
    for error in (error_for(43101, "refused"), WeChatNetworkError("timed out")):
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own bytes, pickled just above)
        assert (type(copy), copy.errcode, copy.errmsg) == (type(error), error.errcode, error.errmsg)


# -- caches ----------------------------------------------------------------------------------------


def test_memory_cache_expiry() -> None:
    now = [100.0]
    cache = MemoryTokenCache(clock=lambda: now[0])
    cache.set("k", "v", ttl_seconds=10)
    assert cache.get("k") == "v"
    now[0] = 109.9
    assert cache.get("k") == "v"
    now[0] = 110.0
    assert cache.get("k") is None
    cache.set("k", "w", 10)
    cache.delete("k")
    assert cache.get("k") is None
    cache.delete("missing")


def test_redis_cache() -> None:
    redis = fakeredis.FakeRedis()
    cache = RedisTokenCache(redis, prefix="linli:")
    assert cache.get("access_token:wx") is None
    cache.set("access_token:wx", "tok", ttl_seconds=100)
    assert cache.get("access_token:wx") == "tok"
    assert 0 < redis.ttl("linli:wechat:access_token:wx") <= 100
    cache.set("zero", "z", ttl_seconds=0)  # Redis refuses EX 0: kept for a second instead
    assert cache.get("zero") == "z"
    cache.delete("access_token:wx")
    assert cache.get("access_token:wx") is None
    assert RedisTokenCache(fakeredis.FakeRedis(decode_responses=True)).get("nothing") is None


def test_client_with_redis_cache_shares_the_token(fake_url: str, control: FakeControl) -> None:
    redis = fakeredis.FakeRedis()
    with (
        WeChatClient(fake_url, APPID, "fake-secret", RedisTokenCache(redis, "a:")) as one,
        WeChatClient(fake_url, APPID, "fake-secret", RedisTokenCache(redis, "a:")) as two,
    ):
        assert one.access_token() == two.access_token()
    assert control.calls(TOKEN) == 1
