"""Factories of the wish tests: residents, serving members, staff, photos, and wishes in a chosen state."""

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from server.db import db
from server.users.models import User
from tests.conftest import Clock, Org, bearer

FULFIL_NOTE = "已经上门把水龙头修好了"  # 11 characters: a note that stands without a photo


@pytest.fixture(autouse=True)
def _frozen_clock(clock: Clock) -> Clock:
    """Every wish test runs on the frozen clock, so a claim can be made old enough to fulfil."""
    return clock


@pytest.fixture
def after_claim(app: Flask, clock: Clock) -> Callable[[], None]:
    """Move the clock past WISH_MIN_FULFIL_MINUTES, as if the help took that long."""

    def wait() -> None:
        clock.now += timedelta(minutes=int(app.config.get("WISH_MIN_FULFIL_MINUTES", 10)) + 1)

    return wait


@dataclass(frozen=True)
class Person:
    """A logged-in WeChat user of a test: their id and Authorization header."""

    id: int
    headers: dict[str, str]


@pytest.fixture
def person(
    app: Flask, client: FlaskClient, login_user: Callable[..., dict[str, Any]], org_tree: dict[str, Org]
) -> Callable[..., Person]:
    """``person("alice", community="C1", serves=None|"party"|"volunteer")``, logged in via the fake."""

    def make(
        name: str = "resident", community: str = "C1", serves: str | None = None, nickname: str | None = None
    ) -> Person:
        tokens = login_user(name)
        headers = bearer(tokens)
        response = client.patch(
            "/api/v1/me",
            json={"community_id": org_tree[community].id, "nickname": nickname or f"{name}昵称"},
            headers=headers,
        )
        assert response.status_code == 200, response.get_json()
        user_id = tokens["user"]["id"]
        if serves:
            with app.app_context():
                user = db.session.get(User, user_id)
                assert user is not None
                if serves == "party":
                    user.party_community_id = org_tree[community].id
                else:
                    user.volunteer_community_id = org_tree[community].id
                db.session.commit()
        return Person(user_id, headers)

    return make


@pytest.fixture
def staff(make_staff: Callable[..., Any], login_staff: Callable[..., dict[str, Any]]) -> dict[str, str]:
    """The Authorization header of a staff member of C1."""
    return bearer(login_staff(make_staff(org="C1")))


@pytest.fixture
def upload_photo(client: FlaskClient) -> Callable[[Person], int]:
    """Upload a 40×30 PNG as ``who`` through the API; returns the file id."""

    def upload(who: Person) -> int:
        buffer = io.BytesIO()
        Image.new("RGB", (40, 30), (200, 80, 40)).save(buffer, format="PNG")
        response = client.post(
            "/api/v1/files",
            data={"file": (io.BytesIO(buffer.getvalue()), "photo.png", "image/png")},
            headers=who.headers,
            content_type="multipart/form-data",
        )
        assert response.status_code == 201, response.get_json()
        file_id: int = response.get_json()["id"]
        return file_id

    return upload


@pytest.fixture
def post_wish(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """Post a wish as ``who`` through the API; returns the response body (asserting 201)."""

    def post(who: Person, **changes: Any) -> dict[str, Any]:
        body = {
            "title": "想请人修水龙头",
            "content": "厨房水龙头一直滴水，想请懂行的邻居帮忙看看。",
            "category": "生活帮扶",
        }
        response = client.post("/api/v1/wishes", json={**body, **changes}, headers=who.headers)
        assert response.status_code == 201, response.get_json()
        result: dict[str, Any] = response.get_json()
        return result

    return post


@pytest.fixture
def wish_in(
    client: FlaskClient,
    staff: dict[str, str],
    post_wish: Callable[..., dict[str, Any]],
    after_claim: Callable[[], None],
) -> Callable[..., int]:
    """A wish of ``owner`` brought to ``state`` (open, claimed, fulfilled by ``claimer`` with FULFIL_NOTE,
    completed: rated 5, not shared); returns its id. A claimed wish is left with the clock moved past
    WISH_MIN_FULFIL_MINUTES, so its claimer may fulfil it at once."""

    def make(state: str, owner: Person, claimer: Person | None = None, **changes: Any) -> int:
        wish_id: int = post_wish(owner, **changes)["id"]
        if state == "pending_review":
            return wish_id
        assert client.post(f"/api/v1/wishes/{wish_id}/approve", headers=staff).status_code == 200
        if state == "open":
            return wish_id
        assert claimer is not None
        response = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=claimer.headers)
        assert response.status_code == 200, response.get_json()
        after_claim()
        if state == "claimed":
            return wish_id
        response = client.post(
            f"/api/v1/wishes/{wish_id}/fulfil", json={"note": FULFIL_NOTE}, headers=claimer.headers
        )
        assert response.status_code == 200, response.get_json()
        if state == "fulfilled":
            return wish_id
        response = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 5}, headers=owner.headers)
        assert response.status_code == 200, response.get_json()
        assert state == "completed", state
        return wish_id

    return make
