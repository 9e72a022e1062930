"""Background jobs: one decorator, named queues, jobs that take ids, RQ when Redis is configured.

A job function is declared with ``@job("default")`` and started with ``fn.enqueue(*ids, job_id=...)``.
With Redis it goes to an RQ queue (the worker runs it inside an app context); without Redis it runs
in-process at once, in an app context of its own. Each run is one transaction: commit on return,
roll back on an exception. Periodic jobs are declared once with ``@periodic(...)``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeVar, cast

import redis
from flask import Flask, current_app, has_app_context
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError

from server import clock
from server.db import db

log = logging.getLogger(__name__)

QUEUES = ("high", "default", "low")
P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

_job_app: Flask | None = None
_job_pid: int | None = None


class Job(Protocol[P, R_co]):
    """A job function: call it to run it here, or ``enqueue`` it."""

    queue_name: str
    __name__: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def enqueue(self, *args: Any, job_id: str | None = None, at: datetime | None = None) -> bool: ...


def set_job_app(app: Flask) -> None:
    """The app jobs run in when no app context is active (the worker's)."""
    global _job_app, _job_pid
    _job_app, _job_pid = app, os.getpid()


def _app_for_job() -> Flask:
    global _job_app, _job_pid
    if _job_app is None:
        # The worker command (server/worker.py) and the in-process runner hand their app over.
        raise RuntimeError("no app to run jobs in: start workers with `flask --app wsgi worker`")
    if _job_pid != os.getpid():
        # A forked RQ work-horse must not share the parent's database connections.
        with _job_app.app_context():
            db.engine.dispose(close=False)
        _job_pid = os.getpid()
    return _job_app


def _run_in_transaction(fn: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
    try:
        result = fn(*args, **kwargs)
        db.session.commit()
        return result
    except BaseException:
        db.session.rollback()
        raise


def each_in_own_transaction(ids: list[int], step: Callable[[int], bool], what: str) -> int:
    """Run ``step`` on each id in its own transaction and count the Trues; a failing item is logged, rolled
    back and stays due for the next run, and the rest go on (one member's ledger locks at a time)."""
    done = 0
    for item_id in ids:
        try:
            done += step(item_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("%s %s failed; it stays due for the next run", what, item_id)
    return done


def queue(name: str, connection: redis.Redis) -> Queue:
    """An RQ queue of this deployment (named under REDIS_PREFIX; ``connection=`` passed explicitly)."""
    return Queue(current_app.config["REDIS_PREFIX"] + name, connection=connection)


def job_id(*parts: object) -> str:
    """A job id under this deployment's prefix, so deployments sharing a Redis never collide.

    RQ allows only letters, digits, ``_`` and ``-`` in ids: ``linli:`` + ``outbox``, 7 → ``linli-outbox-7``.
    """
    return re.sub(
        r"[^A-Za-z0-9_-]", "-", current_app.config["REDIS_PREFIX"] + "-".join(str(p) for p in parts)
    )


def retry_with_backoff() -> Retry:
    """RQ's Retry with the configured back-off (JOB_RETRY_INTERVALS seconds, one per attempt)."""
    intervals = list(current_app.config.get("JOB_RETRY_INTERVALS", DEFAULT_RETRY_INTERVALS))
    return Retry(max=len(intervals), interval=intervals)


DEFAULT_RETRY_INTERVALS = (10, 30, 60, 300, 900)


def job(
    queue_name: str = "default", retry: Callable[[], Retry] | None = None, timeout: int = 300
) -> Callable[[Callable[P, R]], Job[P, R]]:
    """Declare a job function; its arguments must be ids and plain values."""
    if queue_name not in QUEUES:
        raise ValueError(f"unknown queue {queue_name}")

    def decorate(fn: Callable[P, R]) -> Job[P, R]:
        @wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            # Runs in its own app context, so in its own session and transaction.
            with _app_for_job().app_context() if not has_app_context() else nullcontext():
                result = _run_in_transaction(fn, args, kwargs)
                connection = current_app.extensions.get("linli_redis")
                if getattr(run, "linli_periodic", False) and connection is not None:
                    schedule_periodic(connection)  # keep the next slots booked
                return result

        def enqueue(*args: Any, job_id: str | None = None, at: datetime | None = None) -> bool:
            """Hand the job to RQ (once per job_id), or run it here when there is no Redis.

            Returns False when the job id was already taken (enqueued before).
            """
            connection: redis.Redis | None = current_app.extensions.get("linli_redis")
            if connection is None:
                if at is None:
                    _run_inline(run, args)
                return True
            options: dict[str, Any] = {
                "job_timeout": timeout,
                "retry": retry() if retry is not None else None,
                "failure_ttl": 30 * 86400,
            }
            if job_id is not None:
                options.update(job_id=job_id, unique=True)
            try:
                q = queue(queue_name, connection)
                if at is not None:
                    q.enqueue_at(at, run, *args, **options)
                else:
                    q.enqueue(run, *args, **options)
            except DuplicateJobError:
                return False
            return True

        job_fn = cast(Job[P, R], run)
        job_fn.enqueue = enqueue  # type: ignore[method-assign]
        job_fn.queue_name = queue_name
        return job_fn

    return decorate


def _run_inline(run: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Run a job now in a fresh app context; a failure is logged, as a worker would."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        with app.app_context():
            run(*args)
    except Exception:
        log.exception("in-process job %s%r failed", getattr(run, "__name__", run), args)


# --- periodic jobs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Periodic:
    """A job that runs every ``every`` seconds."""

    name: str
    every: int
    job: Job[[], Any]


PERIODIC: dict[str, Periodic] = {}


def periodic(name: str, every: timedelta) -> Callable[[Job[[], R]], Job[[], R]]:
    """Declare a periodic job (applied on top of ``@job``); the list is registered when a worker starts."""

    def register(fn: Job[[], R]) -> Job[[], R]:
        PERIODIC[name] = Periodic(name, int(every.total_seconds()), fn)
        fn.linli_periodic = True  # type: ignore[attr-defined]
        return fn

    return register


def _slot(period: Periodic, now: datetime, ahead: int) -> tuple[str, datetime]:
    index = int(now.timestamp()) // period.every + ahead
    return job_id("periodic", period.name, index), datetime.fromtimestamp(index * period.every, UTC)


def schedule_periodic(connection: redis.Redis, now: datetime | None = None) -> int:
    """Schedule the next run of every periodic job; ids name the time slot, so this is idempotent.

    Every worker calls it at start and after each periodic run; two workers schedule a slot once.
    """
    moment = now or clock.wall()  # RQ schedules by the machine's time
    scheduled = 0
    for period in PERIODIC.values():
        for ahead in (1, 2):
            slot_id, at = _slot(period, moment, ahead)
            try:
                queue(period.job.queue_name, connection).enqueue_at(
                    at, period.job, job_id=slot_id, unique=True, job_timeout=600, failure_ttl=86400
                )
                scheduled += 1
            except DuplicateJobError:
                pass
    return scheduled


def run_periodic_inline(app: Flask, stop: threading.Event) -> threading.Thread:
    """Without Redis (``make run``): run the periodic jobs from a thread of the web process."""
    set_job_app(app)

    def loop() -> None:
        last: dict[str, float] = {}
        while not stop.wait(1.0):
            for period in PERIODIC.values():
                if time.monotonic() - last.get(period.name, 0.0) >= period.every:
                    last[period.name] = time.monotonic()
                    try:
                        with app.app_context():
                            period.job()
                    except Exception:
                        log.exception("periodic job %s failed", period.name)

    thread = threading.Thread(target=loop, name="linli-periodic", daemon=True)
    thread.start()
    return thread
