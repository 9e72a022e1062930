"""Fixtures: the fake WeChat served over real HTTP, and a client talking to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from server.wechat.cache import MemoryTokenCache
from server.wechat.client import WeChatClient
from server.wechat.fake import FakeWeChatState, create_fake_wechat, fake_state

APPID = "wx-fake-appid"
SECRET = "fake-secret"  # noqa: S105  (the fake WeChat's credential)


class FakeControl:
    """The fake's ``/_fake/`` endpoints, over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()

    def fail(self, path: str, **injection: Any) -> None:
        resp = self.http.post(f"{self.base_url}/_fake/fail", json={"path": path, **injection}, timeout=5)
        assert resp.status_code == 200, resp.text

    def calls(self, path: str) -> int:
        counts: dict[str, int] = self.http.get(f"{self.base_url}/_fake/calls", timeout=5).json()
        return counts.get(path, 0)

    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.http.get(f"{self.base_url}/_fake/messages", timeout=5).json()
        return messages

    def expire_tokens(self) -> None:
        assert self.http.post(f"{self.base_url}/_fake/expire-tokens", timeout=5).status_code == 200

    def reset(self) -> None:
        assert self.http.post(f"{self.base_url}/_fake/reset", timeout=5).status_code == 200


@pytest.fixture
def fake_app() -> Flask:
    return create_fake_wechat(APPID, SECRET)


@pytest.fixture
def state(fake_app: Flask) -> FakeWeChatState:
    return fake_state(fake_app)


@pytest.fixture
def fake_url(fake_app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, fake_app, threaded=True)
    # A short poll interval keeps shutdown() quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def control(fake_url: str) -> Iterator[FakeControl]:
    ctl = FakeControl(fake_url)
    yield ctl
    ctl.close()


@pytest.fixture
def client(fake_url: str) -> Iterator[WeChatClient]:
    wechat = WeChatClient(fake_url, APPID, SECRET, MemoryTokenCache(), timeout=(2.0, 5.0))
    yield wechat
    wechat.close()
