"""What the points ledger costs at scale: reads over a million entries, and awards against bare inserts.

Seeds one million ledger entries (half a million transactions over a year) for ten thousand users of
ten communities (a tenth of that with LINLI_BENCH_QUICK=1) with set-based SQL, consistent with the
ledger's invariants, and checks them once with verify_ledger(). Then prints p50/p99 of the reads a
member's screens make (balance, the first page of history, the community's leaderboard of the
month) and the throughput of concurrent awards against a bare baseline measured in the same run:
the same number of threads inserting a pair of rows per transaction with psycopg. Run:
`python -m bench.ledger` (or `make bench`). Needs PostgreSQL (a throwaway database). No
assertions: figures and targets only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, text

from bench.common import create_database, drop_database, in_threads, record, sized

USERS = sized("LINLI_BENCH_USERS", 10_000, 1_000)
COMMUNITIES = 10
TRANSACTIONS_PER_USER = 50  # two entries each: a million entries for ten thousand users
SAMPLES = sized("LINLI_BENCH_SAMPLES", 300, 100)
THREADS = 8
SECONDS = sized("LINLI_BENCH_SECONDS", 10.0, 3.0)
RULES = [  # the seeded default rules: code, category, points, unit
    ("PARTY_DAY", "party_day", 5, "event"),
    ("VOLUNTEER_HOUR", "volunteer", 2, "hour"),
    ("ACTIVITY_CHECKIN", "activity", 1, "event"),
    ("WISH_FULFILLED", "wish", 5, "event"),
    ("STATION_DUTY_HOUR", "duty", 2, "hour"),
]
SYSTEM_KINDS = [
    *(f"issuing:{category}" for _, category, _, _ in RULES),
    "issuing:adjustment",
    "redeemed",
    "expired",
]
TARGETS_MS = {"balance": 5.0, "history": 20.0, "leaderboard": 50.0}
AWARD_TARGET_RATIO = 0.5

# Per user, 50 transactions over 360 days up to now: 40 awards, holds of 2 points at seq 10, 20, 30,
# 40 and 43, captures of the first three two steps later, a release of the fourth (the hold at 43
# stays open), and at 44 a reversal of the first award; seq 45-50 are awards, so the current month
# has earnings. Transaction ids are time-major, id = (seq - 1) * users + user, so each user's rows
# are spread over the table as in real life.
# Account ids: user u has available 2u-1 and held 2u; the j-th of SYSTEM_KINDS (from 1) of the c-th
# community (from 1) is 2 * users + 8 * (c - 1) + j.
SEED_SQL = [
    """INSERT INTO users (id, openid, nickname, community_id, created_at)
       SELECT u, 'bench-' || u, '居民' || u, (CAST(:communities AS integer[]))[1 + (u - 1) % {c}], now()
       FROM generate_series(1, {users}) AS u""",
    """INSERT INTO points_accounts (id, key, kind, user_id, balance)
       SELECT 2 * u - 1 + k, 'user:' || u || ':' || kind, kind, u, 0
       FROM generate_series(1, {users}) AS u,
            LATERAL (VALUES (0, 'available'), (1, 'held')) AS a(k, kind)""",
    # issuing:<community>:<category>, redeemed:<community>, expired:<community>
    """INSERT INTO points_accounts (id, key, kind, community_id, category)
       SELECT 2 * {users} + 8 * (c - 1) + j,
              kind || ':' || community || COALESCE(':' || category, ''), kind, community, category
       FROM unnest(CAST(:communities AS integer[])) WITH ORDINALITY AS cs(community, c),
            unnest(CAST(:kinds AS text[])) WITH ORDINALITY AS ks(name, j),
            LATERAL (SELECT split_part(name, ':', 1) AS kind,
                            NULLIF(split_part(name, ':', 2), '') AS category) AS x""",
    """INSERT INTO points_transactions (
           id, kind, user_id, community_id, category, rule_code, quantity, amount, idempotency_key,
           reason, memo, ref_type, ref_id, reverses_id, settles_id, local_date, created_at)
       SELECT id, kind, u, (CAST(:communities AS integer[]))[1 + (u - 1) % {c}],
              CASE WHEN ruled THEN (CAST(:categories AS text[]))[r + 1] ELSE 'redemption' END,
              CASE WHEN ruled THEN (CAST(:codes AS text[]))[r + 1] END,
              CASE WHEN kind = 'award' THEN quantity END,
              CASE WHEN ruled THEN (CAST(:points AS integer[]))[r + 1] * quantity ELSE 2 END,
              CASE kind WHEN 'award' THEN 'checkin:' || id WHEN 'hold' THEN 'hold:' || id
                        WHEN 'reverse' THEN 'reverse:' || reverses ELSE kind || ':' || settles END,
              CASE WHEN kind = 'reverse' THEN '误签到' END,
              kind || ' (seed)',
              CASE kind WHEN 'award' THEN 'checkin' WHEN 'reverse' THEN NULL ELSE 'redemption' END,
              CASE kind WHEN 'award' THEN id::text WHEN 'reverse' THEN NULL
                        ELSE u || '-' || COALESCE(settles, id) END,
              reverses, settles, (at AT TIME ZONE 'Asia/Shanghai')::date, at
       FROM generate_series(1, {per_user}) AS s, generate_series(1, {users}) AS u,
            LATERAL (SELECT (s - 1) * {users} + u AS id,
                            CASE WHEN s IN (10, 20, 30, 40, 43) THEN 'hold'
                                 WHEN s IN (12, 22, 32) THEN 'capture'
                                 WHEN s = 42 THEN 'release'
                                 WHEN s = 44 THEN 'reverse'
                                 ELSE 'award' END AS kind,
                            CASE WHEN s = 44 THEN 1 ELSE s END AS source_seq) AS t,
            LATERAL (SELECT (u + source_seq) % 5 AS r,
                            kind IN ('award', 'reverse') AS ruled,
                            CASE WHEN (u + source_seq) % 5 IN (1, 4) THEN 1 + (u * source_seq) % 3
                                 ELSE 1 END AS quantity,
                            CASE WHEN s = 44 THEN u END AS reverses,
                            CASE WHEN s IN (12, 22, 32, 42) THEN (s - 3) * {users} + u END AS settles,
                            CAST(:start AS timestamptz)
                              + interval '360 days' * (id::float8 / ({per_user} * {users})) AS at) AS d""",
    """INSERT INTO points_entries (id, transaction_id, account_id, amount, created_at)
       SELECT 2 * t.id - 2 + leg, t.id,
              CASE WHEN (t.kind, leg) IN (('award', 2), ('hold', 1), ('release', 2), ('reverse', 2))
                       THEN 2 * t.user_id - 1
                   WHEN (t.kind, leg) IN (('hold', 2), ('capture', 1), ('release', 1)) THEN 2 * t.user_id
                   WHEN t.kind = 'capture' THEN system + 7
                   ELSE system + array_position(CAST(:categories AS text[]), t.category) END,
              CASE WHEN (t.kind = 'reverse') = (leg = 1) THEN t.amount ELSE -t.amount END,
              t.created_at
       FROM points_transactions t CROSS JOIN (VALUES (1), (2)) AS legs(leg),
            LATERAL (SELECT 2 * {users} + 8 * ((t.user_id - 1) % {c}) AS system) AS x""",
    """UPDATE points_accounts a SET balance = s.total
       FROM (SELECT account_id, SUM(amount) AS total FROM points_entries GROUP BY account_id) s
       WHERE a.id = s.account_id AND a.balance IS NOT NULL""",
    # What rebuild_earnings() computes: awards and adjustments net of reversals, in the original's month.
    """INSERT INTO points_earnings (user_id, community_id, month, points)
       SELECT t.user_id, t.community_id, date_trunc('month', COALESCE(o.local_date, t.local_date))::date,
              SUM(e.amount)
       FROM points_transactions t
       JOIN points_entries e ON e.transaction_id = t.id AND e.account_id = 2 * t.user_id - 1
       LEFT JOIN points_transactions o ON o.id = t.reverses_id
       WHERE t.kind IN ('award', 'adjust') OR (t.kind = 'reverse' AND o.kind IN ('award', 'adjust'))
       GROUP BY 1, 2, 3""",
    """INSERT INTO points_rules (code, name, category, points, unit, daily_cap, active, created_at)
       VALUES ('BENCH', '压测', 'activity', 1, 'event', 1000, true, now())""",
]
SEQUENCES = ["users", "points_accounts", "points_transactions", "points_entries"]


def entries_label(entries: int) -> str:
    """``1M entries``, ``100k entries``: the size a read was measured at, for the table's row names."""
    if entries >= 1_000_000:
        return f"{entries / 1_000_000:.3g}M entries"
    return f"{entries / 1000:.3g}k entries"


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    """(p50, p99) of a list of timings."""
    ordered = sorted(samples_ms)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def timed(app: Flask, call: Callable[[int], Any], picks: list[int]) -> list[float]:
    """Milliseconds of ``call(pick)`` for each pick, each in its own read transaction."""
    from server.db import db

    timings = []
    with app.app_context():
        for pick in picks[:20]:  # warm-up
            call(pick)
            db.session.rollback()
        for pick in picks:
            start = time.perf_counter()
            call(pick)
            timings.append((time.perf_counter() - start) * 1000)
            db.session.rollback()
    return timings


