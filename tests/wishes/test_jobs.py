"""The periodic jobs of wishes: claim reminders, claims past their deadline, confirmations left unanswered."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from points.models import LedgerTransaction
from server import clock as app_clock
from server.db import db
from server.notifications.models import OutboxMessage
from wishes.jobs import complete_unconfirmed_wishes, sweep_wish_claims
from wishes.models import Wish, WishClaim


def _events(app, event: str) -> list[tuple[int, dict[str, Any]]]:
    """(recipient, payload) of every outbox row of ``event``, oldest first."""
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.event == event).order_by(OutboxMessage.id)
        )
        return [(row.user_id, row.payload) for row in rows]


def _claim_due_in(app, wish_id: int, delta: timedelta) -> None:
    """Move the deadline of the wish's active claim to now + ``delta`` (both copies of it)."""
    deadline = app_clock.now() + delta
    with app.app_context():
        db.session.execute(
            update(WishClaim)
            .where(WishClaim.wish_id == wish_id, WishClaim.outcome == "active")
            .values(deadline=deadline)
        )
        db.session.execute(update(Wish).where(Wish.id == wish_id).values(claim_deadline=deadline))
        db.session.commit()


def _fulfilled_ago(app, wish_id: int, age: timedelta) -> None:
    with app.app_context():
        db.session.execute(update(Wish).where(Wish.id == wish_id).values(fulfilled_at=app_clock.now() - age))
        db.session.commit()


def _wish(app, wish_id: int) -> Wish:
    with app.app_context():
        wish = db.session.get(Wish, wish_id)
        assert wish is not None
        db.session.expunge(wish)
        return wish


def _claims(app, wish_id: int) -> list[tuple[int, str]]:
    """(claimer, outcome) of every claim of the wish, oldest first."""
    with app.app_context():
        rows = db.session.scalars(
            select(WishClaim).where(WishClaim.wish_id == wish_id).order_by(WishClaim.id)
        )
        return [(row.user_id, row.outcome) for row in rows]


def _awards(app, wish_id: int) -> int:
    with app.app_context():
        return (
            db.session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.idempotency_key == f"wish:{wish_id}")
            )
            or 0
        )


def _available(client, who) -> int:
    response = client.get("/api/v1/me/points", headers=who.headers)
    assert response.status_code == 200, response.get_json()
    available: int = response.get_json()["available"]
    return available


def _sweep(app) -> dict[str, int]:
    with app.app_context():
        return sweep_wish_claims()


def _complete(app) -> int:
    with app.app_context():
        return complete_unconfirmed_wishes()


# --- claim deadlines --------------------------------------------------------------------------------


