"""What the foundation costs per request: an authenticated GET /api/v1/me against a bare Flask route.

Prints requests per second of each and the ratio to the bare baseline measured in the same run.
Run: `python -m bench.request_overhead` (or `make bench`). Uses PostgreSQL (a throwaway
database) when reachable, else SQLite. No assertions: figures only.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable

import psycopg
from flask import Flask, jsonify
from flask_migrate import upgrade

from bench.common import ADMIN_URL, record, sized

REQUESTS = sized("LINLI_BENCH_REQUESTS", 3000, 500)


def rate(call: Callable[[], int], n: int = REQUESTS) -> float:
    """Requests per second of ``call`` over ``n`` calls, after a short warm-up."""
    for _ in range(50):
        call()
    start = time.perf_counter()
    for _ in range(n):
        status = call()
        if status != 200:
            raise SystemExit(f"unexpected status {status}")
    return n / (time.perf_counter() - start)


def main() -> None:
    """Measure and print."""
    name = f"linli_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        database_url = (
            ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
        )
        backend = "PostgreSQL"
    except psycopg.Error:
        database_url = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
        backend, name = "SQLite", ""

    from server.app import create_app
    from server.db import db
    from server.orgs.services import create_org
    from server.users.models import User

    try:
        app = create_app({"LINLI_ENV": "testing", "DATABASE_URL": database_url, "REDIS_URL": None})
        with app.app_context():
            upgrade()
            create_org("district", "区", "D", None)
            user = User(openid="bench-openid", nickname="bench")
            db.session.add(user)
            db.session.commit()
            from server.auth.tokens import issue_access_token

            token, _ = issue_access_token("user", user.id, user.token_version)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}

        bare = Flask("bare")
        bare.get("/ping")(lambda: jsonify({"id": 1, "nickname": "bench", "roles": ["resident"]}))
        bare_client = bare.test_client()

        baseline = rate(lambda: bare_client.get("/ping").status_code)
        health = rate(lambda: client.get("/healthz").status_code)
        me = rate(lambda: client.get("/api/v1/me", headers=headers).status_code)
        print(f"request overhead ({backend}, {REQUESTS} sequential requests each, in-process test client)")
        print(f"{'what':<38}{'req/s':>10}{'ratio':>8}")
        print(f"{'bare Flask JSON route (baseline)':<38}{baseline:>10.0f}{1.0:>8.2f}")
        print(f"{'GET /healthz (boundary, no query)':<38}{health:>10.0f}{health / baseline:>8.2f}")
        print(f"{'GET /api/v1/me (JWT + user + commit)':<38}{me:>10.0f}{me / baseline:>8.2f}")
        bare_label = "bare Flask JSON route"
        record(f"GET /healthz, in-process ({backend})", health, "req/s", bare_label, baseline)
        record(f"GET /api/v1/me, in-process ({backend})", me, "req/s", bare_label, baseline)
        with app.app_context():
            db.engine.dispose()
    finally:
        if name:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