def statements_per_award(app: Flask) -> int:
    """How many SQL statements one award sends, BEGIN and COMMIT left out."""
    from points import services
    from server.db import db

    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            services.award(1, "BENCH", 1, ("bench", "count"), "bench:count")
            db.session.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
    return len(sent)


def bare_pairs(plain_url: str) -> Callable[[int, float], int]:
    """The baseline: one psycopg connection per thread, two single-row inserts per transaction."""

    def work(index: int, deadline: float) -> int:
        done = 0
        with psycopg.connect(plain_url) as conn:
            while time.perf_counter() < deadline:
                with conn.transaction():
                    conn.execute("INSERT INTO bench_a (thread, n) VALUES (%s, %s)", (index, done))
                    conn.execute("INSERT INTO bench_b (thread, n) VALUES (%s, %s)", (index, -done))
                done += 1
        return done

    return work


def stack_pairs(app: Flask) -> Callable[[int, float], int]:
    """The same-stack baseline: an app context per thread, two Core inserts and a commit per operation."""
    from server.db import db

    insert_a = text("INSERT INTO bench_a (thread, n) VALUES (:thread, :n)")
    insert_b = text("INSERT INTO bench_b (thread, n) VALUES (:thread, :n)")

    def work(index: int, deadline: float) -> int:
        done = 0
        with app.app_context():
            while time.perf_counter() < deadline:
                db.session.execute(insert_a, {"thread": index, "n": done})
                db.session.execute(insert_b, {"thread": index, "n": -done})
                db.session.commit()
                done += 1
        return done

    return work


