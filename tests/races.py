"""Races for tests on PostgreSQL: calls released together, one thread each."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once, one thread each, released together; their results in the calls' order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as exc:  # surfaced in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    if errors:
        raise errors[0]
    return results


def posting(
    app: Any, path: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> Callable[[], Any]:
    """A call that POSTs with a test client of its own; it returns (status, JSON body)."""

    def call() -> tuple[int, Any]:
        response = app.test_client().post(path, json=body, headers=headers)
        return response.status_code, response.get_json()

    return call


def resending(
    app: Any, path: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> Callable[[], Any]:
    """Like ``posting``, but it returns (status, replayed): did the answer carry Idempotency-Replayed."""

    def call() -> tuple[int, bool]:
        response = app.test_client().post(path, json=body, headers=headers)
        return response.status_code, response.headers.get("Idempotency-Replayed") == "true"

    return call
