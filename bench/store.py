"""Redemptions per second from concurrent clients against a bare two-row insert, and the race figures.

In one process, on a throwaway PostgreSQL database: 8 threads (an app context each) request
redemptions (points held, stock reserved, one transaction each) for a number of seconds, all for one
item (the worst case: its row is locked from the reservation to the commit) and then spread over a
catalogue of 20, against the same threads inserting a pair of rows through the same app session and
pool. Then 50 members race for the last 3 items and the figures are printed with the ledger check. Run:
`python -m bench.store` (or `make bench`). No assertions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, text

from bench.common import create_database, drop_database, in_threads, record, sized
from server import clock

THREADS = 8
SECONDS = sized("LINLI_BENCH_SECONDS", 8.0, 3.0)
MEMBERS = 400
TARGET = 0.3
SHELF = 20  # items of the catalogue the spread requests go to


def main() -> None:
    """Seed, measure, race, print."""
    name, url = create_database("store")

    from points.ledger import add_earning, issuing_account, lock_user_accounts
    from points.models import Account, LedgerEntry, LedgerTransaction
    from points.verify import verify_ledger
    from server.app import create_app
    from server.db import db
    from server.orgs.services import create_org
    from server.users.models import User
    from store import services as store
    from store.models import StoreItem

    try:
        app: Flask = create_app({"LINLI_ENV": "testing", "DATABASE_URL": url, "REDIS_URL": None})
        with app.app_context():
            upgrade()
            create_org("district", "区", "D", None)
            create_org("street", "街道", "S", "D")
            community = create_org("community", "社区", "C", "S").id
            users = [
                User(openid=f"bench-{i}", nickname=f"居民{i}", community_id=community) for i in range(MEMBERS)
            ]
            db.session.add_all(users)
            db.session.flush()
            issuing = issuing_account(community, "adjustment")
            for user in users:  # 100,000 points each, as one balanced transaction per member
                available, _ = lock_user_accounts(user.id)
                txn = LedgerTransaction(
                    kind="adjust",
                    user_id=user.id,
                    community_id=community,
                    category="adjustment",
                    amount=100_000,
                    memo="基准测试 +100000",
                    reason="bench",
                    local_date=clock.now().date(),
                    created_at=clock.now(),
                )
                db.session.add(txn)
                db.session.flush()
                db.session.add_all(
                    [
                        LedgerEntry(transaction_id=txn.id, account_id=issuing.id, amount=-100_000),
                        LedgerEntry(transaction_id=txn.id, account_id=available.id, amount=100_000),
                    ]
                )
                db.session.query(Account).filter(Account.id == available.id).update({"balance": 100_000})
                add_earning(user.id, community, clock.now().date().replace(day=1), 100_000)
            big = StoreItem(
                community_id=community,
                name="毛巾",
                points_price=1,
                stock=10_000_000,
                reserved=0,
                requires_approval=True,
            )
            last = StoreItem(
                community_id=community, name="最后三袋大米", points_price=10, stock=3, reserved=0
            )
            shelf = [  # a community's usual catalogue: requests spread over its goods
                StoreItem(
                    community_id=community,
                    name=f"商品{n}",
                    points_price=1,
                    stock=10_000_000,
                    reserved=0,
                    requires_approval=True,
                )
                for n in range(SHELF)
            ]
            db.session.add_all([big, last, *shelf])
            db.session.commit()
            user_ids, big_id, last_id = [u.id for u in users], big.id, last.id
            shelf_ids = [item.id for item in shelf]
            db.session.execute(text("CREATE TABLE bench_a (id bigserial PRIMARY KEY, n int NOT NULL)"))
            db.session.execute(text("CREATE TABLE bench_b (id bigserial PRIMARY KEY, a_id bigint NOT NULL)"))
            db.session.commit()

        def bare(index: int, deadline: float) -> int:
            done = 0
            with app.app_context():
                while time.perf_counter() < deadline:
                    first = db.session.execute(
                        text("INSERT INTO bench_a (n) VALUES (1) RETURNING id")
                    ).scalar()
                    db.session.execute(text("INSERT INTO bench_b (a_id) VALUES (:a)"), {"a": first})
                    db.session.commit()
                    done += 1
            return done

        def redeeming(items: list[int], run: str) -> Callable[[int, float], int]:
            def redeem(index: int, deadline: float) -> int:
                done = 0
                with app.app_context():
                    while time.perf_counter() < deadline:
                        user = user_ids[(index * 50 + done) % MEMBERS]
                        item_id = items[(index + done) % len(items)]
                        store.request_redemption(user, item_id, 1, f"bench-{run}-{index}-{done}")
                        db.session.commit()
                        done += 1
                return done

            return redeem

        with app.app_context():
            sent: list[str] = []
            count = lambda *args: sent.append(args[2])  # noqa: E731
            event.listen(db.engine, "before_cursor_execute", count)
            store.request_redemption(user_ids[0], big_id, 1, "bench-count")
            db.session.commit()
            event.remove(db.engine, "before_cursor_execute", count)
        baseline = in_threads(bare, THREADS, SECONDS)
        redemptions = in_threads(redeeming([big_id], "hot"), THREADS, SECONDS)
        spread = in_threads(redeeming(shelf_ids, "shelf"), THREADS, SECONDS)

        outcomes: list[str] = []
        barrier = threading.Barrier(50)

        def race(user_id: int) -> None:
            with app.app_context():
                barrier.wait()
                try:
                    store.request_redemption(user_id, last_id, 1, f"race-{user_id}")
                    db.session.commit()
                    outcomes.append("ok")
                except Exception as exc:  # the refusals are the point of the race
                    db.session.rollback()
                    outcomes.append(getattr(exc, "code", type(exc).__name__))

        racers = [threading.Thread(target=race, args=(u,)) for u in user_ids[:50]]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        with app.app_context():
            final = db.session.get(StoreItem, last_id)
            assert final is not None
            problems = verify_ledger()
            stock, reserved = final.stock, final.reserved
            db.session.rollback()
        ratio = redemptions / baseline
        print(f"store (PostgreSQL, {THREADS} threads in one process, {SECONDS:.0f} s each)")
        print(f"{'what':<48}{'per s':>8}{'ratio':>8}")
        print(f"{'bare pair of inserts, same stack (baseline)':<48}{baseline:>8.0f}{1.0:>8.2f}")
        verdict = "ok" if ratio >= TARGET else "SLOWER"
        print(
            f"{'redemption requests, all for one item':<48}{redemptions:>8.0f}{ratio:>8.2f}"
            f"  target ≥ {TARGET}: {verdict}"
        )
        spread_ratio = spread / baseline
        print(
            f"{f'redemption requests over {SHELF} items':<48}{spread:>8.0f}{spread_ratio:>8.2f}"
            f"  target ≥ {TARGET}: {'ok' if spread_ratio >= TARGET else 'SLOWER'}"
        )
        print(
            f"statements per request: {len(sent)} (BEGIN/COMMIT not counted), bare 2; one item's requests "
            "queue on its row, which the reservation locks until the commit"
        )
        record(
            "redemption requests (hold + reserve), one hot item",
            redemptions,
            "per s",
            "bare pair of inserts, same stack",
            baseline,
            f"ratio >= {TARGET}",
        )
        record(
            f"redemption requests, spread over {SHELF} items",
            spread,
            "per s",
            "bare pair of inserts, same stack",
            baseline,
            f"ratio >= {TARGET}",
        )
        refused = {code: outcomes.count(code) for code in set(outcomes) - {"ok"}}
        print(
            f"race: 50 requests for the last 3 → {outcomes.count('ok')} succeeded, refused {refused}; "
            f"stock {stock}, reserved {reserved}; ledger check: {'clean' if not problems else problems[:3]}"
        )
        with app.app_context():
            db.engine.dispose()
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
