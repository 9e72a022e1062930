"""A themed party day (主题党日) under gunicorn: 2,000 members check in within two minutes while
other residents browse the wish wall and redeem points.

On a throwaway PostgreSQL database (and Redis under a prefix of its own, with one RQ worker, when
Redis answers), seeded through the services and bulk inserts: one community, an activity of kind
``party_day`` with capacity for every member, MEMBERS party members, OTHERS residents holding points,
open wishes and store items. Then, from a paced open-loop scheduler (Poisson arrivals, each request
sent at its time by the next free client thread, never as fast as possible):

- every member checks in once within WINDOW seconds, at the rate that needs (2,000 in 120 s: 17/s),
  with the rotating code of the door screen (refreshed by a staff client every 20 s, as the screen
  does) or, for one in five, the printed code on the poster;
- residents browse the wall (``GET /api/v1/wishes``) and open wishes (``GET /api/v1/wishes/{id}``)
  and redeem (``POST /api/v1/redemptions`` with an Idempotency-Key; one in twenty is resent with the
  same key, as a phone does after a lost answer), at BROWSE_RATE and REDEEM_RATE per second.

Prints per request type the count, p50/p99/max and the errors (non-2xx by status and code), then
checks that each member checked in exactly once, that redemptions match the keys answered, and that
``flask points verify`` is clean. Run: ``python -m bench.party_day`` (or ``make bench``); sizes by
LINLI_BENCH_PARTY_* (see below) and LINLI_BENCH_QUICK=1. No assertions: figures and checks.
"""

from __future__ import annotations

import math
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import IO, Any

import psycopg
import redis
import requests
from flask_migrate import upgrade
from sqlalchemy import insert

from bench.common import (
    REDIS_URL,
    ROOT,
    create_database,
    drop_database,
    drop_redis_keys,
    percentile,
    record,
    serve,
    sized,
    start_fake_wechat,
)
from server import clock

MEMBERS = sized("LINLI_BENCH_PARTY_MEMBERS", 2000, 300)  # party members, each checks in once
WINDOW = sized("LINLI_BENCH_PARTY_SECONDS", 120.0, 20.0)  # within this long
OTHERS = sized("LINLI_BENCH_PARTY_OTHERS", 300, 60)  # residents with points who browse and redeem
BROWSE_RATE = sized("LINLI_BENCH_PARTY_BROWSE_RATE", 8.0, 8.0)  # wall pages and wish details per second
REDEEM_RATE = sized("LINLI_BENCH_PARTY_REDEEM_RATE", 1.0, 1.0)  # redemption requests per second
WORKERS = int(os.environ.get("LINLI_BENCH_WORKERS", "4"))  # gunicorn sync workers
CLIENT_THREADS = 48  # enough that a request is never sent late while the server keeps up
WISHES = 60
PRINTED_SHARE = 0.2  # members scanning the poster's printed code instead of the screen
RESEND_SHARE = 0.05  # redemptions resent with the same Idempotency-Key
SCREEN_REFRESH_SECONDS = 20.0  # the door screen fetches a fresh code (codes turn every 30 s)
POINTS_EACH = 1000  # what each of the OTHERS holds before the day
ITEMS = [  # name, price, requires approval
    ("大米 5kg", 30, True),
    ("食用油 1.8L", 20, False),
    ("毛巾", 5, True),
]
CHECKIN_SCREEN = "POST /api/v1/checkins (screen code)"
CHECKIN_PRINTED = "POST /api/v1/checkins (printed code)"
WALL = "GET /api/v1/wishes (the wall)"
WISH = "GET /api/v1/wishes/{id}"
REDEEM = "POST /api/v1/redemptions"
SCREEN = "GET /api/v1/activities/{id}/code (door screen)"
KINDS = [CHECKIN_SCREEN, CHECKIN_PRINTED, WALL, WISH, REDEEM, SCREEN]


