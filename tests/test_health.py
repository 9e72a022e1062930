"""Liveness and readiness probes, including when the database or Redis is down."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from flask import Flask

from server.app import create_app
from tests.conftest import REDIS_AVAILABLE_URL, base_config, close_app

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"
CLOSED_PORT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/none"


@contextmanager
def extra_app(config: dict[str, Any]) -> Iterator[Flask]:
    """An app of its own, closed afterwards.

    The rate limiter is one object shared by every app of the process and each app rebinds its
    storage, so the extra app gets the run's working storage rather than a dead Redis.
    """
    flask_app = create_app({**config, "RATELIMIT_STORAGE_URI": REDIS_AVAILABLE_URL or "memory://"})
    try:
        yield flask_app
    finally:
        close_app(flask_app)


def test_healthz_says_the_process_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_200_when_the_database_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert body["checks"]["database"] == "ok"
    if REDIS_AVAILABLE_URL:
        assert body["checks"]["redis"] == "ok"


@pytest.mark.skipif(REDIS_AVAILABLE_URL is None, reason="needs Redis")
def test_readyz_is_503_naming_redis_when_redis_is_down(make_database, wechat_fake):
    config = base_config(make_database("health_redis"), wechat_fake.url, REDIS_URL=CLOSED_PORT_REDIS)
    with extra_app(config) as flask_app:
        response = flask_app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("down")


def test_without_redis_configured_readyz_checks_only_the_database(make_database, wechat_fake):
    config = base_config(make_database("health_noredis"), wechat_fake.url, REDIS_URL=None)
    with extra_app(config) as flask_app:
        response = flask_app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["checks"] == {"database": "ok"}


@pytest.fixture
def app_without_database(wechat_fake) -> Iterator[Callable[[], Flask]]:
    """Build (inside the test, so a failing start is the test's failure) an app whose database is down."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(extra_app(base_config(CLOSED_PORT_DATABASE, wechat_fake.url)))


def test_the_app_starts_while_the_database_is_down(app_without_database):
    flask_app = app_without_database()
    assert flask_app.test_client().get("/healthz").status_code == 200


def test_readyz_is_503_naming_the_database_when_it_is_down(app_without_database):
    response = app_without_database().test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert "database" in body["down"]
    assert body["checks"]["database"].startswith("down")
    if REDIS_AVAILABLE_URL:
        assert body["checks"]["redis"] == "ok"


def test_readyz_does_not_reveal_connection_details(app_without_database):
    text = app_without_database().test_client().get("/readyz").get_data(as_text=True)
    assert "127.0.0.1" not in text
    assert "postgres@" not in text
