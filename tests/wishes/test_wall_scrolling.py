"""Scrolling the wall by ``before_id``: wishes posted, claimed or approved meanwhile never repeat a wish or
skip one, in the wall's own order (newest, or nearest wanted-by date), with its filters, and for staff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import clock as app_clock
from tests.conftest import Org, bearer
from tests.wishes.conftest import Person

WALL = "/api/v1/wishes"


@pytest.fixture(autouse=True)
def _many_wishes(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """One resident posts more than WISH_POST_RATE_LIMIT (5 a day) here, and staff review a longer queue."""
    monkeypatch.setitem(app.config, "WISH_POST_RATE_LIMIT", "1000 per day")
    monkeypatch.setitem(app.config, "WISH_MAX_PENDING", 20)


def _get(client: FlaskClient, headers: dict[str, str], query: str) -> dict[str, Any]:
    response = client.get(f"{WALL}?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _scroll(
    client: FlaskClient, headers: dict[str, str], query: str, cursor: int | None
) -> tuple[list[int], dict[str, Any]]:
    """Follow next_before_id from ``cursor`` to the end: the ids seen, and the last page."""
    seen: list[int] = []
    page: dict[str, Any] = {}
    while cursor is not None:
        page = _get(client, headers, f"{query}&before_id={cursor}")
        seen += [wish["id"] for wish in page["items"]]
        cursor = page["next_before_id"]
    return seen, page


def _due(days: int | None) -> dict[str, str]:
    return {} if days is None else {"wanted_by": (app_clock.local_today() + timedelta(days=days)).isoformat()}


def _ids(page: dict[str, Any]) -> list[int]:
    return [wish["id"] for wish in page["items"]]


@pytest.fixture
def approved_elsewhere(
    client: FlaskClient,
    post_wish: Callable[..., dict[str, Any]],
    make_staff: Callable[..., Any],
    login_staff: Callable[..., dict[str, Any]],
) -> Callable[..., int]:
    """``approved_elsewhere(who, "C2", **changes)``: a wish of a community other than C1, on its wall."""
    reviewers: dict[str, dict[str, str]] = {}

    def make(who: Person, community: str, **changes: Any) -> int:
        if community not in reviewers:
            reviewers[community] = bearer(login_staff(make_staff(org=community)))
        wish_id: int = post_wish(who, **changes)["id"]
        approved = client.post(f"{WALL}/{wish_id}/approve", headers=reviewers[community])
        assert approved.status_code == 200, approved.get_json()
        return wish_id

    return make


def test_scrolling_the_wall_while_wishes_arrive_sees_each_once(
    client: FlaskClient, person: Callable[..., Person], wish_in: Callable[..., int]
) -> None:
    resident, viewer = person("granny"), person("viewer")
    w1, w2, w3, w4, w5 = (wish_in("open", resident, title=f"心愿{n}") for n in range(1, 6))
    first = _get(client, viewer.headers, "page_size=2")
    assert _ids(first) == [w5, w4]
    assert first["next_before_id"] == first["items"][-1]["id"] == w4

    wish_in("open", resident, title="新来的一")  # two arrive while the phone scrolls
    wish_in("open", resident, title="新来的二")
    seen, last = _scroll(client, viewer.headers, "page_size=2", first["next_before_id"])
    assert _ids(first) + seen == [w5, w4, w3, w2, w1]
    assert (last["total"], last["next_before_id"]) == (7, None)

    # By page number instead, the same two arrivals shift the second page back onto wishes already shown.
    assert _ids(_get(client, viewer.headers, "page_size=2&page=2")) == [w5, w4]


def test_scrolling_by_wanted_by_goes_on_from_where_the_last_wish_stood(
    client: FlaskClient, person: Callable[..., Person], wish_in: Callable[..., int]
) -> None:
    resident, viewer, helper = person("granny"), person("viewer"), person("helper", serves="party")
    a = wish_in("open", resident, title="五天内一", **_due(5))
    b = wish_in("open", resident, title="五天内二", **_due(5))  # the same date: the newer first
    c = wish_in("open", resident, title="十天内", **_due(10))
    d = wish_in("open", resident, title="不急一")
    e = wish_in("open", resident, title="不急二")  # undated wishes last, newest first
    first = _get(client, viewer.headers, "sort=deadline&page_size=2")
    assert (_ids(first), first["next_before_id"]) == ([b, a], a)

    # Meanwhile the wish the page ended on is claimed (it leaves the open wall), two urgent ones arrive
    # above the cursor and one lands below it.
    assert client.post(f"{WALL}/{a}/claim", headers=helper.headers).status_code == 200
    wish_in("open", resident, title="明天", **_due(1))
    wish_in("open", resident, title="后天", **_due(2))
    g = wish_in("open", resident, title="七天内", **_due(7))
    seen, last = _scroll(client, viewer.headers, "sort=deadline&page_size=2", first["next_before_id"])
    assert seen == [g, c, e, d]  # on from a's date: the one below the cursor in its place, no repeat
    assert (last["total"], last["next_before_id"]) == (7, None)

    # By page number, the arrivals above and the claimed wish shift the page: b is shown a second time.
    assert _ids(_get(client, viewer.headers, "sort=deadline&page_size=2&page=2")) == [b, g]


def test_the_last_page_has_no_next_and_an_empty_wall_too(
    client: FlaskClient, person: Callable[..., Person], wish_in: Callable[..., int]
) -> None:
    viewer = person("viewer")
    for query in ("", "sort=deadline"):
        empty = _get(client, viewer.headers, query)
        assert (empty["items"], empty["total"], empty["next_before_id"]) == ([], 0, None)
    resident = person("granny")
    older, newer = wish_in("open", resident, **_due(3)), wish_in("open", resident)
    for query in ("page_size=2", "page_size=2&sort=deadline"):
        exact = _get(client, viewer.headers, query)
        assert (len(exact["items"]), exact["next_before_id"]) == (2, None)
    more = _get(client, viewer.headers, "page_size=1")
    assert (_ids(more), more["next_before_id"]) == ([newer], newer)  # page paging hands a cursor on too
    last = _get(client, viewer.headers, f"page_size=1&before_id={newer}")
    assert (_ids(last), last["next_before_id"]) == ([older], None)
    beyond = _get(client, viewer.headers, f"page_size=1&before_id={older}")
    assert (beyond["items"], beyond["next_before_id"], beyond["total"]) == ([], None, 2)


def test_before_id_goes_with_page_one_only_and_a_deadline_cursor_must_be_of_the_wall(
    client: FlaskClient,
    person: Callable[..., Person],
    wish_in: Callable[..., int],
    staff: dict[str, str],
    approved_elsewhere: Callable[..., int],
) -> None:
    viewer, resident = person("viewer"), person("granny")
    for headers in (viewer.headers, staff):
        both = client.get(f"{WALL}?before_id=10&page=2", headers=headers)
        assert (both.status_code, both.get_json()["error"]["code"]) == (422, "VALIDATION_ERROR")
        assert "before_id" in both.get_json()["error"]["details"]["fields"]
        assert client.get(f"{WALL}?before_id=0", headers=headers).status_code == 422
    assert client.get(f"{WALL}?before_id=10&page=1", headers=viewer.headers).status_code == 200

    # The deadline order places a cursor by its wish's date: only a wish that stood on this wall does.
    waiting = wish_in("pending_review", resident, **_due(4))
    far = approved_elsewhere(person("far", community="C3"), "C3", **_due(4))
    for not_here in (waiting, far, 999_999):
        refused = client.get(f"{WALL}?sort=deadline&before_id={not_here}", headers=viewer.headers)
        assert (refused.status_code, refused.get_json()["error"]["code"]) == (422, "VALIDATION_ERROR")
        assert refused.get_json()["error"]["details"]["fields"] == {"before_id": ["not a wish of this wall"]}
    cancelled = wish_in("open", resident, **_due(4))
    assert client.post(f"{WALL}/{cancelled}/cancel", json={}, headers=resident.headers).status_code == 200
    placed = client.get(f"{WALL}?sort=deadline&before_id={cancelled}", headers=viewer.headers)
    assert placed.status_code == 200  # withdrawn after it stood on the wall: the phone goes on from it


def test_filters_hold_while_scrolling(
    client: FlaskClient,
    person: Callable[..., Person],
    wish_in: Callable[..., int],
    approved_elsewhere: Callable[..., int],
    org_tree: dict[str, Org],
) -> None:
    resident, neighbour, viewer = person("granny"), person("grandpa"), person("viewer")
    helper, far = person("helper", serves="party"), person("far", community="C2")
    made: dict[str, list[int]] = {"生活帮扶": [], "学习用品": []}
    for n in range(6):
        category = "生活帮扶" if n % 2 == 0 else "学习用品"
        made[category].append(wish_in("open", resident if n < 3 else neighbour, category=category))
    elsewhere = [approved_elsewhere(far, "C2", category="生活帮扶") for _ in range(3)]
    claimed = [wish_in("claimed", resident, helper) for _ in range(2)]  # a member holds 3 at most

    def scrolled(query: str) -> list[int]:
        first = _get(client, viewer.headers, f"{query}&page_size=1")
        seen, _ = _scroll(client, viewer.headers, f"{query}&page_size=1", first["next_before_id"])
        return _ids(first) + seen

    assert scrolled("category=生活帮扶") == made["生活帮扶"][::-1]
    assert scrolled("category=学习用品&sort=deadline") == made["学习用品"][::-1]
    assert scrolled(f"community_id={org_tree['C2'].id}") == elsewhere[::-1]
    assert scrolled(f"community_id={org_tree['C2'].id}&category=学习用品") == []
    assert scrolled("status=claimed") == claimed[::-1]
    assert scrolled("status=claimed&sort=deadline") == claimed[::-1]
    mixed = _get(client, viewer.headers, f"category=生活帮扶&page_size=1&before_id={elsewhere[-1]}")
    assert _ids(mixed) == [made["生活帮扶"][-1]]  # a cursor from another list still pages only this one


def test_staff_scroll_the_review_queue_while_approving_without_skipping(
    client: FlaskClient,
    person: Callable[..., Person],
    wish_in: Callable[..., int],
    staff: dict[str, str],
) -> None:
    residents = [person("granny"), person("grandpa")]
    queue = [wish_in("pending_review", residents[n % 2], title=f"待审核{n}") for n in range(5)]
    first = _get(client, staff, "status=pending_review&page_size=2")
    assert (_ids(first), first["next_before_id"], first["total"]) == (queue[:2], queue[1], 5)
    for wish_id in _ids(first):  # approved: they leave the queue
        assert client.post(f"{WALL}/{wish_id}/approve", headers=staff).status_code == 200

    seen, last = _scroll(client, staff, "status=pending_review&page_size=2", first["next_before_id"])
    assert seen == queue[2:]  # oldest first, each once
    assert (last["total"], last["next_before_id"]) == (3, None)
    # By page number the approvals pull the queue forward: page 2 skips two wishes never shown.
    assert _ids(_get(client, staff, "status=pending_review&page_size=2&page=2")) == queue[4:]
