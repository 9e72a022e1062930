"""The fake WeChat itself, spoken to over raw HTTP the way WeChat is."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from PIL import Image

from server.wechat.fake import FakeWeChatState

from .conftest import APPID, SECRET, FakeControl


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    yield session
    session.close()


def login(http: requests.Session, url: str, **params: str) -> dict[str, Any]:
    query = {"appid": APPID, "secret": SECRET, "grant_type": "authorization_code", **params}
    body: dict[str, Any] = http.get(f"{url}/sns/jscode2session", params=query, timeout=5).json()
    return body


def token(http: requests.Session, url: str, **overrides: Any) -> dict[str, Any]:
    payload = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, **overrides}
    body: dict[str, Any] = http.post(f"{url}/cgi-bin/stable_token", json=payload, timeout=5).json()
    return body


def post(
    http: requests.Session, url: str, path: str, payload: Any, access_token: str | None
) -> requests.Response:
    params = {"access_token": access_token} if access_token is not None else {}
    return http.post(f"{url}{path}", params=params, json=payload, timeout=5)


def errcode_of(http: requests.Session, url: str, path: str, payload: Any, access_token: str | None) -> int:
    code: int = post(http, url, path, payload, access_token).json()["errcode"]
    return code


PHONE = "/wxa/business/getuserphonenumber"
SEND = "/cgi-bin/message/subscribe/send"


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"appid": ""}, 41002),
        ({"secret": ""}, 41004),
        ({"appid": "wx-other"}, 40013),
        ({"secret": "wrong"}, 40125),
        ({"grant_type": "client_credential"}, 40002),
        ({}, 40029),
        ({"js_code": "invalid"}, 40029),
        ({"js_code": "x" * 65}, 40029),
    ],
)
def test_jscode2session_errors(
    http: requests.Session, fake_url: str, params: dict[str, str], errcode: int
) -> None:
    body = login(http, fake_url, **params)
    assert body["errcode"] == errcode
    assert "rid:" in body["errmsg"]


def test_jscode2session_success_has_no_errcode(http: requests.Session, fake_url: str) -> None:
    body = login(http, fake_url, js_code="alice.1")
    assert set(body) == {"openid", "session_key", "unionid"}
    assert len(body["openid"]) == 28


def test_openid_depends_on_appid() -> None:
    one, two = FakeWeChatState("wx-a", "s"), FakeWeChatState("wx-b", "s")
    assert one.openid_for("alice") != two.openid_for("alice")
    assert one.unionid_for("alice") == two.unionid_for("alice")


def test_stable_token_normal_and_forced(http: requests.Session, fake_url: str) -> None:
    first = token(http, fake_url)
    assert first["expires_in"] == 7200
    assert token(http, fake_url)["access_token"] == first["access_token"]
    forced = token(http, fake_url, force_refresh=True)
    assert forced["access_token"] != first["access_token"]
    assert token(http, fake_url)["access_token"] == forced["access_token"]
    # The token replaced by the forced refresh still works.
    assert errcode_of(http, fake_url, PHONE, {"code": "a"}, first["access_token"]) == 0


def test_stable_token_errors(http: requests.Session, fake_url: str) -> None:
    assert token(http, fake_url, grant_type="password")["errcode"] == 40002
    assert token(http, fake_url, secret="nope")["errcode"] == 40125  # noqa: S106  (a wrong test credential)
    not_json = http.post(f"{fake_url}/cgi-bin/stable_token", data=b"not json", timeout=5)
    assert not_json.json()["errcode"] == 47001


@pytest.mark.parametrize(
    "path",
    [
        "/wxa/business/getuserphonenumber",
        "/cgi-bin/message/subscribe/send",
        "/wxa/msg_sec_check",
        "/wxa/getwxacodeunlimit",
    ],
)
def test_token_checks(http: requests.Session, fake_url: str, state: FakeWeChatState, path: str) -> None:
    assert post(http, fake_url, path, {}, None).json()["errcode"] == 41001
    assert post(http, fake_url, path, {}, "made-up").json()["errcode"] == 40001
    access_token = token(http, fake_url)["access_token"]
    state.tokens[access_token] = time.time() - 1
    assert post(http, fake_url, path, {}, access_token).json()["errcode"] == 42001


def test_expire_tokens(http: requests.Session, fake_url: str, control: FakeControl) -> None:
    old = token(http, fake_url)["access_token"]
    control.expire_tokens()
    assert post(http, fake_url, "/wxa/msg_sec_check", {}, old).json()["errcode"] == 40001
    assert token(http, fake_url)["access_token"] != old


def test_phone_number(http: requests.Session, fake_url: str) -> None:
    access_token = token(http, fake_url)["access_token"]
    body = post(http, fake_url, "/wxa/business/getuserphonenumber", {"code": "bob.7"}, access_token).json()
    assert body["errcode"] == 0
    info = body["phone_info"]
    assert info["countryCode"] == "86"
    assert info["watermark"]["appid"] == APPID
    assert len(info["purePhoneNumber"]) == 11
    for code, expected in (("bob.7", 40163), ("invalid.1", 40029), (None, 40029)):
        assert errcode_of(http, fake_url, PHONE, {"code": code}, access_token) == expected


def test_phone_codes_and_login_codes_are_separate(http: requests.Session, fake_url: str) -> None:
    access_token = token(http, fake_url)["access_token"]
    assert "openid" in login(http, fake_url, js_code="same")
    assert errcode_of(http, fake_url, PHONE, {"code": "same"}, access_token) == 0


def test_subscribe_send_records_message(
    http: requests.Session, fake_url: str, state: FakeWeChatState, control: FakeControl
) -> None:
    access_token = token(http, fake_url)["access_token"]
    openid = state.openid_for("carol")
    payload = {"touser": openid, "template_id": "t1", "data": {"thing1": {"value": "你好"}}, "page": "p"}
    body = post(http, fake_url, "/cgi-bin/message/subscribe/send", payload, access_token).json()
    assert body == {"errcode": 0, "errmsg": "ok", "msgid": 1}
    [message] = control.messages()
    assert (message["openid"], message["data"], message["page"]) == (openid, {"thing1": "你好"}, "p")
    bad = {**payload, "miniprogram_state": "beta"}
    assert errcode_of(http, fake_url, SEND, bad, access_token) == 40097
    assert errcode_of(http, fake_url, SEND, [1], access_token) == 47001


def test_thing_values_may_be_20_characters(
    http: requests.Session, fake_url: str, state: FakeWeChatState
) -> None:
    access_token = token(http, fake_url)["access_token"]
    openid = state.openid_for("dan")
    ok = {
        "touser": openid,
        "template_id": "t",
        "data": {"thing1": {"value": "x" * 20}, "number2": {"value": "9" * 30}},
    }
    assert errcode_of(http, fake_url, SEND, ok, access_token) == 0


def test_msg_sec_check_args(http: requests.Session, fake_url: str, state: FakeWeChatState) -> None:
    access_token = token(http, fake_url)["access_token"]
    openid = state.openid_for("eve")
    good = {"content": "risky words", "version": 2, "scene": 2, "openid": openid}
    body = post(http, fake_url, "/wxa/msg_sec_check", good, access_token).json()
    assert body["result"] == {"suggest": "risky", "label": 20001}
    assert body["detail"] and body["trace_id"]
    for bad, errcode in (
        ({**good, "version": 1}, 40097),
        ({**good, "content": ""}, 40097),
        ({**good, "scene": 9}, 40097),
        ({**good, "openid": "o-unknown"}, 40003),
    ):
        assert errcode_of(http, fake_url, "/wxa/msg_sec_check", bad, access_token) == errcode


def test_wxacode(http: requests.Session, fake_url: str) -> None:
    access_token = token(http, fake_url)["access_token"]
    resp = post(http, fake_url, "/wxa/getwxacodeunlimit", {"scene": "id=1", "width": 300}, access_token)
    assert resp.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(resp.content))
    assert (image.format, image.size) == ("PNG", (300, 300))
    for payload, errcode in (
        ({}, 40097),
        ({"scene": "x" * 33}, 40097),
        ({"scene": "a", "page": "invalid/x"}, 41030),
    ):
        answer = post(http, fake_url, "/wxa/getwxacodeunlimit", payload, access_token)
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["errcode"] == errcode


def test_fail_injection_and_calls(http: requests.Session, fake_url: str, control: FakeControl) -> None:
    control.fail("/sns/jscode2session", times=2, errcode=-1)
    control.fail("/sns/jscode2session", status=503)
    assert login(http, fake_url, js_code="a")["errcode"] == -1
    assert login(http, fake_url, js_code="b")["errcode"] == -1
    resp = http.get(f"{fake_url}/sns/jscode2session", timeout=5)
    assert resp.status_code == 503
    assert "openid" in login(http, fake_url, js_code="c")
    assert control.calls("/sns/jscode2session") == 4


def test_fail_delay(http: requests.Session, fake_url: str, control: FakeControl) -> None:
    control.fail("/cgi-bin/stable_token", delay=0.3)
    started = time.monotonic()
    assert "access_token" in token(http, fake_url)
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"path": "no-slash", "errcode": 1},
        {"path": "/x", "times": 0, "errcode": 1},
        {"path": "/x"},
        {"path": "/x", "errcode": 1, "status": 500},
        {"path": "/x", "delay": "soon"},
    ],
)
def test_fail_validation(http: requests.Session, fake_url: str, payload: dict[str, Any]) -> None:
    assert http.post(f"{fake_url}/_fake/fail", json=payload, timeout=5).status_code == 400


def test_reset(http: requests.Session, fake_url: str, control: FakeControl, state: FakeWeChatState) -> None:
    login(http, fake_url, js_code="frank")
    control.fail("/x", errcode=1)
    control.reset()
    assert control.calls("/sns/jscode2session") == 0
    assert (state.users, state.injections, state.tokens) == ({}, {}, {})
    assert "openid" in login(http, fake_url, js_code="frank")  # the code may be used again
