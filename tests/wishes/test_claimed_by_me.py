"""``claimed_by_me`` on every wish answer: true only for the WeChat user who is the wish's claimer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from tests.wishes.conftest import FULFIL_NOTE, Person


def _flag(body: dict[str, Any]) -> bool:
    flag = body["claimed_by_me"]
    assert isinstance(flag, bool)
    return flag


def test_the_claimer_sees_it_on_detail_wall_and_claims_others_do_not(
    client: FlaskClient, person: Callable[..., Person], wish_in: Callable[..., int], staff: dict[str, str]
) -> None:
    owner, claimer = person("owner"), person("helper", serves="party")
    neighbour, other_member = person("neighbour"), person("other", serves="volunteer")
    wish_id = wish_in("claimed", owner, claimer)
    detail = f"/api/v1/wishes/{wish_id}"

    assert _flag(client.get(detail, headers=claimer.headers).get_json()) is True
    for someone in (owner, neighbour, other_member):
        assert _flag(client.get(detail, headers=someone.headers).get_json()) is False
    assert _flag(client.get(detail, headers=staff).get_json()) is False  # staff never claim

    wall = {
        w["id"]: w
        for w in client.get("/api/v1/wishes?status=claimed", headers=claimer.headers).get_json()["items"]
    }
    assert _flag(wall[wish_id]) is True
    others = {
        w["id"]: w
        for w in client.get("/api/v1/wishes?status=claimed", headers=neighbour.headers).get_json()["items"]
    }
    assert _flag(others[wish_id]) is False
    staff_list = {w["id"]: w for w in client.get("/api/v1/wishes", headers=staff).get_json()["items"]}
    assert _flag(staff_list[wish_id]) is False

    claims = client.get("/api/v1/me/claims", headers=claimer.headers).get_json()["items"]
    assert [(w["id"], _flag(w)) for w in claims] == [(wish_id, True)]
    mine = client.get("/api/v1/me/wishes", headers=owner.headers).get_json()["items"]
    assert [(w["id"], _flag(w), w["mine"]) for w in mine] == [(wish_id, False, True)]


def test_transition_answers_carry_it_through_the_claim_and_after(
    client: FlaskClient,
    person: Callable[..., Person],
    wish_in: Callable[..., int],
    after_claim: Callable[[], None],
) -> None:
    owner, claimer = person("owner"), person("helper", serves="party")
    wish_id = wish_in("open", owner)
    assert _flag(client.get(f"/api/v1/wishes/{wish_id}", headers=claimer.headers).get_json()) is False

    claimed = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=claimer.headers)
    assert claimed.status_code == 200 and _flag(claimed.get_json()) is True
    released = client.post(f"/api/v1/wishes/{wish_id}/unclaim", headers=claimer.headers)
    assert released.status_code == 200 and _flag(released.get_json()) is False

    second = person("second", serves="volunteer")  # the first is cooling down after giving it back
    taken = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=second.headers)
    assert taken.status_code == 200 and _flag(taken.get_json()) is True
    assert _flag(client.get(f"/api/v1/wishes/{wish_id}", headers=claimer.headers).get_json()) is False
    after_claim()
    fulfilled = client.post(
        f"/api/v1/wishes/{wish_id}/fulfil", json={"note": FULFIL_NOTE}, headers=second.headers
    )
    assert fulfilled.status_code == 200 and _flag(fulfilled.get_json()) is True
    confirmed = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 5}, headers=owner.headers)
    assert confirmed.status_code == 200 and _flag(confirmed.get_json()) is False  # the owner's answer

    # Completed: the claimer still held it to its end.
    assert _flag(client.get(f"/api/v1/wishes/{wish_id}", headers=second.headers).get_json()) is True
    done = client.get("/api/v1/me/claims?active=false", headers=second.headers).get_json()["items"]
    assert [(w["id"], w["status"], _flag(w)) for w in done] == [(wish_id, "completed", True)]