def test_a_claim_due_within_a_day_reminds_the_claimer_once(app, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    _claim_due_in(app, wish_id, timedelta(hours=12))

    assert _sweep(app) == {"reminded": 1, "released": 0}
    assert _sweep(app) == {"reminded": 0, "released": 0}

    reminders = _events(app, "wish.claim_expiring")
    assert [recipient for recipient, _ in reminders] == [member.id]
    payload = reminders[0][1]
    assert payload["wish_id"] == wish_id and payload["status"] == "claimed" and payload["deadline"]
    wish = _wish(app, wish_id)
    assert wish.status == "claimed" and wish.claimer_id == member.id
    with app.app_context():
        claim = db.session.scalars(select(WishClaim).where(WishClaim.wish_id == wish_id)).one()
        assert claim.outcome == "active" and claim.reminded_at is not None


def test_a_claim_past_its_deadline_goes_back_to_the_wall_once(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    _claim_due_in(app, wish_id, -timedelta(minutes=1))

    assert _sweep(app) == {"reminded": 0, "released": 1}
    assert _sweep(app) == {"reminded": 0, "released": 0}

    wish = _wish(app, wish_id)
    assert wish.status == "open"
    assert wish.claimer_id is None and wish.claimed_at is None and wish.claim_deadline is None
    assert _claims(app, wish_id) == [(member.id, "expired")]
    expired = _events(app, "wish.claim_expired")
    assert sorted(recipient for recipient, _ in expired) == sorted([member.id, resident.id])
    assert all(payload["wish_id"] == wish_id and payload["status"] == "open" for _, payload in expired)
    assert _events(app, "wish.claim_expiring") == []  # a claim already past its deadline is not "expiring"

    other = person("neighbour", serves="volunteer")
    reclaimed = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=other.headers)
    assert reclaimed.status_code == 200, reclaimed.get_json()
    assert reclaimed.get_json()["status"] == "claimed"
    assert _claims(app, wish_id) == [(member.id, "expired"), (other.id, "active")]


def test_claims_not_yet_due_are_left_alone(app, person, wish_in):
    resident = person("granny")
    fresh_member, later_member = person("fresh", serves="party"), person("later", serves="volunteer")
    fresh = wish_in("claimed", resident, fresh_member)  # the full WISH_CLAIM_DAYS ahead
    later = wish_in("claimed", resident, later_member)
    _claim_due_in(app, later, timedelta(hours=25))  # just outside the reminder's day

    assert _sweep(app) == {"reminded": 0, "released": 0}

    for wish_id, member in ((fresh, fresh_member), (later, later_member)):
        wish = _wish(app, wish_id)
        assert wish.status == "claimed" and wish.claimer_id == member.id
        assert _claims(app, wish_id) == [(member.id, "active")]
    assert _events(app, "wish.claim_expiring") == []
    assert _events(app, "wish.claim_expired") == []


def test_a_reminded_claim_that_then_runs_out_is_released(app, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    _claim_due_in(app, wish_id, timedelta(hours=2))
    assert _sweep(app) == {"reminded": 1, "released": 0}

    _claim_due_in(app, wish_id, -timedelta(seconds=1))
    assert _sweep(app) == {"reminded": 0, "released": 1}

    assert _wish(app, wish_id).status == "open"
    assert _claims(app, wish_id) == [(member.id, "expired")]
    assert len(_events(app, "wish.claim_expiring")) == 1


# --- confirmations left unanswered ------------------------------------------------------------------


def test_an_unconfirmed_wish_completes_by_timeout_and_its_points_wait_for_staff(
    app, client, person, staff, wish_in
):
    # F4: the job paid the claimer by itself; nobody had vouched for the help.
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    _fulfilled_ago(app, wish_id, timedelta(days=7, minutes=1))

    assert _complete(app) == 1
    assert _complete(app) == 0

    wish = _wish(app, wish_id)
    assert wish.status == "completed" and wish.completed_by == "timeout" and wish.completed_at is not None
    assert wish.rating is None and wish.award_points is None and wish.award_transaction_id is None
    assert _awards(app, wish_id) == 0
    assert _available(client, member) == 0
    completed = _events(app, "wish.completed")
    assert sorted(recipient for recipient, _ in completed) == sorted([member.id, resident.id])
    assert all(
        payload["wish_id"] == wish_id and payload["points"] == "待社区确认" for _, payload in completed
    )
    [queued] = client.get("/api/v1/wish-awards?status=pending", headers=staff).get_json()["items"]
    assert (queued["wish_id"], queued["cause"], queued["status"]) == (wish_id, "timeout", "pending")
    shown = client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).get_json()["award"]
    assert (shown["status"], shown["points"]) == ("pending", None)

    late = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 5}, headers=resident.headers)
    assert late.status_code == 409
    assert late.get_json()["error"]["code"] == "WISH_ALREADY_COMPLETED"

    for _ in range(2):  # approving twice pays once, and answers the same
        approved = client.post(f"/api/v1/wish-awards/{queued['id']}/approve", headers=staff)
        assert approved.status_code == 200, approved.get_json()
        assert (approved.get_json()["status"], approved.get_json()["points"]) == ("paid", 5)
    assert _awards(app, wish_id) == 1
    assert _available(client, member) == 5
    assert _wish(app, wish_id).award_points == 5
    assert client.get("/api/v1/wish-awards?status=pending", headers=staff).get_json()["total"] == 0


def test_a_fulfilled_wish_within_the_confirmation_window_is_left_alone(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    _fulfilled_ago(app, wish_id, timedelta(days=6, hours=23))

    assert _complete(app) == 0

    wish = _wish(app, wish_id)
    assert wish.status == "fulfilled" and wish.completed_by is None
    assert _awards(app, wish_id) == 0
    assert _available(client, member) == 0
    assert _events(app, "wish.completed") == []


def test_only_the_wishes_past_the_window_complete(app, client, person, wish_in):
    resident = person("granny")
    old_member, new_member = person("old", serves="party"), person("new", serves="volunteer")
    old = wish_in("fulfilled", resident, old_member)
    new = wish_in("fulfilled", resident, new_member)
    _fulfilled_ago(app, old, timedelta(days=10))

    assert _complete(app) == 1

    assert (_wish(app, old).status, _wish(app, new).status) == ("completed", "fulfilled")
    assert (_available(client, old_member), _available(client, new_member)) == (0, 0)  # waiting for staff
    assert {recipient for recipient, _ in _events(app, "wish.completed")} == {old_member.id, resident.id}


@pytest.fixture
def confirm_days(app):
    """Set WISH_CONFIRM_DAYS for one test; the default comes back afterwards."""
    original = app.config["WISH_CONFIRM_DAYS"]

    def change(days: int) -> None:
        app.config["WISH_CONFIRM_DAYS"] = days

    yield change
    app.config["WISH_CONFIRM_DAYS"] = original


def test_the_confirmation_window_follows_the_configuration(app, client, person, wish_in, confirm_days):
    resident = person("granny")
    three_member, one_member = person("three", serves="party"), person("one", serves="volunteer")
    three_days = wish_in("fulfilled", resident, three_member)
    one_day = wish_in("fulfilled", resident, one_member)
    _fulfilled_ago(app, three_days, timedelta(days=3))
    _fulfilled_ago(app, one_day, timedelta(days=1))

    assert _complete(app) == 0  # the default seven days have not passed for either

    confirm_days(2)
    assert _complete(app) == 1
    assert _wish(app, three_days).completed_by == "timeout"
    assert _wish(app, one_day).status == "fulfilled"

    confirm_days(1)
    assert _complete(app) == 1
    assert _wish(app, one_day).completed_by == "timeout"
    assert (_awards(app, three_days), _awards(app, one_day)) == (0, 0)  # both wait for staff