def awards(app: Flask, run: str) -> Callable[[int, float], int]:
    """An app context per thread, services.award + commit per call, unique keys, random users."""
    from points import services
    from server.db import db

    def work(index: int, deadline: float) -> int:
        rng = random.Random(f"{run}{index}")  # noqa: S311  (a reproducible workload, not a secret)
        done = 0
        with app.app_context():
            while time.perf_counter() < deadline:
                key = f"bench:{run}:{index}:{done}"
                result = services.award(rng.randint(1, USERS), "BENCH", 1, ("bench", key), key)
                db.session.commit()
                if result.status != "done":
                    raise RuntimeError(f"unexpected award result {result}")
                done += 1
        return done

    return work


def seed(app: Flask) -> list[int]:
    """The org tree, the users and the ledger; returns the community ids."""
    from server.db import db
    from server.orgs.services import create_org

    with app.app_context():
        create_org("district", "压测区", "BD", None)
        create_org("street", "压测街道", "BS", "BD")
        communities = [
            create_org("community", f"压测社区{n}", f"BC{n:02d}", "BS").id for n in range(COMMUNITIES)
        ]
        db.session.commit()
        sizes = {"users": USERS, "c": COMMUNITIES, "per_user": TRANSACTIONS_PER_USER}
        params = {
            "communities": communities,
            "kinds": SYSTEM_KINDS,
            "codes": [code for code, _, _, _ in RULES],
            "categories": [category for _, category, _, _ in RULES],
            "points": [points for _, _, points, _ in RULES],
            "start": datetime.now(UTC) - timedelta(days=360),
        }
        with db.engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            for statement in SEED_SQL:
                conn.execute(text(statement.format(**sizes)), params)
            for table in SEQUENCES:
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}")  # noqa: S608  (table names from the models' metadata)
                )
        with db.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM ANALYZE"))
    return communities


