"""Fixtures of the fault suite: a world of one test's own (PostgreSQL cluster, redis-server, app, worker).

Every test builds its world with ``make_world(**config)``: a throwaway PostgreSQL cluster and a
throwaway redis-server on free ports, an app bound to them (migrated), an org tree (D1 → S1 → C1) and
a staff member of C1. Stopping those servers disturbs nothing else. Where the servers cannot be run
(no redis-server, no initdb), the test is skipped — or fails when LINLI_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import copy
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from server.db import db
from tests.conftest import REQUIRE_SERVICES, FakeWeChat, base_config, bearer, close_app
from tests.faults.throwaway import PostgresCluster, RedisServer, Unavailable, WorkerProcess, wait_until

POINTS_TEMPLATE = "tmpl-points-change"
REVIEW_TEMPLATE = "tmpl-review-result"
SEND = "/cgi-bin/message/subscribe/send"


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"LINLI_REQUIRE_SERVICES=1 but the fault suite cannot run: {reason}")
    pytest.skip(f"fault suite: {reason}")


@dataclass
class World:
    """One test's servers, app and actors."""

    app: Flask
    client: FlaskClient
    postgres: PostgresCluster
    redis: RedisServer
    wechat: FakeWeChat
    directory: Path
    community_id: int
    staff_headers: dict[str, str]
    workers: list[WorkerProcess] = field(default_factory=list)
    _codes: Iterator[int] = field(default_factory=lambda: iter(range(1, 100_000)))

    # -- actors -----------------------------------------------------------------------------------

    def member(self, name: str, grants: int = 1, template: str = POINTS_TEMPLATE) -> dict[str, Any]:
        """A resident of C1 logged in through the fake WeChat, holding ``grants`` grants of ``template``."""
        response = self.client.post("/api/v1/auth/wechat", json={"code": f"{name}.{next(self._codes)}"})
        assert response.status_code == 200, response.get_json()
        tokens: dict[str, Any] = response.get_json()
        joined = self.client.patch(
            "/api/v1/me", json={"community_id": self.community_id}, headers=bearer(tokens)
        )
        assert joined.status_code == 200, joined.get_json()
        for _ in range(grants):
            granted = self.client.post(
                "/api/v1/me/subscriptions", json={"template_ids": [template]}, headers=bearer(tokens)
            )
            assert granted.status_code == 200, granted.get_json()
        return tokens

    def adjust(self, user_id: int, amount: int = 5, key: str | None = None) -> Any:
        """Staff adjust a member's points (publishes ``points.adjusted``)."""
        headers = {**self.staff_headers, **({"Idempotency-Key": key} if key else {})}
        return self.client.post(
            "/api/v1/points/adjustments",
            json={"user_id": user_id, "amount": amount, "reason": "补录志愿服务"},
            headers=headers,
        )

    # -- what happened ------------------------------------------------------------------------------

    def count(self, model: Any) -> int:
        """Rows of a model."""
        with self.app.app_context():
            total = int(db.session.scalar(select(func.count()).select_from(model)) or 0)
            db.session.rollback()
            return total

    def rows(self, model: Any) -> list[Any]:
        """Every row of a model, detached, by id."""
        with self.app.app_context():
            found = list(db.session.scalars(select(model).order_by(model.id)))
            db.session.expunge_all()
            db.session.rollback()
            return found

    def messages_to(self, tokens: dict[str, Any]) -> list[dict[str, Any]]:
        """The subscribe messages the fake WeChat received for a member."""
        from server.users.models import User

        with self.app.app_context():
            openid = db.session.scalar(select(User.openid).where(User.id == tokens["user"]["id"]))
            db.session.rollback()
        with self.wechat.state.lock:
            return [m for m in self.wechat.state.messages if m["openid"] == openid]

    def verify_ledger(self) -> list[str]:
        """``points verify`` on this world's database."""
        from points.verify import verify_ledger

        with self.app.app_context():
            db.session.remove()
            problems = verify_ledger()
            db.session.rollback()
            return problems

    # -- workers -------------------------------------------------------------------------------------

    def worker_env(self) -> dict[str, str]:
        """The environment a worker process of this world runs with."""
        config = self.app.config
        return {
            **os.environ,
            "LINLI_ENV": "testing",
            "SECRET_KEY": config["SECRET_KEY"],
            "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": config["REDIS_URL"],
            "REDIS_PREFIX": config["REDIS_PREFIX"],
            "WECHAT_API_BASE": config["WECHAT_API_BASE"],
            "WECHAT_TIMEOUT_SECONDS": str(config["WECHAT_TIMEOUT_SECONDS"]),
            "FILES_DIR": str(self.directory / "files"),
        }

    def start_worker(self, burst: bool = False) -> WorkerProcess:
        """A real ``flask --app wsgi worker`` process (stopped at the end of the test)."""
        log = self.directory / f"worker-{len(self.workers) + 1}.log"
        worker = WorkerProcess(self.worker_env(), log, burst=burst)
        self.workers.append(worker)
        return worker

    def wait(self, condition: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
        """``wait_until`` that shows what the workers printed when it gives up."""
        try:
            return wait_until(condition, what, timeout)
        except AssertionError as exc:
            logs = "\n".join(f"--- {w.log_path.name}:\n{w.output()}" for w in self.workers)
            raise AssertionError(f"{exc}\n{logs}") from None

    def work_here(self) -> int:
        """Run an RQ SimpleWorker in this process until the queues are empty; the jobs it ran."""
        from rq import SimpleWorker

        from server.jobs import QUEUES, queue, set_job_app

        connection = self.app.extensions["linli_redis"]
        set_job_app(self.app)
        with self.app.app_context():
            queues = [queue(name, connection) for name in QUEUES]

        class Counting(SimpleWorker):
            executed = 0

            def execute_job(self, job: Any, queue: Any) -> Any:
                self.executed += 1
                return super().execute_job(job, queue)

        worker = Counting(queues, connection=connection)
        worker.work(burst=True)
        return worker.executed


def _save_process_globals() -> Callable[[], None]:
    """Snapshot what an app rebinds process-wide (the rate limiter, the jobs' app); returns the restore.

    The limiter is one object for every app of the process: an app bound to a throwaway Redis would
    leave it pointing at a stopped server for the tests that follow.
    """
    from server import jobs
    from server.extensions import limiter

    # Containers are copied: init_app updates some in place (the storage options).
    limiter_state = {
        name: copy.copy(value) if isinstance(value, dict | list | set) else value
        for name, value in limiter.__dict__.items()
    }
    job_app = (jobs._job_app, jobs._job_pid)

    def restore() -> None:
        limiter.__dict__.clear()
        limiter.__dict__.update(limiter_state)
        jobs._job_app, jobs._job_pid = job_app

    return restore


@pytest.fixture
def make_world(wechat_fake: FakeWeChat) -> Iterator[Callable[..., World]]:
    """``make_world(**config)``: this test's own PostgreSQL cluster, redis-server and app (config on top)."""
    from flask_migrate import upgrade

    from server.app import create_app
    from server.orgs.services import create_org
    from server.users.services import create_staff

    directory = Path(tempfile.mkdtemp(prefix="linli-fault-"))
    cleanups: list[Callable[[], None]] = []

    def make(**config: Any) -> World:
        try:
            redis_server = RedisServer(directory)
            postgres = PostgresCluster()
        except Unavailable as exc:
            _unavailable(str(exc))
            raise  # unreachable: skip/fail raise
        cleanups.append(postgres.remove)
        cleanups.append(redis_server.stop)
        redis_server.start()
        postgres.start()

        cleanups.append(_save_process_globals())
        settings = base_config(
            postgres.url,
            wechat_fake.url,
            REDIS_URL=redis_server.url,
            REDIS_PREFIX=f"linli-fault:{secrets.token_hex(3)}:",
            FILES_DIR=str(directory / "files"),
            # As in production: an error raised after the view (the commit) goes to the error handlers
            # instead of propagating to the test client.
            PROPAGATE_EXCEPTIONS=False,
            **config,
        )
        app = create_app(settings)
        cleanups.append(lambda: close_app(app))
        with app.app_context():
            upgrade()
            for kind, name, code, parent in (
                ("district", "测试区", "D1", None),
                ("street", "一街道", "S1", "D1"),
                ("community", "一社区", "C1", "S1"),
            ):
                org = create_org(kind, name, code, parent)
            create_staff("fault_staff", "correct-horse-1", "staff", "C1")
            community_id = org.id
            db.session.commit()
        client = app.test_client()
        login = client.post(
            "/api/v1/auth/staff", json={"username": "fault_staff", "password": "correct-horse-1"}
        )
        assert login.status_code == 200, login.get_json()
        world = World(
            app,
            client,
            postgres,
            redis_server,
            wechat_fake,
            directory,
            community_id,
            bearer(login.get_json()),
        )

        def stop_workers() -> None:
            for worker in world.workers:
                worker.stop()

        cleanups.append(stop_workers)
        return world

    yield make
    errors = []
    for cleanup in reversed(cleanups):
        try:
            cleanup()
        except Exception as exc:  # keep cleaning; report at the end
            errors.append(f"{type(exc).__name__}: {exc}")
    shutil.rmtree(directory, ignore_errors=True)
    assert not errors, "cleaning up the fault world failed: " + "; ".join(errors)
