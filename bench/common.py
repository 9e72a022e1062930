"""What every benchmark needs: a throwaway PostgreSQL database and a thread-pool load loop."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable

import psycopg

ADMIN_URL = os.environ.get("LINLI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def create_database(bench: str) -> tuple[str, str]:
    """Create a database for this run: (its name, a plain postgresql:// URL); exit without PostgreSQL."""
    name = f"linli_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise SystemExit(f"bench.{bench} needs PostgreSQL ({ADMIN_URL}): {exc}") from exc
    return name, ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    """Drop a database made by create_database, whoever is still connected."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def in_threads(work: Callable[[int, float], int], threads: int, seconds: float) -> float:
    """Operations per second of ``work(thread, deadline)`` running in ``threads`` threads until a deadline."""
    counts = [0] * threads
    failures: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def run(index: int) -> None:
        barrier.wait()
        try:
            counts[index] = work(index, time.perf_counter() + seconds)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    started = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in started:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in started:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise failures[0]
    return sum(counts) / elapsed
