"""What every benchmark needs: a throwaway PostgreSQL database, a thread-pool load loop, gunicorn,
the quick mode's sizes, and ``record()`` for the one table of ``make bench`` (``bench/run_all.py``).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import psycopg
import requests

ADMIN_URL = os.environ.get("LINLI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LINLI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parent.parent
RESULTS_ENV = "LINLI_BENCH_RESULTS"  # a JSON-lines file; record() appends a headline row to it
MODULE_ENV = "LINLI_BENCH_MODULE"  # set by run_all: which benchmark a row comes from
QUICK = os.environ.get("LINLI_BENCH_QUICK", "").strip() not in ("", "0")
T = TypeVar("T", int, float)


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


def start_fake_wechat(fake: Any = None) -> Any:
    """The fake WeChat served on a free port in a daemon thread (``.server_port``, ``.shutdown()``)."""
    from server.wechat.fake import create_fake_wechat, serve_fake_wechat

    server = serve_fake_wechat(fake if fake is not None else create_fake_wechat())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def drop_redis_keys(connection: Any, prefix: str) -> None:
    """Remove what a run left in Redis under its prefix (RQ writes some keys with ``-`` for ``:``)."""
    keys = [
        *connection.scan_iter(match=f"*{prefix}*"),
        *connection.scan_iter(match=f"*{prefix.replace(':', '-')}*"),
    ]
    if keys:
        connection.delete(*keys)


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


def sized(variable: str, full: T, quick: T) -> T:
    """``variable`` from the environment if set, else ``quick`` with LINLI_BENCH_QUICK=1, else ``full``."""
    raw = os.environ.get(variable, "").strip()
    if raw:
        return type(full)(raw)
    return quick if QUICK else full


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(
    app_path: str, env: dict[str, str], workers: int, log: IO[bytes] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start gunicorn for ``app_path`` with ``workers`` sync workers and wait until /healthz answers."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603  (a fixed argv: this interpreter running gunicorn)
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            app_path,
        ],
        cwd=ROOT,
        env=env,
        stdout=log or subprocess.DEVNULL,
        stderr=log or subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(base + "/healthz", timeout=5)
            return process, base
        except requests.RequestException:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{app_path} did not start under gunicorn")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


_TARGET = re.compile(r"^\s*(ratio|value)\s*(>=|<=|==)\s*(-?\d+(?:\.\d+)?)\s*$")
_SHOWN_OPS = {">=": "≥", "<=": "≤", "==": "="}


@dataclass(frozen=True)
class Target:
    """What a figure should reach: ``ratio >= 0.5`` (to its baseline), ``value <= 50``, ``value == 0``."""

    of: str  # "ratio" or "value"
    op: str  # ">=", "<=" or "=="
    limit: float

    @classmethod
    def parse(cls, text: str) -> Target:
        """Read ``"ratio >= 0.5"`` or ``"value <= 50"``; ValueError otherwise."""
        match = _TARGET.match(text)
        if match is None:
            raise ValueError(f"a target is 'ratio|value >=|<=|== number', not {text!r}")
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def met(self, value: float, ratio: float | None) -> bool | None:
        """Whether the figure meets it; None when a ratio target has no ratio."""
        subject = ratio if self.of == "ratio" else value
        if subject is None or math.isnan(subject):
            return None
        if self.op == ">=":
            return subject >= self.limit
        if self.op == "<=":
            return subject <= self.limit
        return math.isclose(subject, self.limit, rel_tol=1e-9, abs_tol=1e-9)

    def shown(self, unit: str = "") -> str:
        """``ratio ≥ 0.5``, ``≤ 50 ms``, ``= 2,000``."""
        whole = self.limit == int(self.limit) and abs(self.limit) >= 10
        limit = f"{self.limit:,.0f}" if whole else f"{self.limit:g}"
        if self.of == "ratio":
            return f"ratio {_SHOWN_OPS[self.op]} {limit}"
        return f"{_SHOWN_OPS[self.op]} {limit}{' ' + unit if unit and unit != 'count' else ''}"


def _module() -> str:
    named = os.environ.get(MODULE_ENV)
    if named:
        return named
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None) or Path(sys.argv[0]).stem
    return str(name).removeprefix("bench.")


def record(
    name: str,
    value: float,
    unit: str,
    baseline_name: str | None = None,
    baseline: float | None = None,
    target: str | None = None,
) -> bool | None:
    """Record a headline figure for the table of ``make bench``; returns whether it meets its target.

    ``baseline`` is the same-run measure the figure is compared with (ratio = value / baseline), and
    ``target`` e.g. ``"ratio >= 0.5"`` or ``"value <= 50"``. Appends a JSON line to the file named by
    LINLI_BENCH_RESULTS when set; a benchmark run on its own just prints its figures as before.
    """
    if (baseline is None) != (baseline_name is None):
        raise ValueError("a baseline needs both its name and its value")
    parsed = Target.parse(target) if target else None
    ratio = value / baseline if baseline else None
    met = parsed.met(value, ratio) if parsed else None
    path = os.environ.get(RESULTS_ENV)
    if path:
        row: dict[str, Any] = {
            "module": _module(),
            "name": name,
            "value": value,
            "unit": unit,
            "baseline_name": baseline_name,
            "baseline": baseline,
            "ratio": ratio,
            "target": target,
            "met": met,
            "quick": QUICK,
        }
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(row, ensure_ascii=False, allow_nan=True) + "\n")
    return met
