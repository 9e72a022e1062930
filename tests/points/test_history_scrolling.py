"""Scrolling my points history by ``before_id``: points that move meanwhile never repeat a line or skip one,
and the ledger's invariants hold after every movement (here and in the after-test check of conftest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from points.verify import verify_ledger
from server.db import db
from tests.conftest import bearer

HISTORY = "/api/v1/me/points/history"


@pytest.fixture
def adjust(
    app: Flask, client: FlaskClient, make_staff: Callable[..., Any], login_staff: Callable[..., Any]
) -> Callable[[dict[str, Any], int], None]:
    """``adjust(tokens, amount)``: a staff adjustment of C1 through the API, then the ledger checked."""
    headers = bearer(login_staff(make_staff(org="C1")))
    keys: Iterator[int] = count(1)

    def move(tokens: dict[str, Any], amount: int) -> None:
        body = {"user_id": tokens["user"]["id"], "amount": amount, "reason": f"调整{amount}"}
        done = client.post(
            "/api/v1/points/adjustments",
            json=body,
            headers={**headers, "Idempotency-Key": f"adj-{next(keys)}"},
        )
        assert done.status_code == 201, done.get_json()
        assert_ledger_invariants(app)

    return move


def assert_ledger_invariants(app: Flask) -> None:
    """``flask points verify``: every invariant of the ledger holds now."""
    with app.app_context():
        problems = verify_ledger()
        db.session.rollback()
    assert problems == []


def _page(client: FlaskClient, tokens: dict[str, Any], query: str) -> dict[str, Any]:
    response = client.get(f"{HISTORY}?{query}", headers=bearer(tokens))
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _scroll(
    client: FlaskClient, tokens: dict[str, Any], cursor: int | None
) -> tuple[list[int], dict[str, Any]]:
    """Follow next_before_id (two lines a page) to the end: the amounts seen, and the last page."""
    seen: list[int] = []
    page: dict[str, Any] = {}
    while cursor is not None:
        page = _page(client, tokens, f"page_size=2&before_id={cursor}")
        seen += [line["amount"] for line in page["items"]]
        cursor = page["next_before_id"]
    return seen, page


def test_scrolling_the_history_while_points_move_sees_each_line_once(
    app: Flask, client: FlaskClient, member: Callable[..., dict[str, Any]], adjust: Callable[..., None]
) -> None:
    olga = member(points=0, name="olga")
    for amount in range(1, 6):
        adjust(olga, amount)
    first = _page(client, olga, "page_size=2")
    assert [line["amount"] for line in first["items"]] == [5, 4]
    assert first["next_before_id"] == first["items"][-1]["id"]

    adjust(olga, 6)  # an award and a deduction while she scrolls
    adjust(olga, -3)
    seen, last = _scroll(client, olga, first["next_before_id"])
    assert [line["amount"] for line in first["items"]] + seen == [5, 4, 3, 2, 1]
    assert (last["total"], last["next_before_id"]) == (7, None)

    # By page number instead, the same two movements shift the second page back onto lines already shown.
    assert [line["amount"] for line in _page(client, olga, "page_size=2&page=2")["items"]] == [5, 4]
    on_top = _page(client, olga, "page_size=2")
    assert [line["amount"] for line in on_top["items"]] == [-3, 6]
    ids = [line["id"] for line in _page(client, olga, "page_size=100")["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 7  # newest first by the line's own id


def test_only_my_lines_whatever_cursor_i_send(
    app: Flask, client: FlaskClient, member: Callable[..., dict[str, Any]], adjust: Callable[..., None]
) -> None:
    olga, bob = member(points=0, name="olga"), member(points=0, name="bob")
    for amount in (1, 2, 3):
        adjust(olga, amount)
        adjust(bob, amount * 10)
    bobs = [line["id"] for line in _page(client, bob, "page_size=10")["items"]]
    first = _page(client, olga, f"page_size=2&before_id={bobs[0]}")  # a cursor from someone else's list
    assert ([line["amount"] for line in first["items"]], first["total"]) == ([3, 2], 3)
    seen, last = _scroll(client, olga, first["next_before_id"])
    assert (seen, last["next_before_id"]) == ([1], None)
    # bob's oldest line came after olga's first: her lines older than it, none of his
    assert [line["amount"] for line in _page(client, olga, f"before_id={bobs[-1]}")["items"]] == [1]


def test_the_last_page_has_no_next_and_an_empty_history_too(
    client: FlaskClient, member: Callable[..., dict[str, Any]], adjust: Callable[..., None]
) -> None:
    newcomer = member(points=0, name="newcomer")  # no account yet: nothing ever moved
    empty = _page(client, newcomer, "")
    assert (empty["items"], empty["total"], empty["next_before_id"]) == ([], 0, None)
    adjust(newcomer, 4)
    adjust(newcomer, 5)
    exact = _page(client, newcomer, "page_size=2")
    assert (len(exact["items"]), exact["next_before_id"]) == (2, None)
    more = _page(client, newcomer, "page_size=1")
    assert more["next_before_id"] == more["items"][0]["id"]  # page paging hands a cursor on too
    rest = _page(client, newcomer, f"page_size=1&before_id={more['next_before_id']}")
    assert ([line["amount"] for line in rest["items"]], rest["next_before_id"]) == ([4], None)


def test_before_id_and_page_do_not_go_together(client: FlaskClient, member: Callable[..., Any]) -> None:
    tokens = member(points=0, name="olga")
    both = client.get(f"{HISTORY}?before_id=10&page=2", headers=bearer(tokens))
    assert (both.status_code, both.get_json()["error"]["code"]) == (422, "VALIDATION_ERROR")
    assert "before_id" in both.get_json()["error"]["details"]["fields"]
    assert client.get(f"{HISTORY}?before_id=0", headers=bearer(tokens)).status_code == 422
    assert client.get(f"{HISTORY}?before_id=10&page=1", headers=bearer(tokens)).status_code == 200