def arrivals(rng: random.Random, count: int, span: float) -> list[float]:
    """``count`` arrival times of a Poisson process over [0, span), sorted: exponential gaps, scaled."""
    gaps = [rng.expovariate(1.0) for _ in range(count + 1)]
    total, at, times = sum(gaps), 0.0, []
    for gap in gaps[:-1]:
        at += gap
        times.append(at / total * span)
    return times


def rate_for(members: int, window: float) -> int:
    """The least whole rate per second getting ``members`` in before ``window`` ends (2,000 in 120 s: 17)."""
    return math.floor(members / window) + 1


@dataclass(frozen=True)
class Event:
    """A request to send ``at`` seconds after the start."""

    at: float
    kind: str
    send: Callable[[requests.Session], requests.Response]
    key: str | None = None  # a redemption's Idempotency-Key


@dataclass
class Stats:
    """What the requests of one type did."""

    latencies: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)  # ms between the scheduled and the actual send
    errors: Counter[str] = field(default_factory=Counter)
    last_done: float = 0.0  # seconds after the start


class Recorder:
    """Thread-safe per-type statistics, and the Idempotency-Keys answered with 2xx."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stats = {kind: Stats() for kind in KINDS}
        self.keys_ok: set[str] = set()

    def add(
        self, kind: str, ms: float, late_ms: float, outcome: str | None, done_at: float, key: str | None
    ) -> None:
        """One request: its latency, how late it was sent, its error (None for 2xx), when it ended."""
        with self.lock:
            stats = self.stats[kind]
            stats.latencies.append(ms)
            stats.late.append(late_ms)
            stats.last_done = max(stats.last_done, done_at)
            if outcome is not None:
                stats.errors[outcome] += 1
            elif key is not None:
                self.keys_ok.add(key)


def outcome_of(response: requests.Response) -> str | None:
    """None for 2xx, else ``"409 OUT_OF_STOCK"`` (the status and the envelope's code)."""
    if 200 <= response.status_code < 300:
        return None
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "no envelope"
    return f"{response.status_code} {code}"


def dispatch(events: list[Event], threads: int, recorder: Recorder, start: float) -> None:
    """Send each event at its time from the next free thread (open loop: a slow answer delays no one)."""
    ordered = sorted(events, key=lambda e: e.at)
    position = [0]
    lock = threading.Lock()

    def run() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if position[0] >= len(ordered):
                        return
                    event = ordered[position[0]]
                    position[0] += 1
                pause = start + event.at - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                sent = time.perf_counter()
                try:
                    outcome = outcome_of(event.send(session))
                except requests.RequestException as exc:
                    outcome = f"no answer ({type(exc).__name__})"
                ended = time.perf_counter()
                late = max(0.0, sent - (start + event.at)) * 1000
                recorder.add(event.kind, (ended - sent) * 1000, late, outcome, ended - start, event.key)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


@dataclass
class Seeded:
    """What the load needs to know about the seeded data."""

    community_id: int
    activity_id: int
    member_ids: list[int]
    other_ids: list[int]
    wish_ids: list[int]
    item_ids: list[int]
    tokens: dict[int, str]  # user id → access token
    staff_token: str
    printed: str  # the poster's scene
    points_per_checkin: int


def seed(app: Any) -> Seeded:
    """Org tree, staff, members, residents with points, the activity, wishes and store items."""
    from checkin.models import Activity
    from checkin.tokens import printed_scene
    from points import services
    from server.auth.policy import Principal
    from server.auth.tokens import issue_access_token
    from server.db import db
    from server.orgs.services import create_org
    from server.users.models import User
    from server.users.services import create_staff
    from store.models import StoreItem
    from wishes.models import Wish
    from wishes.services import categories

    with app.app_context():
        upgrade()
        create_org("district", "区", "D", None)
        create_org("street", "街道", "S", "D")
        community = create_org("community", "阳光社区", "C", "S").id
        staff = create_staff("party-day-staff", secrets.token_urlsafe(12), "staff", "C", "社区书记")
        now = clock.now()
        members = [
            {
                "openid": f"bench-member-{i}",
                "nickname": f"党员{i}",
                "community_id": community,
                "party_community_id": community,
                "party_branch": "社区第一党支部",
                "party_member_since": now,
            }
            for i in range(MEMBERS)
        ]
        others = [
            {"openid": f"bench-resident-{i}", "nickname": f"居民{i}", "community_id": community}
            for i in range(OTHERS)
        ]
        returning = insert(User).returning(User.id, sort_by_parameter_order=True)
        member_ids = list(db.session.scalars(returning, members))
        other_ids = list(db.session.scalars(returning, others))
        activity = Activity(
            community_id=community,
            title="七一主题党日：重温入党誓词",
            kind="party_day",
            starts_at=now + timedelta(minutes=5),
            ends_at=now + timedelta(hours=2),
            checkin_opens_at=now - timedelta(minutes=25),
            checkin_closes_at=now + timedelta(hours=2),
            capacity=MEMBERS,
            taken=0,
            points_rule="PARTY_DAY",
            created_by_id=staff.id,
            printed_code_allowed=True,  # the poster at the door is this party day's fallback
        )
        db.session.add(activity)
        kinds = categories()
        wishes = [
            {
                "community_id": community,
                "user_id": other_ids[i % len(other_ids)],
                "title": f"微心愿{i}：{kinds[i % len(kinds)]}",
                "content": "希望有人帮忙，谢谢邻居们。" * (1 + i % 5),
                "category": kinds[i % len(kinds)],
                "contact_name": f"居民{i % len(other_ids)}",
                "status": "open",
                "sec_check": "pass",
            }
            for i in range(WISHES)
        ]
        wish_ids = list(
            db.session.scalars(insert(Wish).returning(Wish.id, sort_by_parameter_order=True), wishes)
        )
        items = [
            StoreItem(
                community_id=community,
                name=name,
                points_price=price,
                stock=100_000,
                requires_approval=approval,
            )
            for name, price, approval in ITEMS
        ]
        db.session.add_all(items)
        db.session.commit()
        principal = Principal(kind="staff", staff=staff)
        for n, user_id in enumerate(other_ids, 1):  # points earned before the day, through the service
            result = services.adjust(principal, user_id, POINTS_EACH, "往期活动积分", f"bench-seed-{user_id}")
            if result.status != "done":
                raise SystemExit(f"seeding points for user {user_id}: {result}")
            if n % 50 == 0:
                db.session.commit()
        db.session.commit()
        rule = services.get_rule("PARTY_DAY")
        seeded = Seeded(
            community_id=community,
            activity_id=activity.id,
            member_ids=member_ids,
            other_ids=other_ids,
            wish_ids=wish_ids,
            item_ids=[item.id for item in items],
            tokens={u: issue_access_token("user", u, 1)[0] for u in member_ids + other_ids},
            staff_token=issue_access_token("staff", staff.id, staff.token_version)[0],
            printed=printed_scene("activity", activity.id, activity.printed_version or 1),
            points_per_checkin=services.points_for(rule, Decimal(1), party_member=True),
        )
        db.session.remove()
        db.engine.dispose()
    return seeded


def plan(seeded: Seeded, base: str, screen: dict[str, str], rng: random.Random) -> tuple[list[Event], float]:
    """The day's requests and the span the check-ins are spread over."""
    rate = rate_for(MEMBERS, WINDOW)
    span = MEMBERS / rate
    events: list[Event] = []

    def bearer(user_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {seeded.tokens[user_id]}"}

    def check_in(user_id: int, printed: bool) -> Callable[[requests.Session], requests.Response]:
        def send(session: requests.Session) -> requests.Response:
            token = seeded.printed if printed else screen["token"]
            body = {"token": token, "nonce": f"party-day-{user_id}-{secrets.token_hex(4)}"}
            return session.post(f"{base}/api/v1/checkins", json=body, headers=bearer(user_id), timeout=30)

        return send

    members = seeded.member_ids[:]
    rng.shuffle(members)
    for at, user_id in zip(arrivals(rng, len(members), span), members, strict=True):
        printed = rng.random() < PRINTED_SHARE
        events.append(Event(at, CHECKIN_PRINTED if printed else CHECKIN_SCREEN, check_in(user_id, printed)))

    everyone = seeded.other_ids + seeded.member_ids
    for at in arrivals(rng, round(BROWSE_RATE * span), span):
        user_id = rng.choice(everyone)
        if rng.random() < 0.4:
            params = {
                "community_id": seeded.community_id,
                "page": rng.choice((1, 1, 1, 2, 3)),
                "page_size": 20,
                "sort": rng.choice(("newest", "deadline")),
            }
            url = f"{base}/api/v1/wishes"
            kind = WALL
        else:
            params, url, kind = {}, f"{base}/api/v1/wishes/{rng.choice(seeded.wish_ids)}", WISH

        def browse(
            session: requests.Session, url: str = url, params: dict[str, Any] = params, user_id: int = user_id
        ) -> requests.Response:
            return session.get(url, params=params, headers=bearer(user_id), timeout=30)

        events.append(Event(at, kind, browse))

    for at in arrivals(rng, round(REDEEM_RATE * span), span):
        user_id, item_id = rng.choice(seeded.other_ids), rng.choice(seeded.item_ids)
        key = f"party-day-{secrets.token_hex(8)}"

        def redeem(
            session: requests.Session, user_id: int = user_id, item_id: int = item_id, key: str = key
        ) -> requests.Response:
            headers = {**bearer(user_id), "Idempotency-Key": key}
            body = {"item_id": item_id, "quantity": 1}
            return session.post(f"{base}/api/v1/redemptions", json=body, headers=headers, timeout=30)

        events.append(Event(at, REDEEM, redeem, key))
        if rng.random() < RESEND_SHARE:  # the phone did not see the answer and sends it again
            events.append(Event(min(span, at + rng.uniform(0.5, 3.0)), REDEEM, redeem, key))
    return events, span


def door_screen(
    base: str, seeded: Seeded, screen: dict[str, str], recorder: Recorder, start: float, stop: threading.Event
) -> None:
    """The screen at the door: a fresh code every SCREEN_REFRESH_SECONDS, as a staff client."""
    url = f"{base}/api/v1/activities/{seeded.activity_id}/code"
    headers = {"Authorization": f"Bearer {seeded.staff_token}"}
    with requests.Session() as session:
        while not stop.wait(SCREEN_REFRESH_SECONDS):
            sent = time.perf_counter()
            try:
                response = session.get(url, headers=headers, timeout=30)
                outcome = outcome_of(response)
                if outcome is None:
                    screen["token"] = response.json()["token"]
            except requests.RequestException as exc:
                outcome = f"no answer ({type(exc).__name__})"
            ended = time.perf_counter()
            recorder.add(SCREEN, (ended - sent) * 1000, 0.0, outcome, ended - start, None)


def report(recorder: Recorder) -> tuple[list[float], int]:
    """Print the table per request type; (all check-in latencies, all errors)."""
    print(f"{'request':<48}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'late p99':>10}{'errors':>8}")
    for kind in KINDS:
        stats = recorder.stats[kind]
        if not stats.latencies:
            continue
        print(
            f"{kind:<48}{len(stats.latencies):>7}{percentile(stats.latencies, 50):>9.1f}"
            f"{percentile(stats.latencies, 99):>9.1f}{max(stats.latencies):>9.1f}"
            f"{percentile(stats.late, 99):>10.1f}{sum(stats.errors.values()):>8}"
        )
    checkins = recorder.stats[CHECKIN_SCREEN].latencies + recorder.stats[CHECKIN_PRINTED].latencies
    print(
        f"{'all check-ins':<48}{len(checkins):>7}{percentile(checkins, 50):>9.1f}"
        f"{percentile(checkins, 99):>9.1f}{max(checkins, default=math.nan):>9.1f}"
    )
    print("late p99: how late the scheduler sent a request (non-zero: the load generator fell behind)")
    errors = 0
    for kind in KINDS:
        for outcome, count in sorted(recorder.stats[kind].errors.items()):
            print(f"  error  {kind}: {outcome} × {count}")
            errors += count
    if not errors:
        print("errors: none (every answer 2xx)")
    return checkins, errors


def check(url: str, seeded: Seeded, recorder: Recorder) -> tuple[int, int]:
    """Print the end-of-day checks; (members checked in exactly once, redemptions unmatched)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT user_id, count(*), sum(points_awarded) FROM checkins WHERE activity_id = %s "
            "GROUP BY user_id",
            (seeded.activity_id,),
        ).fetchall()
        taken = conn.execute("SELECT taken FROM activities WHERE id = %s", (seeded.activity_id,)).fetchone()
        redemptions = conn.execute(
            "SELECT status, count(*) FROM redemptions GROUP BY status ORDER BY status"
        ).fetchall()
        keyed = conn.execute("SELECT count(DISTINCT idempotency_key) FROM redemptions").fetchone()
    members = set(seeded.member_ids)
    once = sum(1 for user_id, count, _ in rows if user_id in members and count == 1)
    twice = sum(1 for _, count, _ in rows if count > 1)
    strangers = sum(1 for user_id, _, _ in rows if user_id not in members)
    points = sum(int(p or 0) for _, _, p in rows)
    print(
        f"check-ins: {once:,} of {MEMBERS:,} members exactly once, {twice} more than once, "
        f"{strangers} not invited, {MEMBERS - once - twice:,} missing; activity taken "
        f"{taken[0] if taken else '?'}/{MEMBERS}; points awarded {points:,} "
        f"(expected {MEMBERS * seeded.points_per_checkin:,})"
    )
    made = sum(count for _, count in redemptions)
    unmatched = abs(made - len(recorder.keys_ok)) + abs((keyed[0] if keyed else 0) - made)
    print(
        f"redemptions: {made} made ({', '.join(f'{s} {c}' for s, c in redemptions) or 'none'}), "
        f"{len(recorder.keys_ok)} distinct Idempotency-Keys answered 2xx"
        + ("" if not unmatched else " — MISMATCH")
    )
    return once, unmatched


def points_verify(env: dict[str, str]) -> int:
    """Run ``flask points verify``; the number of violations it names (0: clean)."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "points", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    said = (done.stdout + done.stderr).strip()
    print(f"flask points verify: exit status {done.returncode}; {said.splitlines()[-1] if said else ''}")
    if done.returncode == 0:
        return 0
    for line in said.splitlines()[:10]:
        print(f"  {line}")
    return max(1, len([line for line in said.splitlines() if line.strip()]) - 1)


def run_day(
    url: str,
    settings: dict[str, str],
    env: dict[str, str],
    with_redis: bool,
    processes: list[subprocess.Popen[bytes]],
    log: IO[bytes],
) -> None:
    """Seed, serve (gunicorn, and an RQ worker with Redis), run the day, print, check, record."""
    from server.app import create_app

    started = time.perf_counter()
    seeded = seed(create_app({**settings, "REDIS_URL": None}))
    print(
        f"seeded in {time.perf_counter() - started:.1f} s: {MEMBERS:,} party members, {OTHERS} residents "
        f"with {POINTS_EACH} points, {WISHES} open wishes, {len(ITEMS)} store items"
    )
    app, base = serve("wsgi:app", env, WORKERS, log)
    processes.append(app)
    if with_redis:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        )
    recorder = Recorder()
    sent = time.perf_counter()
    first = requests.get(
        f"{base}/api/v1/activities/{seeded.activity_id}/code",
        headers={"Authorization": f"Bearer {seeded.staff_token}"},
        timeout=30,
    )
    recorder.add(SCREEN, (time.perf_counter() - sent) * 1000, 0.0, outcome_of(first), 0.0, None)
    if first.status_code != 200:
        raise SystemExit(f"the door screen got no code: {first.status_code} {first.text[:200]}")
    screen = {"token": first.json()["token"]}
    rng = random.Random(int(os.environ.get("LINLI_BENCH_SEED", "9")))  # noqa: S311  (a reproducible workload, not a secret)
    events, span = plan(seeded, base, screen, rng)
    rate = rate_for(MEMBERS, WINDOW)
    print(
        f"party day: {MEMBERS:,} members check in within {WINDOW:.0f} s ({rate}/s over {span:.0f} s, "
        f"Poisson arrivals, {PRINTED_SHARE:.0%} printed codes) while residents browse the wish wall "
        f"({BROWSE_RATE:g}/s) and redeem ({REDEEM_RATE:g}/s, {RESEND_SHARE:.0%} resent with the same key)"
    )
    services = "Redis and 1 RQ worker" if with_redis else "no Redis (jobs in-process)"
    print(f"gunicorn {WORKERS} sync workers, PostgreSQL, {services}; {CLIENT_THREADS} client threads")
    stop = threading.Event()
    start = time.perf_counter() + 0.5
    screen_thread = threading.Thread(target=door_screen, args=(base, seeded, screen, recorder, start, stop))
    screen_thread.start()
    try:
        dispatch(events, CLIENT_THREADS, recorder, start)
    finally:
        stop.set()
        screen_thread.join()
    checkins, errors = report(recorder)
    last = max(recorder.stats[CHECKIN_SCREEN].last_done, recorder.stats[CHECKIN_PRINTED].last_done)
    print(f"the last check-in was answered {last:.1f} s after the day began (window {WINDOW:.0f} s)")
    once, unmatched = check(url, seeded, recorder)
    violations = points_verify(env)
    if any(outcome.startswith("5") for s in recorder.stats.values() for outcome in s.errors):
        log.seek(0)
        tail = log.read().decode(errors="replace").splitlines()[-40:]
        print("server log (last lines):", *tail, sep="\n  ")

    record("party day: check-in p50", percentile(checkins, 50), "ms")
    record("party day: check-in p99", percentile(checkins, 99), "ms")
    browsing = recorder.stats[WALL].latencies + recorder.stats[WISH].latencies
    record("party day: wish wall and details p99", percentile(browsing, 99), "ms")
    record("party day: redemption p99", percentile(recorder.stats[REDEEM].latencies, 99), "ms")
    record("party day: requests answered non-2xx", errors, "count", target="value == 0")
    record("party day: members checked in exactly once", once, "members", target=f"value == {MEMBERS}")
    record("party day: last check-in answered after", last, "s", target=f"value <= {WINDOW:g}")
    record(
        "party day: points verify violations + redemption mismatches",
        violations + unmatched,
        "count",
        target="value == 0",
    )


def redis_or_none() -> redis.Redis | None:
    """A client of the benchmark's Redis, or None when it does not answer."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        client.close()
        return None
    return client


def main() -> None:
    """A database and Redis prefix of this run, the fake WeChat, the day, and everything removed after."""
    prefix = f"linli-bench-{secrets.token_hex(3)}:"
    connection = redis_or_none()  # without Redis: rate limits in memory, jobs in-process
    name, url = create_database("party_day")

    fake = start_fake_wechat()
    settings = {
        "LINLI_ENV": "testing",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": url,
        "CHECKIN_TOKEN_KEYS": "A:" + secrets.token_hex(16),
        "WECHAT_API_BASE": f"http://127.0.0.1:{fake.server_port}",
    }
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_PREFIX")}
    env.update(settings)
    if connection is not None:
        env.update({"REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix})
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryFile() as log:
        try:
            run_day(url, settings, env, connection is not None, processes, log)
        finally:
            for process in reversed(processes):
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            fake.shutdown()
            if connection is not None:
                drop_redis_keys(connection, prefix)
                connection.close()
            drop_database(name)


if __name__ == "__main__":
    main()
