"""Check-in throughput under gunicorn against a bare two-row insert under the same server settings.

Creates a throwaway PostgreSQL database, migrates it, seeds a community with activities open now,
logs N members in through the fake WeChat, then runs Linli and `bench.bare_app` each under gunicorn
(same worker count) and drives them from concurrent clients: first flat out (the maximum), then
paced at half that maximum for p50/p99. Prints both, the ratio and the targets (ratio ≥ 0.5,
p99 ≤ 50 ms at half the maximum). Run: `python -m bench.checkin` (or `make bench`). No assertions.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import psycopg
import requests
from flask_migrate import upgrade

from bench.common import create_database, drop_database, record, serve, sized, start_fake_wechat
from server import clock

MEMBERS = sized("LINLI_BENCH_MEMBERS", 300, 100)
ACTIVITIES = int(os.environ.get("LINLI_BENCH_ACTIVITIES", "20"))
CLIENTS = int(os.environ.get("LINLI_BENCH_CLIENTS", "16"))
SECONDS = sized("LINLI_BENCH_SECONDS", 10.0, 3.0)
WORKERS = int(os.environ.get("LINLI_BENCH_WORKERS", "4"))


def drive(
    call: Callable[[requests.Session, int], int], clients: int, seconds: float, rate: float | None = None
) -> tuple[float, list[float], int]:
    """Run ``call`` from ``clients`` threads for ``seconds``; paced to ``rate`` per second if given.

    Returns (completed per second, latencies in ms, errors).
    """
    latencies: list[float] = []
    errors = [0]
    counter = iter(range(10**9))
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    interval = clients / rate if rate else 0.0

    def run() -> None:
        with requests.Session() as session:
            next_at = time.perf_counter()
            while time.perf_counter() < deadline:
                if interval:
                    next_at += interval
                    pause = next_at - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                with lock:
                    n = next(counter)
                started = time.perf_counter()
                status = call(session, n)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    if status >= 400:
                        errors[0] += 1

    threads = [threading.Thread(target=run) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - began), latencies, errors[0]


def pct(values: list[float], q: float) -> float:
    """The q-th percentile."""
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    """Seed, serve, drive, print."""
    name, plain_url = create_database("checkin")

    from checkin.models import Activity
    from checkin.tokens import issue_token
    from server.app import create_app
    from server.db import db
    from server.orgs.services import create_org
    from server.users.models import User

    fake_server = start_fake_wechat()
    settings = {
        "LINLI_ENV": "testing",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": plain_url,
        "CHECKIN_TOKEN_KEYS": "A:" + secrets.token_hex(16),
        "WECHAT_API_BASE": f"http://127.0.0.1:{fake_server.server_port}",
        "LOGIN_RATE_LIMIT_PER_ADDRESS": "100000 per minute",
        # Throughput, not the per-member limit: each member checks in at many activities here.
        "CHECKIN_RATE_LIMIT": "100000 per minute",
    }
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(settings)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        app = create_app({**settings, "REDIS_URL": None})
        with app.app_context():
            upgrade()
            create_org("district", "区", "D", None)
            create_org("street", "街道", "S", "D")
            community = create_org("community", "社区", "C", "S")
            now = clock.now()
            activities = [
                Activity(
                    community_id=community.id,
                    title=f"主题党日{i}",
                    kind="party_day",
                    starts_at=now - timedelta(minutes=10),
                    ends_at=now + timedelta(hours=2),
                    checkin_opens_at=now - timedelta(minutes=40),
                    checkin_closes_at=now + timedelta(hours=2),
                    taken=0,
                    points_rule="ACTIVITY_CHECKIN",
                )
                for i in range(ACTIVITIES)
            ]
            db.session.add_all(activities)
            db.session.commit()
            activity_ids = [a.id for a in activities]
            community_id = community.id
            with psycopg.connect(plain_url, autocommit=True) as conn:
                conn.execute("CREATE TABLE bench_a (id bigserial PRIMARY KEY, n int NOT NULL)")
                conn.execute("CREATE TABLE bench_b (id bigserial PRIMARY KEY, a_id bigint NOT NULL)")

        linli, linli_base = serve("wsgi:app", env, WORKERS)
        processes.append(linli)
        bare, bare_base = serve("bench.bare_app:app", env, WORKERS)
        processes.append(bare)

        # members log in through the fake WeChat and join the community
        with requests.Session() as session:
            tokens = []
            for i in range(MEMBERS):
                body = session.post(
                    f"{linli_base}/api/v1/auth/wechat", json={"code": f"bench{i}.1"}, timeout=10
                ).json()
                tokens.append(body["access_token"])
        with app.app_context():
            # party members of the community: a party day takes its party members only
            db.session.query(User).update(
                {User.community_id: community_id, User.party_community_id: community_id}
            )
            db.session.commit()
            codes = {a: issue_token("activity", a).token for a in activity_ids}
            refresh_at = time.time() + 20

        def check_in(session: requests.Session, n: int) -> int:
            nonlocal codes, refresh_at
            if time.time() > refresh_at:  # a screen shows a fresh code every 30 s
                with app.app_context():
                    codes = {a: issue_token("activity", a).token for a in activity_ids}
                refresh_at = time.time() + 20
            member, activity = n % MEMBERS, activity_ids[(n // MEMBERS) % ACTIVITIES]
            response = session.post(
                f"{linli_base}/api/v1/checkins",
                json={"token": codes[activity], "nonce": f"bench-nonce-{n:09d}"},
                headers={"Authorization": f"Bearer {tokens[member]}"},
                timeout=30,
            )
            return response.status_code

        def bare_insert(session: requests.Session, n: int) -> int:
            return session.post(f"{bare_base}/bare", timeout=30).status_code

        for call in (bare_insert, check_in):  # warm both
            drive(call, 2, 1.0)
        bare_max, _, _ = drive(bare_insert, CLIENTS, SECONDS)
        checkin_max, _, checkin_errors = drive(check_in, CLIENTS, SECONDS)
        _, bare_lat, _ = drive(bare_insert, CLIENTS, SECONDS, rate=bare_max / 2)
        _, checkin_lat, paced_errors = drive(check_in, CLIENTS, SECONDS, rate=checkin_max / 2)
        ratio = checkin_max / bare_max
        print(
            f"check-in under gunicorn ({WORKERS} sync workers each; {CLIENTS} clients; "
            f"{SECONDS:.0f} s per run)"
        )
        print(f"{'what':<44}{'max/s':>8}{'p50 ms':>8}{'p99 ms':>8}  (latency at half the max)")
        print(
            f"{'bare Flask route, two-row insert (baseline)':<44}{bare_max:>8.0f}"
            f"{pct(bare_lat, 50):>8.1f}{pct(bare_lat, 99):>8.1f}"
        )
        print(
            f"{'POST /api/v1/checkins':<44}{checkin_max:>8.0f}{pct(checkin_lat, 50):>8.1f}"
            f"{pct(checkin_lat, 99):>8.1f}"
        )
        verdict = "ok" if ratio >= 0.5 else "SLOWER"
        print(
            f"ratio {ratio:.2f} (target ≥ 0.5: {verdict}); p99 at half the max "
            f"{pct(checkin_lat, 99):.1f} ms "
            f"(target ≤ 50 ms: {'ok' if pct(checkin_lat, 99) <= 50 else 'SLOWER'})"
        )
        print(
            f"refusals during the runs: {checkin_errors + paced_errors} (a member's second check-in at an "
            "activity is refused by design once the members × activities run out)"
        )
        record(
            "check-in, maximum rate (gunicorn)",
            checkin_max,
            "req/s",
            "bare two-row insert, same server",
            bare_max,
            "ratio >= 0.5",
        )
        record(
            "check-in p99 at half the maximum",
            pct(checkin_lat, 99),
            "ms",
            "bare insert p99 at half its maximum",
            pct(bare_lat, 99),
            "value <= 50",
        )
        with app.app_context():
            db.engine.dispose()
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        fake_server.shutdown()
        drop_database(name)


if __name__ == "__main__":
    main()
