"""Races on PostgreSQL: many claimers of one wish, confirmation against the timeout job, the claim limit,
a claimer giving a wish back while staff take it back, and two staff approving one award (待确认积分) at
once. Each request runs in its own thread."""

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from points.models import LedgerTransaction
from server import clock as app_clock
from server.db import db
from server.notifications.models import OutboxMessage
from tests.races import posting, race
from wishes import services
from wishes.models import Wish, WishClaim

pytestmark = pytest.mark.postgres


def _code(body: Any) -> str:
    code: str = body["error"]["code"]
    return code


def _active_claims(app, wish_id: int) -> list[int]:
    """The claimers of the wish's active claims."""
    with app.app_context():
        return list(
            db.session.scalars(
                select(WishClaim.user_id).where(WishClaim.wish_id == wish_id, WishClaim.outcome == "active")
            )
        )


def _wish(app, wish_id: int) -> tuple[str, int | None, str | None]:
    """(status, claimer, completed_by) of the wish."""
    with app.app_context():
        wish = db.session.get(Wish, wish_id)
        assert wish is not None
        return wish.status, wish.claimer_id, wish.completed_by


def test_thirty_members_claiming_one_wish_leave_exactly_one_claimer(app, person, wish_in):
    resident = person("granny")
    wish_id = wish_in("open", resident)
    members = [person(f"racer{i}", serves="party") for i in range(30)]

    results = race([posting(app, f"/api/v1/wishes/{wish_id}/claim", m.headers) for m in members])

    winners = [m for m, (status, _) in zip(members, results, strict=True) if status == 200]
    assert len(winners) == 1, [status for status, _ in results]
    losers = [(status, _code(body)) for status, body in results if status != 200]
    assert losers == [(409, "WISH_ALREADY_CLAIMED")] * 29
    assert _active_claims(app, wish_id) == [winners[0].id]
    assert _wish(app, wish_id)[:2] == ("claimed", winners[0].id)
    with app.app_context():
        claimed_events = db.session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.event == "wish.claimed")
        )
        assert claimed_events == 1


def _auto_complete(app, wish_id: int, delay: float) -> Callable[[], bool]:
    """The timeout job's step for one wish, ``delay`` seconds after the start, in its own app context."""

    def call() -> bool:
        time.sleep(delay)
        with app.app_context():
            try:
                done = services.auto_complete(wish_id)
                db.session.commit()
                return done
            except BaseException:
                db.session.rollback()
                raise

    return call


def test_a_confirmation_racing_the_timeout_job_completes_the_wish_and_awards_points_once(
    app, client, person, staff, wish_in
):
    resident = person("granny")
    # The request has a token to check before it reaches the wish, so the job starts a little later in
    # some rounds: each side gets to win, and to arrive while the other holds the wish.
    for round_, delay in enumerate((0.0, 0.0005, 0.001, 0.0015, 0.002)):
        member = person(f"helper{round_}", serves="party")  # one wish each: the rule's daily cap is 10
        wish_id = wish_in("fulfilled", resident, member)
        with app.app_context():
            old = app_clock.now() - timedelta(days=8)
            db.session.execute(update(Wish).where(Wish.id == wish_id).values(fulfilled_at=old))
            db.session.commit()

        (status, body), timed_out = race(
            [
                posting(app, f"/api/v1/wishes/{wish_id}/confirm", resident.headers, {"rating": 5}),
                _auto_complete(app, wish_id, delay),
            ]
        )

        assert (status == 200) != timed_out, (status, body, timed_out)
        state, claimer, completed_by = _wish(app, wish_id)
        assert (state, claimer) == ("completed", member.id)
        if timed_out:
            assert (status, _code(body)) == (409, "WISH_ALREADY_COMPLETED")
            assert completed_by == "timeout"
            # Nobody vouched for it: the points wait for staff, who pay them once.
            assert client.get("/api/v1/me/points", headers=member.headers).get_json()["available"] == 0
            [queued] = client.get("/api/v1/wish-awards?status=pending", headers=staff).get_json()["items"]
            assert queued["wish_id"] == wish_id
            paid = client.post(f"/api/v1/wish-awards/{queued['id']}/approve", headers=staff)
            assert paid.get_json()["status"] == "paid"
        else:
            assert body["status"] == "completed" and body["rating"] == 5
            assert completed_by == "resident"
        with app.app_context():
            awards = db.session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.idempotency_key == f"wish:{wish_id}")
            )
            completed = db.session.scalars(
                select(OutboxMessage.user_id).where(
                    OutboxMessage.event == "wish.completed",
                    OutboxMessage.payload["wish_id"].as_integer() == wish_id,
                )
            ).all()
        assert awards == 1
        assert client.get("/api/v1/me/points", headers=member.headers).get_json()["available"] == 5
        expected = [member.id, resident.id] if completed_by == "timeout" else [member.id]
        assert sorted(completed) == sorted(expected)


