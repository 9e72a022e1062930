"""The SQLite settings used by `make run`: WAL, a busy timeout, BEGIN IMMEDIATE for writers."""

import threading

import pytest
from sqlalchemy import text

from server.app import create_app
from server.db import db
from tests.conftest import base_config


@pytest.fixture
def sqlite_app(tmp_path, wechat_fake):
    from flask_migrate import upgrade

    app = create_app(base_config(f"sqlite:///{tmp_path / 'local.sqlite3'}", wechat_fake.url, REDIS_URL=None))
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    app.extensions["linli_wechat"].close()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_app):
    with sqlite_app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 15000
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_concurrent_sqlite_writers_queue_instead_of_failing(sqlite_app):
    """Read-then-write transactions from many threads: BEGIN IMMEDIATE serialises them, none is lost."""
    from server.orgs.services import create_org

    with sqlite_app.app_context():
        create_org("district", "区", "D1")
        db.session.commit()
    errors: list[BaseException] = []

    def add_streets(worker: int) -> None:
        try:
            with sqlite_app.app_context():
                for i in range(5):
                    create_org("street", f"街道{worker}-{i}", f"S{worker}-{i}", "D1")
                    db.session.commit()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=add_streets, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sqlite_app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM org_units WHERE kind = 'street'")).scalar() == 30


def test_without_redis_the_wechat_token_is_cached_in_the_database(sqlite_app, wechat_fake):
    from server.kvstore import CacheEntry, DatabaseTokenCache

    client = sqlite_app.test_client()
    tokens = client.post("/api/v1/auth/wechat", json={"code": "dbcache.1"}).get_json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    before = wechat_fake.state.calls["/cgi-bin/stable_token"]
    assert client.post("/api/v1/me/phone", json={"code": "ph.1"}, headers=headers).status_code == 200
    assert client.post("/api/v1/me/phone", json={"code": "ph.2"}, headers=headers).status_code == 200
    # one stable_token call for two phone bindings: the second found the token in cache_entries
    assert wechat_fake.state.calls["/cgi-bin/stable_token"] == before + 1
    with sqlite_app.app_context():
        assert isinstance(sqlite_app.extensions["linli_wechat"]._cache, DatabaseTokenCache)
        keys = [entry.key for entry in db.session.query(CacheEntry)]
        assert keys == ["access_token:wx-fake-appid"]


def test_the_database_token_cache_expires_and_deletes(sqlite_app):
    from server.kvstore import DatabaseTokenCache

    cache = DatabaseTokenCache()
    with sqlite_app.app_context():
        cache.set("k", "v1", 60)
        cache.set("k", "v2", 60)
        assert cache.get("k") == "v2"
        cache.set("gone", "x", -1)
        assert cache.get("gone") is None
        cache.delete("k")
        assert cache.get("k") is None
        assert cache.get("never") is None
