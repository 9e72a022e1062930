"""Test setup: a database of this run's own (PostgreSQL when reachable), Redis, the fake WeChat over HTTP."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from server.wechat.fake import FakeWeChatState, create_fake_wechat, fake_state, serve_fake_wechat

REQUIRE_SERVICES = os.environ.get("LINLI_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URLS = [
    u
    for u in (
        os.environ.get("LINLI_TEST_POSTGRES_URL"),
        "postgresql://postgres@127.0.0.1:5432/test",
        "postgresql://root@127.0.0.1:5432/test",
        "postgresql://postgres@127.0.0.1:5432/postgres",
    )
    if u
]
REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
TEST_FILES_DIR = Path(tempfile.gettempdir()) / f"linli-test-files-{RUN_ID}"  # removed at the end of the run


def _find_postgres() -> tuple[str | None, str]:
    errors = []
    for url in POSTGRES_ADMIN_URLS:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url, ""
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip().splitlines()[0]}")
    return None, "; ".join(errors)


def _find_redis() -> tuple[str | None, str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
        return REDIS_URL, ""
    except redis.RedisError as exc:
        return None, f"{REDIS_URL}: {exc}"
    finally:
        client.close()


# LINLI_TEST_SQLITE=1 runs the suite on SQLite even where PostgreSQL answers (what `make run` uses).
if os.environ.get("LINLI_TEST_SQLITE") == "1" and not REQUIRE_SERVICES:
    POSTGRES_ADMIN_URL, _pg_error = None, "LINLI_TEST_SQLITE=1"
else:
    POSTGRES_ADMIN_URL, _pg_error = _find_postgres()
REDIS_AVAILABLE_URL, _redis_error = _find_redis()


def pytest_configure(config: pytest.Config) -> None:
    """Fail loudly, before any test, when services are required and absent."""
    missing = []
    if POSTGRES_ADMIN_URL is None:
        missing.append(f"PostgreSQL ({_pg_error})")
    if REDIS_AVAILABLE_URL is None:
        missing.append(f"Redis ({_redis_error})")
    if REQUIRE_SERVICES and missing:
        raise pytest.UsageError("LINLI_REQUIRE_SERVICES=1 but unreachable: " + ", ".join(missing))


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which database and Redis this run uses."""
    database = "PostgreSQL (a database of this run's own)" if POSTGRES_ADMIN_URL else "SQLite (no PostgreSQL)"
    return [f"linli: database = {database}; redis = {'yes' if REDIS_AVAILABLE_URL else 'no'}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip PostgreSQL-only tests on SQLite (CI requires PostgreSQL, so nothing is skipped there)."""
    if POSTGRES_ADMIN_URL:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def _database_url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def make_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """Create throwaway databases named for this run; all are dropped at the end."""
    created: list[str] = []

    def make(purpose: str) -> str:
        name = f"linli_test_{RUN_ID}_{purpose}"
        if POSTGRES_ADMIN_URL is None:
            return f"sqlite:///{tmp_path_factory.mktemp('db') / (name + '.sqlite3')}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return _database_url(POSTGRES_ADMIN_URL, name)

    yield make
    if POSTGRES_ADMIN_URL:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class FakeWeChat:
    """The fake WeChat served over real HTTP, and its in-memory state."""

    url: str
    state: FakeWeChatState

    def control(self, endpoint: str, **payload: Any) -> requests.Response:
        """POST to one of the fake's /_fake/ control endpoints."""
        return requests.post(f"{self.url}/_fake/{endpoint}", json=payload, timeout=5)


@pytest.fixture(scope="session")
def wechat_fake() -> Iterator[FakeWeChat]:
    """One fake WeChat server for the run, on a free port."""
    fake_app = create_fake_wechat()
    server = serve_fake_wechat(fake_app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield FakeWeChat(f"http://127.0.0.1:{server.server_port}", fake_state(fake_app))
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def base_config(database_url: str, wechat_url: str, **extra: Any) -> dict[str, Any]:
    """The settings a test app runs with."""
    return {
        "LINLI_ENV": "testing",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": database_url.replace("postgresql://", "postgresql+psycopg://"),
        "REDIS_URL": REDIS_AVAILABLE_URL,
        "REDIS_PREFIX": f"linli-test:{RUN_ID}:",
        "WECHAT_API_BASE": wechat_url,
        "WECHAT_TIMEOUT_SECONDS": 5,
        "FILES_DIR": str(TEST_FILES_DIR),
        **extra,
    }


@pytest.fixture(scope="session")
def app(make_database: Callable[[str], str], wechat_fake: FakeWeChat) -> Iterator[Flask]:
    """The app under test, on a migrated database of this run's own."""
    from flask_migrate import upgrade

    from server.app import create_app

    flask_app = create_app(base_config(make_database("main"), wechat_fake.url))
    with flask_app.app_context():
        upgrade()
        flask_app.extensions["linli_test_seed"] = _snapshot_seeded_rows()
    yield flask_app
    redis_client = flask_app.extensions.get("linli_redis")
    if redis_client is not None:
        _delete_prefix(redis_client, flask_app.config["REDIS_PREFIX"])
    close_app(flask_app)
    shutil.rmtree(TEST_FILES_DIR, ignore_errors=True)


def close_app(flask_app: Flask) -> None:
    """Release what an app holds: database connections, the WeChat HTTP session, the Redis client."""
    from server.db import db

    with flask_app.app_context():
        db.session.remove()
        db.engine.dispose()
    flask_app.extensions["linli_wechat"].close()
    redis_client = flask_app.extensions.get("linli_redis")
    if redis_client is not None:
        redis_client.close()


def _delete_prefix(client: redis.Redis, prefix: str) -> None:
    # Our keys start with the prefix; RQ's contain it (rq:queue:<prefix>default) or its dashed form
    # (rq:job:<prefix with - for :>outbox-1).
    keys = list(client.scan_iter(match="*" + prefix + "*", count=1000))
    keys += list(client.scan_iter(match="*" + prefix.replace(":", "-") + "*", count=1000))
    if keys:
        client.delete(*keys)


def _snapshot_seeded_rows() -> dict[str, list[dict[str, Any]]]:
    """Rows the migrations put in (e.g. the default points rules), to restore after each test."""
    from server.db import db

    seeded = {}
    for table in db.metadata.sorted_tables:
        rows = [dict(row._mapping) for row in db.session.execute(table.select())]
        if rows:
            seeded[table.name] = rows
    db.session.rollback()
    return seeded


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the app: check the ledger, then empty every table (keeping what the
    migrations seeded), the rate limits, Redis keys and the fake WeChat's state."""
    yield
    if "wechat_fake" in request.fixturenames or "app" in request.fixturenames:
        request.getfixturevalue("wechat_fake").state.reset()
    if "app" not in request.fixturenames:
        return
    problems = reset_app_state(request.getfixturevalue("app"))
    assert not problems, "ledger invariants broken after the test:\n" + "\n".join(problems)


def reset_app_state(flask_app: Flask) -> list[str]:
    """Check the ledger, then empty every table (keeping what the migrations seeded), the rate limits and
    Redis keys; returns what the ledger check found (empty when the invariants hold)."""
    from points.verify import verify_ledger
    from server.db import db
    from server.extensions import limiter

    with flask_app.app_context():
        db.session.remove()
        problems = verify_ledger()
        db.session.rollback()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                conn.execute(text("UPDATE org_units SET parent_id = NULL"))  # it refers to itself
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (table names from the models' metadata)
            for table in db.metadata.sorted_tables:
                if table.name in flask_app.extensions["linli_test_seed"]:
                    conn.execute(table.insert(), flask_app.extensions["linli_test_seed"][table.name])
                    if conn.dialect.name == "postgresql" and "id" in table.c:
                        sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
                        conn.execute(text(f"SELECT setval({sequence}, MAX(id)) FROM {table.name}"))  # noqa: S608  (table names from the models' metadata)
        limiter.reset()
    redis_client = flask_app.extensions.get("linli_redis")
    if redis_client is not None:
        _delete_prefix(redis_client, flask_app.config["REDIS_PREFIX"])
    return problems


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the app."""
    return app.test_client()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Any]:
    """The SQLAlchemy session inside an app context, for arranging and checking rows."""
    from server.db import db

    with app.app_context():
        yield db.session
        db.session.rollback()


# --- factories: functions with sensible defaults, returning plain records ------------------------


@dataclass(frozen=True)
class Org:
    """An org unit made for a test."""

    id: int
    code: str
    kind: str


@dataclass(frozen=True)
class Staff:
    """A staff account made for a test, with its password."""

    id: int
    username: str
    password: str
    role: str
    org_code: str


@pytest.fixture
def org_tree(app: Flask) -> dict[str, Org]:
    """District D1 → streets S1, S2 → communities C1, C2 (under S1) and C3 (under S2); grid C1-G1."""
    from server.db import db
    from server.orgs.services import create_org

    spec = [
        ("district", "测试区", "D1", None),
        ("street", "一街道", "S1", "D1"),
        ("street", "二街道", "S2", "D1"),
        ("community", "一社区", "C1", "S1"),
        ("community", "二社区", "C2", "S1"),
        ("community", "三社区", "C3", "S2"),
        ("grid", "一社区一网格", "C1-G1", "C1"),
    ]
    tree = {}
    with app.app_context():
        for kind, name, code, parent in spec:
            org = create_org(kind, name, code, parent)
            tree[code] = Org(org.id, org.code, org.kind)
        db.session.commit()
    return tree


@pytest.fixture
def make_staff(app: Flask, org_tree: dict[str, Org]) -> Callable[..., Staff]:
    """Make a console account: ``make_staff(role="staff", org="C1")``."""
    from server.db import db
    from server.users.services import create_staff

    counter = iter(range(1, 10_000))

    def make(
        role: str = "staff",
        org: str = "C1",
        username: str | None = None,
        password: str = "correct-horse-1",  # noqa: S107  (a test password)
    ) -> Staff:
        name = username or f"{role}{next(counter)}_{org.lower()}"
        with app.app_context():
            staff = create_staff(name, password, role, org)
            db.session.commit()
            return Staff(staff.id, name, password, role, org)

    return make


@pytest.fixture
def login_staff(client: FlaskClient) -> Callable[[Staff], dict[str, Any]]:
    """Log a staff account in through the API; returns the token response."""

    def login(staff: Staff) -> dict[str, Any]:
        response = client.post(
            "/api/v1/auth/staff", json={"username": staff.username, "password": staff.password}
        )
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    return login


@pytest.fixture
def login_user(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """Log a resident in through the fake WeChat: ``login_user("alice")`` (a fresh code each call)."""
    counter = iter(range(1, 100_000))

    def login(name: str = "resident") -> dict[str, Any]:
        response = client.post("/api/v1/auth/wechat", json={"code": f"{name}.{next(counter)}"})
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    return login


def bearer(tokens: dict[str, Any] | str) -> dict[str, str]:
    """The Authorization header for a token response or a raw access token."""
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {token}"}


POINTS_TEMPLATE = "tmpl-points-change"  # the fake WeChat's template of points changes
CLOCK_START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 December 2026, 10:00 in Shanghai


class Clock:
    """The app's clock in a test: it stands at ``now`` until the test moves it."""

    def __init__(self, start: datetime = CLOCK_START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def freeze_clock(monkeypatch: pytest.MonkeyPatch, start: datetime = CLOCK_START) -> Clock:
    """Stop the app's one clock (``server.clock.now``) at ``start``: every module reads it from there."""
    frozen = Clock(start)
    monkeypatch.setattr("server.clock.now", frozen)
    return frozen


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The app's clock, frozen at CLOCK_START; ``clock.now = ...`` moves it."""
    return freeze_clock(monkeypatch)


CSRF_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Console:
    """A logged-in console session of a test client, with its CSRF token."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client, self.token = client, token

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET a console page."""
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST a console form with the session's CSRF token."""
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs)


@pytest.fixture
def console(app: Flask) -> Callable[[Staff], Console]:
    """``console(staff)`` logs a fresh client in through the login form."""

    def login(staff: Staff) -> Console:
        client = app.test_client()
        token = _csrf_token(client.get("/console/login").get_data(as_text=True))
        done = client.post(
            "/console/login",
            data={"username": staff.username, "password": staff.password, "csrf_token": token},
        )
        assert done.status_code == 302
        # Logging in starts a fresh session, and with it a fresh CSRF token.
        return Console(client, _csrf_token(client.get("/console/").get_data(as_text=True)))

    return login


def _csrf_token(html: str) -> str:
    found = CSRF_TOKEN.search(html)
    assert found is not None
    return found[1]


@pytest.fixture
def member(
    app: Flask,
    client: FlaskClient,
    login_user: Callable[..., dict[str, Any]],
    org_tree: dict[str, Org],
    make_staff: Callable[..., Staff],
) -> Callable[..., dict[str, Any]]:
    """``member(points=30, name="member", community="C1", nickname=None, phone=None, grants=0)``: a
    resident logged in through the fake WeChat, living in ``community``, with ``grants`` subscribe grants of
    the points template, opened with ``points`` by a staff adjustment (开户); returns the API tokens. The
    same ``name`` is the same person (a ``refuse…`` name makes the fake WeChat refuse to send to them)."""
    staff_ids: dict[str, int] = {}

    def make(
        points: int = 30,
        name: str = "member",
        community: str = "C1",
        nickname: str | None = None,
        phone: str | None = None,
        grants: int = 0,
    ) -> dict[str, Any]:
        from points import services
        from server.auth.policy import Principal
        from server.db import db
        from server.users.models import StaffAccount, User

        tokens = login_user(name)
        client.patch("/api/v1/me", json={"community_id": org_tree[community].id}, headers=bearer(tokens))
        for _ in range(grants):
            granted = client.post(
                "/api/v1/me/subscriptions", json={"template_ids": [POINTS_TEMPLATE]}, headers=bearer(tokens)
            )
            assert granted.status_code == 200
        if points and community not in staff_ids:
            staff_ids[community] = make_staff(org=community).id
        with app.app_context():
            user = db.session.get(User, tokens["user"]["id"])
            assert user is not None
            if nickname is not None:
                user.nickname = nickname
            if phone is not None:
                user.phone = phone
            if points:
                principal = Principal(kind="staff", staff=db.session.get(StaffAccount, staff_ids[community]))
                assert services.adjust(principal, user.id, points, "开户").status == "done"
            db.session.commit()
        return tokens

    return make


def points_of(client: FlaskClient, tokens: dict[str, Any]) -> dict[str, Any]:
    """A member's points as the mini program reads them (available, held, earned, spent)."""
    body: dict[str, Any] = client.get("/api/v1/me/points", headers=bearer(tokens)).get_json()
    return body


@pytest.fixture
def item(
    client: FlaskClient,
    org_tree: dict[str, Org],
    make_staff: Callable[..., Staff],
    login_staff: Callable[[Staff], dict[str, Any]],
) -> Callable[..., int]:
    """``item(community="C1", **changes)``: an item of a community's supermarket, made through the API by
    its staff (大米 5kg, 10 points, 5 in stock unless changed); returns its id."""
    headers: dict[str, dict[str, str]] = {}

    def make(community: str = "C1", **changes: Any) -> int:
        if community not in headers:
            headers[community] = bearer(login_staff(make_staff(org=community)))
        body = {"community_id": org_tree[community].id, "name": "大米 5kg", "points_price": 10, "stock": 5}
        response = client.post("/api/v1/store/items", json=body | changes, headers=headers[community])
        assert response.status_code == 201, response.get_json()
        item_id: int = response.get_json()["id"]
        return item_id

    return make