def test_one_member_claiming_six_wishes_at_once_gets_only_the_limit(app, person, wish_in):
    assert app.config["WISH_MAX_OPEN_CLAIMS"] == 3
    residents = [person("granny"), person("grandpa")]  # one posts at most WISH_POST_RATE_LIMIT (5) a day
    member = person("helper", serves="party")
    wish_ids = [wish_in("open", residents[i % 2]) for i in range(6)]

    results = race([posting(app, f"/api/v1/wishes/{w}/claim", member.headers) for w in wish_ids])

    assert sorted(status for status, _ in results) == [200] * 3 + [409] * 3
    assert {_code(body) for status, body in results if status == 409} == {"CLAIM_LIMIT_REACHED"}
    claimed = {w for w, (status, _) in zip(wish_ids, results, strict=True) if status == 200}
    for wish_id in wish_ids:
        if wish_id in claimed:
            assert _wish(app, wish_id)[:2] == ("claimed", member.id)
            assert _active_claims(app, wish_id) == [member.id]
        else:
            assert _wish(app, wish_id)[:2] == ("open", None)
            assert _active_claims(app, wish_id) == []


# The member who pressed "give back" held the wish when they did: losing to staff reads as a conflict.
UNCLAIM_LOSING_TO_RELEASE = {(409, "WISH_NOT_CLAIMED")}


def test_a_claimer_giving_a_wish_back_while_staff_release_it_has_one_winner(app, person, staff, wish_in):
    resident = person("granny")
    for round_ in range(5):
        # One member a round: giving a wish back starts WISH_RECLAIM_COOLDOWN_HOURS, and a day has
        # WISH_CLAIMS_PER_DAY claims.
        member = person(f"helper{round_}", serves="party")
        wish_id = wish_in("claimed", resident, member)

        (unclaim_status, unclaim_body), (release_status, release_body) = race(
            [
                posting(app, f"/api/v1/wishes/{wish_id}/unclaim", member.headers),
                posting(app, f"/api/v1/wishes/{wish_id}/release", staff, {"reason": "长时间未联系居民"}),
            ]
        )

        assert [unclaim_status, release_status].count(200) == 1, (unclaim_body, release_body)
        if unclaim_status == 200:
            assert (release_status, _code(release_body)) == (409, "WISH_NOT_CLAIMED")
            outcome, told = "unclaimed", [("wish.unclaimed", resident.id)]
        else:
            assert (unclaim_status, _code(unclaim_body)) in UNCLAIM_LOSING_TO_RELEASE
            outcome, told = "released", [("wish.released", member.id), ("wish.reopened", resident.id)]
        assert _wish(app, wish_id)[:2] == ("open", None)
        assert _active_claims(app, wish_id) == []
        with app.app_context():
            claims = db.session.scalars(select(WishClaim.outcome).where(WishClaim.wish_id == wish_id)).all()
            ended = db.session.execute(
                select(OutboxMessage.event, OutboxMessage.user_id)
                .where(
                    OutboxMessage.event.in_(["wish.unclaimed", "wish.released", "wish.reopened"]),
                    OutboxMessage.payload["wish_id"].as_integer() == wish_id,
                )
                .order_by(OutboxMessage.id)
            ).all()
        assert claims == [outcome]
        assert [tuple(row) for row in ended] == told


def test_two_staff_approving_one_award_at_once_pay_the_claimer_once(
    app, client, person, make_staff, login_staff, wish_in
):
    from tests.conftest import bearer

    resident = person("granny")
    first, second = (bearer(login_staff(make_staff(org=org))) for org in ("C1", "S1"))
    for round_ in range(5):
        member = person(f"helper{round_}", serves="party")  # one wish each: the pair limit and the daily cap
        wish_id = wish_in("fulfilled", resident, member)
        low = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 1}, headers=resident.headers)
        assert low.get_json()["award"]["status"] == "pending"
        award_id = low.get_json()["award"]["id"]

        results = race(
            [posting(app, f"/api/v1/wish-awards/{award_id}/approve", who) for who in (first, second)]
        )

        assert [(status, body["status"], body["points"]) for status, body in results] == [
            (200, "paid", 5)
        ] * 2
        with app.app_context():
            awards = db.session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.idempotency_key == f"wish:{wish_id}")
            )
        assert awards == 1
        assert client.get("/api/v1/me/points", headers=member.headers).get_json()["available"] == 5