def main() -> None:
    """Seed, measure and print."""
    name, plain_url = create_database("ledger")

    from points import services
    from points.verify import verify_ledger
    from server.app import create_app
    from server.db import db

    try:
        app = create_app(
            {
                "LINLI_ENV": "testing",
                "DATABASE_URL": plain_url.replace("postgresql://", "postgresql+psycopg://"),
                "REDIS_URL": None,
            }
        )
        with app.app_context():
            upgrade()
        started = time.perf_counter()
        communities = seed(app)
        seeded = time.perf_counter() - started
        with app.app_context():
            counts = db.session.execute(
                text(
                    "SELECT (SELECT count(*) FROM points_entries), (SELECT count(*) FROM points_transactions)"
                )
            ).one()
            started = time.perf_counter()
            problems = verify_ledger()
            verified = time.perf_counter() - started
            db.session.rollback()
        print(
            f"points ledger (PostgreSQL): {counts[0]:,} entries, {counts[1]:,} transactions, "
            f"{USERS:,} users, {COMMUNITIES} communities; seeded in {seeded:.1f} s"
        )
        verdict = "holds" if not problems else f"BROKEN, {len(problems)} violations, e.g. {problems[:3]}"
        print(f"verify_ledger(): {verdict} ({verified:.1f} s)")

        rng = random.Random(1)  # noqa: S311  (a reproducible sample, not a secret)
        users = [rng.randint(1, USERS) for _ in range(SAMPLES)]
        reads = {
            "balance": ("services.balance_of(user)", timed(app, services.balance_of, users)),
            "history": (
                "services.history_of(user, 1, 20)",
                timed(app, lambda u: services.history_of(u, 1, 20), users),
            ),
            "leaderboard": (
                'services.leaderboard([community], "month")',
                timed(
                    app,
                    lambda c: services.leaderboard([c], "month"),
                    [rng.choice(communities) for _ in users],
                ),
            ),
        }
        print()
        print(f"reads ({SAMPLES} samples each, random users or communities, one transaction each)")
        print(f"{'read':<46}{'p50 ms':>8}{'p99 ms':>8}{'target p99':>12}")
        for what, (label, timings) in reads.items():
            p50, p99 = percentiles(timings)
            target = TARGETS_MS[what]
            verdict = "ok" if p99 <= target else "SLOWER"
            print(f"{label:<46}{p50:>8.2f}{p99:>8.2f}{f'≤ {target:.0f} ms':>12}  {verdict}")
            size = entries_label(counts[0])
            record(f"ledger {what} p99 at {size}", p99, "ms", target=f"value <= {target:g}")

        with psycopg.connect(plain_url, autocommit=True) as conn:
            for table in ("bench_a", "bench_b"):
                conn.execute(
                    f"CREATE TABLE {table} (id bigserial PRIMARY KEY, thread int NOT NULL, "
                    "n bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
                )
        statements = statements_per_award(app)
        bare = in_threads(bare_pairs(plain_url), THREADS, SECONDS)
        stack = in_threads(stack_pairs(app), THREADS, SECONDS)
        awarded = in_threads(awards(app, "threads"), THREADS, SECONDS)
        alone = in_threads(awards(app, "alone"), 1, SECONDS / 2)
        ratio = awarded / stack
        print()
        print(f"writes ({THREADS} threads, {SECONDS:.0f} s each, one transaction per operation, unique keys)")
        print(f"{'what':<50}{'per s':>8}{'ratio':>8}{'target':>12}")
        print(f"{'bare pair of inserts, same stack (baseline)':<50}{stack:>8.0f}{1.0:>8.2f}")
        verdict = "ok" if ratio >= AWARD_TARGET_RATIO else "SLOWER"
        target_ratio = f"≥ {AWARD_TARGET_RATIO:.2f}"
        print(f"{'services.award + commit':<50}{awarded:>8.0f}{ratio:>8.2f}{target_ratio:>12}  {verdict}")
        print(f"{'  the same in 1 thread':<50}{alone:>8.0f}{alone / stack:>8.2f}")
        print(f"{'  for reference: raw psycopg pair, no ORM/app':<50}{bare:>8.0f}{bare / stack:>8.2f}")
        record(
            "award + commit (8 threads)",
            awarded,
            "per s",
            "bare pair of inserts, same stack",
            stack,
            f"ratio >= {AWARD_TARGET_RATIO}",
        )
        print(f"statements per call: award {statements} (BEGIN/COMMIT not counted), bare 2")
        print("the baseline is two Core inserts and a commit through the app's session and pool, so the")
        print("ratio is what the ledger adds; raw psycopg shows what Python + SQLAlchemy cost on their own")
        with app.app_context():
            db.engine.dispose()
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
