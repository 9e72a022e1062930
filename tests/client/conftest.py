"""Fixtures of the client stories: phones running the mini program on the simulated WeChat runtime, staff
phones, WeChat's own scanner, the two clocks, and a worker that delivers the inbox."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from rq import SimpleWorker

from server.jobs import QUEUES, queue, set_job_app
from tests.client.simulator import Phone, WeChat, Wx
from tests.conftest import Clock, Org, Staff

CHECKIN_PAGE = "pages/checkin/index"


class Clocks:
    """The app's two clocks moved together. ``clock`` (server.clock.now) is the frozen one most code reads;
    access and refresh tokens live on ``server.clock.wall``, because PyJWT checks ``exp`` against the
    machine's time. So time only goes back and forth between the past and now: ``rewind`` sets both
    clocks back (a phone that logs in then holds tokens issued that long ago), ``advance`` moves both on;
    the wall clock never runs ahead of the machine (PyJWT refuses a token issued in the future)."""

    def __init__(self, frozen: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
        self.frozen = frozen
        self.lag = timedelta(0)
        monkeypatch.setattr("server.clock.wall", self._wall)

    def _wall(self) -> datetime:
        return datetime.now(UTC) - self.lag

    def rewind(self, delta: timedelta) -> None:
        """Both clocks go back by ``delta``."""
        self.frozen.now -= delta
        self.lag += delta

    def advance(self, delta: timedelta) -> None:
        """Both clocks move on by ``delta``; the frozen clock alone past the wall's catching up to now."""
        self.frozen.now += delta
        self.lag = max(self.lag - delta, timedelta(0))


@pytest.fixture
def clocks(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Clocks:
    """The frozen clock (at CLOCK_START, Tuesday 10:00 in Shanghai) and the tokens' wall clock."""
    return Clocks(clock, monkeypatch)


@pytest.fixture
def wechat(app: Flask) -> WeChat:
    """WeChat's own scanner, with the rule "扫普通链接二维码打开小程序" registered for QR_LINK_BASE/."""
    return WeChat({f"{app.config['QR_LINK_BASE']}/": CHECKIN_PAGE})


@pytest.fixture
def new_phone(app: Flask, clocks: Clocks) -> Callable[[str], Phone]:
    """``new_phone("alice")``: a phone of WeChat user alice with the mini program launched (config read)."""

    def make(wechat_user: str) -> Phone:
        phone = Phone(Wx(app, wechat_user))
        phone.launch()
        return phone

    return make


@pytest.fixture
def resident(app: Flask, new_phone: Callable[[str], Phone], org_tree: dict[str, Org]) -> Callable[..., Phone]:
    """``resident("alice", community="C1", party=False)``: a phone logged in, its community chosen in the
    app; ``party=True`` makes her a party member of it, as an approved 报到 does."""

    def make(
        wechat_user: str, community: str = "C1", party: bool = False, nickname: str | None = None
    ) -> Phone:
        phone = new_phone(wechat_user)
        assert phone.login().status == 200
        chosen = phone.patch(
            "/me", {"community_id": org_tree[community].id, "nickname": nickname or f"{wechat_user}昵称"}
        )
        assert chosen.status == 200, chosen.body
        if party:
            from server.db import db
            from server.users.models import User

            with app.app_context():
                assert phone.user is not None
                user = db.session.get_one(User, phone.user["id"])
                user.party_community_id = org_tree[community].id
                db.session.commit()
        return phone

    return make


@pytest.fixture
def desk(new_phone: Callable[[str], Phone], make_staff: Callable[..., Staff]) -> Callable[..., Phone]:
    """``desk("C1")``: a staff member of the community logged in to the staff pages of the mini program."""

    def make(community: str = "C1") -> Phone:
        staff = make_staff(org=community)
        phone = new_phone(f"staff-{staff.username}")
        assert phone.login_staff(staff.username, staff.password).status == 200
        return phone

    return make


@pytest.fixture
def run_worker(app: Flask) -> Iterator[Callable[[], int]]:
    """Deliver what the outbox holds (the inbox, subscribe messages): an RQ worker in burst mode."""
    connection = app.extensions.get("linli_redis")
    assert connection is not None, "the inbox is delivered by jobs on Redis"
    set_job_app(app)
    app.config["JOB_RETRY_INTERVALS"] = (0, 0, 0)

    def work() -> int:
        with app.app_context():
            queues = [queue(name, connection) for name in QUEUES]
        worker = SimpleWorker(queues, connection=connection)
        worker.work(burst=True)
        return 1

    yield work
    app.config.pop("JOB_RETRY_INTERVALS", None)


@pytest.fixture
def png() -> bytes:
    """A photo as a phone's camera would hand it over (a small PNG)."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def body_of(answer: Any) -> dict[str, Any]:
    """An answer's JSON body, asserting it is one."""
    assert isinstance(answer.body, dict), answer.body
    result: dict[str, Any] = answer.body
    return result
