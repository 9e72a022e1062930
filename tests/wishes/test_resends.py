"""A claim, fulfil, confirm or dispute resent by the same person after a lost answer answers the wish as it
is (the same body, header ``Idempotency-Replayed: true``) and changes nothing; another person, or
another state, keeps today's refusals."""

from typing import Any

import pytest
from sqlalchemy import func, select

from points.models import LedgerTransaction
from points.verify import verify_ledger
from server.db import db
from server.notifications.models import OutboxMessage
from tests.races import race, resending
from tests.wishes.conftest import FULFIL_NOTE
from wishes.models import WishAward, WishClaim


def _code(response) -> str:
    code: str = response.get_json()["error"]["code"]
    return code


def _count(app, *where: Any, model: Any = OutboxMessage) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _events(app, event: str) -> int:
    return _count(app, OutboxMessage.event == event)


def _payments(app, wish_id: int) -> int:
    return _count(app, LedgerTransaction.idempotency_key == f"wish:{wish_id}", model=LedgerTransaction)


def _points(client, who) -> int:
    available: int = client.get("/api/v1/me/points", headers=who.headers).get_json()["available"]
    return available


def _same_wish(first: Any, again: Any) -> None:
    assert "Idempotency-Replayed" not in first.headers
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.get_json() == first.get_json()


def test_a_resent_claim_answers_the_claimed_wish(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("open", resident)
    first = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=member.headers)
    again = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=member.headers)
    assert (first.status_code, again.status_code) == (200, 200)
    _same_wish(first, again)
    assert again.get_json()["status"] == "claimed"
    assert _count(app, WishClaim.wish_id == wish_id, model=WishClaim) == 1
    assert _events(app, "wish.claimed") == 1
    other = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=person("other", serves="party").headers)
    assert (other.status_code, _code(other)) == (409, "WISH_ALREADY_CLAIMED")


def test_a_resent_fulfil_answers_the_fulfilled_wish_and_the_first_note_stands(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    body = {"note": FULFIL_NOTE}
    first = client.post(f"/api/v1/wishes/{wish_id}/fulfil", json=body, headers=member.headers)
    again = client.post(f"/api/v1/wishes/{wish_id}/fulfil", json=body, headers=member.headers)
    assert (first.status_code, again.status_code) == (200, 200)
    _same_wish(first, again)
    assert again.get_json()["status"] == "fulfilled" and again.get_json()["fulfil_note"] == FULFIL_NOTE
    assert _events(app, "wish.fulfilled") == 1
    # Another person is still not the claimer.
    other = client.post(
        f"/api/v1/wishes/{wish_id}/fulfil", json=body, headers=person("x", serves="party").headers
    )
    assert (other.status_code, _code(other)) == (403, "NOT_CLAIMER")


def test_a_fulfil_resent_in_another_state_is_still_refused(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("completed", resident, member)
    late = client.post(f"/api/v1/wishes/{wish_id}/fulfil", json={"note": FULFIL_NOTE}, headers=member.headers)
    assert (late.status_code, _code(late)) == (409, "WISH_NOT_CLAIMED")


def test_a_resent_confirm_answers_the_completed_wish_and_pays_once(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    first = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 5}, headers=resident.headers)
    paid = _points(client, member)
    assert paid > 0
    again = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 5}, headers=resident.headers)
    assert (first.status_code, again.status_code) == (200, 200)
    _same_wish(first, again)
    assert again.get_json()["status"] == "completed"
    assert _points(client, member) == paid
    assert _payments(app, wish_id) == 1
    assert _count(app, WishAward.wish_id == wish_id, model=WishAward) == 1
    assert _events(app, "wish.completed") == 1
    with app.app_context():
        assert verify_ledger() == []
    # Someone else confirming is still not the resident.
    other = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 5}, headers=member.headers)
    assert (other.status_code, _code(other)) == (403, "NOT_WISH_OWNER")


def test_a_confirm_after_staff_completed_the_wish_is_still_refused(app, client, person, staff, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    disputed = client.post(
        f"/api/v1/wishes/{wish_id}/dispute", json={"reason": "没修好"}, headers=resident.headers
    )
    assert disputed.status_code == 200
    assert client.post(f"/api/v1/wishes/{wish_id}/complete", headers=staff).status_code == 200
    late = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 5}, headers=resident.headers)
    assert (late.status_code, _code(late)) == (409, "WISH_ALREADY_COMPLETED")
    assert _payments(app, wish_id) == 1


def test_a_resent_dispute_answers_the_disputed_wish_and_the_first_reason_stands(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    first = client.post(
        f"/api/v1/wishes/{wish_id}/dispute", json={"reason": "没修好"}, headers=resident.headers
    )
    again = client.post(
        f"/api/v1/wishes/{wish_id}/dispute", json={"reason": "没修好"}, headers=resident.headers
    )
    assert (first.status_code, again.status_code) == (200, 200)
    _same_wish(first, again)
    assert again.get_json()["status"] == "disputed"
    other = client.post(f"/api/v1/wishes/{wish_id}/dispute", json={"reason": "x"}, headers=member.headers)
    assert (other.status_code, _code(other)) == (403, "NOT_WISH_OWNER")


@pytest.mark.postgres
def test_racing_resends_of_a_confirm_answer_200_and_pay_once(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    path = f"/api/v1/wishes/{wish_id}/confirm"
    answers = race([resending(app, path, resident.headers, {"rating": 5}) for _ in range(4)])
    assert sorted(answers) == [(200, False), (200, True), (200, True), (200, True)]
    assert _payments(app, wish_id) == 1
    with app.app_context():
        assert verify_ledger() == []


@pytest.mark.postgres
def test_racing_resends_of_a_fulfil_answer_200_and_fulfil_once(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    path = f"/api/v1/wishes/{wish_id}/fulfil"
    answers = race([resending(app, path, member.headers, {"note": FULFIL_NOTE}) for _ in range(4)])
    assert sorted(answers) == [(200, False), (200, True), (200, True), (200, True)]
    assert _events(app, "wish.fulfilled") == 1
