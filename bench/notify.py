"""Notification throughput: outbox rows delivered (inbox + WeChat subscribe message) by two RQ workers.

Publishes N notifications (default 10,000) to users holding subscribe grants, then times two
`flask worker --burst` processes delivering them to the fake WeChat (served here over HTTP), and
compares with RQ's own throughput for N no-op jobs on two workers of the same kind, measured in the
same run. Run: `python -m bench.notify` (or `make bench`). Needs PostgreSQL and Redis. No assertions.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import redis
from flask_migrate import upgrade

from bench.common import (
    REDIS_URL,
    create_database,
    drop_database,
    drop_redis_keys,
    record,
    sized,
    start_fake_wechat,
)

NOTIFICATIONS = sized("LINLI_BENCH_NOTIFICATIONS", 10_000, 1_000)
USERS = 500
WORKERS = 2
TARGET = 0.5


def noop() -> None:
    """The baseline job: nothing."""


def run_workers(env: dict[str, str], count: int, fork: bool = False) -> float:
    """Start ``count`` burst workers and return the seconds until all have drained the queues."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(  # noqa: S603  (a fixed argv: this interpreter running flask worker)
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "wsgi",
                "worker",
                "--burst",
                *(["--fork"] if fork else []),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    for process in processes:
        process.wait(timeout=1800)
    return time.perf_counter() - started


def main() -> None:
    """Measure and print."""
    prefix = f"linli-bench-{secrets.token_hex(3)}:"
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.RedisError as exc:
        raise SystemExit(f"bench.notify needs Redis: {exc}") from exc
    name, plain_url = create_database("notify")
    database_url = plain_url.replace("postgresql://", "postgresql+psycopg://")

    from server.app import create_app
    from server.db import db
    from server.jobs import queue
    from server.notifications.models import SubscriptionGrant
    from server.notifications.services import publish
    from server.users.models import User
    from server.wechat.fake import create_fake_wechat, fake_state

    fake = create_fake_wechat()
    server = start_fake_wechat(fake)
    settings = {
        "LINLI_ENV": "testing",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": prefix,
        "WECHAT_API_BASE": f"http://127.0.0.1:{server.server_port}",
    }
    env = {**os.environ, **{k: str(v) for k, v in settings.items()}}
    try:
        app = create_app(settings)
        state = fake_state(fake)
        with app.app_context():
            upgrade()
            users = [User(openid=state.openid_for(f"bench{i}"), nickname=f"居民{i}") for i in range(USERS)]
            db.session.add_all(users)
            db.session.flush()
            per_user = NOTIFICATIONS // USERS + 1
            db.session.add_all(
                SubscriptionGrant(user_id=u.id, template_id="tmpl-points-change", remaining=per_user)
                for u in users
            )
            db.session.commit()
            ids = [u.id for u in users]

            # baseline: RQ's own throughput for no-op jobs on the same kind of workers
            q = queue("default", connection)
            for _ in range(NOTIFICATIONS):
                q.enqueue("bench.notify.noop")
            baseline_seconds = run_workers(env, WORKERS)

            started = time.perf_counter()
            for i in range(NOTIFICATIONS):
                publish(
                    "points.adjusted",
                    [ids[i % USERS]],
                    {"memo": "人工调整：基准测试 +1", "reason": "基准测试", "amount": "+1", "available": i},
                )
                if i % 500 == 499:
                    db.session.commit()  # after commit each row is enqueued
            db.session.commit()
            published_seconds = time.perf_counter() - started
        delivered_seconds = run_workers(env, WORKERS)
        sent = len(state.messages)
        baseline = NOTIFICATIONS / baseline_seconds
        delivered = NOTIFICATIONS / delivered_seconds
        print(
            f"notifications ({NOTIFICATIONS:,} to {USERS} users with grants; "
            f"{WORKERS} RQ workers, jobs run in the worker)"
        )
        print(f"{'what':<52}{'per s':>8}{'ratio':>8}{'target':>10}")
        print(f"{'RQ no-op jobs (baseline)':<52}{baseline:>8.0f}{1.0:>8.2f}")
        verdict = "ok" if delivered / baseline >= TARGET else "SLOWER"
        print(
            f"{'delivered: inbox + WeChat subscribe message':<52}{delivered:>8.0f}"
            f"{delivered / baseline:>8.2f}{f'≥ {TARGET}':>10}  {verdict}"
        )
        record(
            "notifications delivered (inbox + WeChat message)",
            delivered,
            "per s",
            "RQ no-op jobs, same workers",
            baseline,
            f"ratio >= {TARGET}",
        )
        print(f"published (outbox rows + enqueue after commit): {NOTIFICATIONS / published_seconds:.0f}/s")
        print(f"messages the fake WeChat received: {sent:,} (expected {NOTIFICATIONS:,})")
        with app.app_context():
            db.engine.dispose()
    finally:
        server.shutdown()
        drop_redis_keys(connection, prefix)
        connection.close()
        drop_database(name)


if __name__ == "__main__":
    main()
