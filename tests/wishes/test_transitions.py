"""Every transition of a wish, and every refused one: who may do what, in which state, and nothing changes."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from points.models import LedgerTransaction
from server.db import db
from server.notifications.models import OutboxMessage
from tests.wishes.conftest import FULFIL_NOTE
from wishes.models import Wish, WishClaim


def _code(response) -> str:
    code: str = response.get_json()["error"]["code"]
    return code


def _wish(app, wish_id: int) -> Wish:
    with app.app_context():
        wish = db.session.get(Wish, wish_id)
        assert wish is not None
        db.session.expunge(wish)
        return wish


def _events(app, event: str) -> list[tuple[int, dict[str, Any]]]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.event == event))
        return [(row.user_id, row.payload) for row in rows]


def _claims(app, wish_id: int) -> list[tuple[int, str, str | None]]:
    with app.app_context():
        rows = db.session.scalars(
            select(WishClaim).where(WishClaim.wish_id == wish_id).order_by(WishClaim.id)
        )
        return [(row.user_id, row.outcome, row.reason) for row in rows]


def test_staff_reject_with_a_reason_the_resident_reads(app, client, person, staff, wish_in):
    resident = person("granny")
    wish_id = wish_in("pending_review", resident)
    no_reason = client.post(f"/api/v1/wishes/{wish_id}/reject", json={"reason": ""}, headers=staff)
    assert no_reason.status_code == 422
    rejected = client.post(f"/api/v1/wishes/{wish_id}/reject", json={"reason": "请走物业报修"}, headers=staff)
    assert rejected.status_code == 200
    assert rejected.get_json()["status"] == "rejected"
    mine = client.get(f"/api/v1/wishes/{wish_id}", headers=resident.headers).get_json()
    assert mine["reject_reason"] == "请走物业报修"
    assert _events(app, "wish.rejected") == [
        (
            resident.id,
            {"wish_id": wish_id, "title": "想请人修水龙头", "status": "rejected", "reason": "请走物业报修"},
        )
    ]
    again = client.post(f"/api/v1/wishes/{wish_id}/approve", headers=staff)
    assert (again.status_code, _code(again)) == (409, "WISH_NOT_PENDING")


def test_staff_can_take_an_unclaimed_wish_off_the_wall_but_not_a_claimed_one(client, person, staff, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    open_id = wish_in("open", resident)
    assert (
        client.post(f"/api/v1/wishes/{open_id}/reject", json={"reason": "重复"}, headers=staff).status_code
        == 200
    )
    claimed_id = wish_in("claimed", resident, member)
    refused = client.post(f"/api/v1/wishes/{claimed_id}/reject", json={"reason": "重复"}, headers=staff)
    assert (refused.status_code, _code(refused)) == (409, "WISH_NOT_PENDING")


def test_staff_of_another_community_cannot_review_and_do_not_see_it(
    client, person, make_staff, login_staff, wish_in
):
    from tests.conftest import bearer

    wish_id = wish_in("pending_review", person("granny"))
    other = bearer(login_staff(make_staff(org="C3")))
    assert client.post(f"/api/v1/wishes/{wish_id}/approve", headers=other).status_code == 403
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=other).status_code == 404
    listed = client.get("/api/v1/wishes?status=pending_review", headers=other).get_json()
    assert listed["total"] == 0
    street = bearer(login_staff(make_staff(org="S1")))  # C1 lies under S1
    assert client.post(f"/api/v1/wishes/{wish_id}/approve", headers=street).status_code == 200


def test_residents_cannot_review(client, person, wish_in):
    resident = person("granny")
    wish_id = wish_in("pending_review", resident)
    assert client.post(f"/api/v1/wishes/{wish_id}/approve", headers=resident.headers).status_code == 403


def test_claim_own_wish_is_refused(app, client, person, wish_in):
    resident = person("granny", serves="party")
    wish_id = wish_in("open", resident)
    refused = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=resident.headers)
    assert (refused.status_code, _code(refused)) == (403, "WISH_OWN")
    assert _wish(app, wish_id).status == "open"


@pytest.mark.parametrize(
    ("serves", "community"),
    [(None, "C1"), ("party", "C2"), ("volunteer", "C2")],
    ids=["plain resident", "party member elsewhere", "volunteer elsewhere"],
)
def test_claim_by_someone_not_serving_this_community_is_refused(
    app, client, person, wish_in, serves, community
):
    wish_id = wish_in("open", person("granny"))
    outsider = person("outsider", community=community, serves=serves)
    refused = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=outsider.headers)
    assert (refused.status_code, _code(refused)) == (403, "NOT_A_SERVING_MEMBER")
    assert _wish(app, wish_id).status == "open"
    assert _claims(app, wish_id) == []


def test_a_registered_volunteer_may_claim(client, person, wish_in):
    wish_id = wish_in("open", person("granny"))
    volunteer = person("volunteer", serves="volunteer")
    assert (
        client.post(f"/api/v1/wishes/{wish_id}/claim", headers=volunteer.headers).get_json()["status"]
        == "claimed"
    )


def test_a_wish_waiting_for_review_cannot_be_claimed_or_seen(client, person, wish_in):
    wish_id = wish_in("pending_review", person("granny"))
    member = person("helper", serves="party")
    assert client.post(f"/api/v1/wishes/{wish_id}/claim", headers=member.headers).status_code == 404
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).status_code == 404


def test_a_second_claim_is_409_already_claimed(client, person, wish_in):
    wish_id = wish_in("claimed", person("granny"), person("first", serves="party"))
    second = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=person("second", serves="party").headers)
    assert (second.status_code, _code(second)) == (409, "WISH_ALREADY_CLAIMED")


def test_a_claim_lasts_seven_days_by_default(client, person, wish_in, clock):
    wish_id = wish_in("open", person("granny"))
    claimed = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=person("helper", serves="party").headers)
    deadline = datetime.fromisoformat(claimed.get_json()["claim_deadline"])
    assert deadline == clock.now + timedelta(days=7)


@pytest.mark.parametrize("state", ["cancelled", "rejected", "completed"])
def test_a_cancelled_rejected_or_completed_wish_cannot_be_claimed(app, client, person, staff, wish_in, state):
    resident, first = person("granny"), person("first", serves="party")
    if state == "cancelled":
        wish_id = wish_in("open", resident)
        client.post(f"/api/v1/wishes/{wish_id}/cancel", json={}, headers=resident.headers)
    elif state == "rejected":
        wish_id = wish_in("pending_review", resident)
        client.post(f"/api/v1/wishes/{wish_id}/reject", json={"reason": "请走物业报修"}, headers=staff)
    else:
        wish_id = wish_in("completed", resident, first)
    refused = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=person("late", serves="party").headers)
    # None of them is public (a completed wish is, only once its resident shares it as a story).
    assert (refused.status_code, _code(refused)) == (404, "WISH_NOT_FOUND")
    assert _wish(app, wish_id).status == state
    if state == "completed":
        client.put(f"/api/v1/wishes/{wish_id}/story", json={"consent": True}, headers=resident.headers)
        shared = client.post(
            f"/api/v1/wishes/{wish_id}/claim", headers=person("later", serves="party").headers
        )
        assert (shared.status_code, _code(shared)) == (409, "WISH_ALREADY_CLAIMED")
        assert _claims(app, wish_id) == [(first.id, "fulfilled", None)]


def test_a_member_holds_at_most_the_configured_number_of_open_claims(
    app, client, person, wish_in, after_claim, monkeypatch
):
    monkeypatch.setitem(app.config, "WISH_CLAIMS_PER_DAY", 10)  # the day's limit has its own tests
    resident, member = person("granny"), person("helper", serves="party")
    ids = [wish_in("open", resident, title=f"心愿{i}号") for i in range(4)]
    for wish_id in ids[:3]:
        assert client.post(f"/api/v1/wishes/{wish_id}/claim", headers=member.headers).status_code == 200
    refused = client.post(f"/api/v1/wishes/{ids[3]}/claim", headers=member.headers)
    assert (refused.status_code, _code(refused)) == (409, "CLAIM_LIMIT_REACHED")
    assert refused.get_json()["error"]["details"] == {"limit": 3}
    # Fulfilling one frees a place.
    after_claim()
    done = client.post(f"/api/v1/wishes/{ids[0]}/fulfil", json={"note": FULFIL_NOTE}, headers=member.headers)
    assert done.status_code == 200, done.get_json()
    assert client.post(f"/api/v1/wishes/{ids[3]}/claim", headers=member.headers).status_code == 200


def test_the_claimer_unclaims_and_the_wish_is_open_again(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    other = person("other", serves="party")
    assert client.post(f"/api/v1/wishes/{wish_id}/unclaim", headers=other.headers).status_code == 403
    response = client.post(f"/api/v1/wishes/{wish_id}/unclaim", headers=member.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "open" and body["claimed"] is False and body["claim_deadline"] is None
    assert _claims(app, wish_id) == [(member.id, "unclaimed", None)]
    assert [user for user, _ in _events(app, "wish.unclaimed")] == [resident.id]
    twice = client.post(f"/api/v1/wishes/{wish_id}/unclaim", headers=member.headers)
    assert (twice.status_code, _code(twice)) == (409, "WISH_NOT_CLAIMED")
    assert client.post(f"/api/v1/wishes/{wish_id}/claim", headers=other.headers).status_code == 200


def test_staff_release_a_claim_with_a_reason_the_claimer_and_the_resident_are_told(
    app, client, person, staff, wish_in
):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    released = client.post(
        f"/api/v1/wishes/{wish_id}/release", json={"reason": "长时间未联系居民"}, headers=staff
    )
    assert released.status_code == 200
    assert released.get_json()["status"] == "open"
    assert _claims(app, wish_id) == [(member.id, "released", "长时间未联系居民")]
    assert _events(app, "wish.released") == [
        (
            member.id,
            {"wish_id": wish_id, "title": "想请人修水龙头", "status": "open", "reason": "长时间未联系居民"},
        )
    ]
    assert _events(app, "wish.reopened") == [
        (
            resident.id,
            {"wish_id": wish_id, "title": "想请人修水龙头", "status": "open", "reason": "长时间未联系居民"},
        )
    ]
    again = client.post(f"/api/v1/wishes/{wish_id}/release", json={"reason": "x"}, headers=staff)
    assert (again.status_code, _code(again)) == (409, "WISH_NOT_CLAIMED")


def test_fulfil_when_not_the_claimer_is_refused(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    for who in (resident, person("other", serves="party")):
        refused = client.post(f"/api/v1/wishes/{wish_id}/fulfil", json={"note": "好了"}, headers=who.headers)
        assert (refused.status_code, _code(refused)) == (403, "NOT_CLAIMER")
    assert _wish(app, wish_id).status == "claimed"


def test_fulfilling_twice_answers_the_wish_and_the_first_note_stays(app, client, person, wish_in):
    member = person("helper", serves="party")
    wish_id = wish_in("fulfilled", person("granny"), member)
    again = client.post(
        f"/api/v1/wishes/{wish_id}/fulfil", json={"note": "又做了一次"}, headers=member.headers
    )
    # A resend by the claimer (issue 17; tests/wishes/test_resends.py): the wish as it is, nothing again.
    assert (again.status_code, again.headers.get("Idempotency-Replayed")) == (200, "true")
    assert (_wish(app, wish_id).status, _wish(app, wish_id).fulfil_note) == ("fulfilled", FULFIL_NOTE)
    assert len(_events(app, "wish.fulfilled")) == 1


def test_unclaiming_after_fulfilment_is_refused(app, client, person, wish_in):
    member = person("helper", serves="party")
    wish_id = wish_in("fulfilled", person("granny"), member)
    refused = client.post(f"/api/v1/wishes/{wish_id}/unclaim", headers=member.headers)
    assert (refused.status_code, _code(refused)) == (409, "WISH_NOT_CLAIMED")
    assert (_wish(app, wish_id).status, _wish(app, wish_id).claimer_id) == ("fulfilled", member.id)
    assert _events(app, "wish.unclaimed") == []


def test_fulfil_needs_a_note_and_takes_the_claimers_photos(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    assert client.post(f"/api/v1/wishes/{wish_id}/fulfil", json={}, headers=member.headers).status_code == 422
    too_many = {"note": "好了", "photos": list(range(1, 8))}
    assert (
        client.post(f"/api/v1/wishes/{wish_id}/fulfil", json=too_many, headers=member.headers).status_code
        == 422
    )
    unknown = client.post(
        f"/api/v1/wishes/{wish_id}/fulfil", json={"note": "好了", "photos": [999]}, headers=member.headers
    )
    assert (unknown.status_code, _code(unknown)) == (422, "FILE_NOT_FOUND")
    assert _wish(app, wish_id).status == "claimed"  # nothing half-written


def test_confirm_twice_answers_the_wish_and_points_move_once(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    first = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 4}, headers=resident.headers)
    assert first.status_code == 200
    second = client.post(f"/api/v1/wishes/{wish_id}/confirm", json={"rating": 4}, headers=resident.headers)
    assert (second.status_code, second.headers.get("Idempotency-Replayed")) == (
        200,
        "true",
    )  # a resend (issue 17)
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).where(LedgerTransaction.idempotency_key == f"wish:{wish_id}")
        )
    assert count == 1
    assert client.get("/api/v1/me/points", headers=member.headers).get_json()["available"] == 5


def test_confirm_is_for_the_resident_and_only_once_fulfilled(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    claimed_id = wish_in("claimed", resident, member)
    early = client.post(f"/api/v1/wishes/{claimed_id}/confirm", json={"rating": 5}, headers=resident.headers)
    assert (early.status_code, _code(early)) == (409, "WISH_NOT_FULFILLED")
    fulfilled_id = wish_in("fulfilled", resident, member, title="另一个心愿")
    by_claimer = client.post(
        f"/api/v1/wishes/{fulfilled_id}/confirm", json={"rating": 5}, headers=member.headers
    )
    assert (by_claimer.status_code, _code(by_claimer)) == (403, "NOT_WISH_OWNER")
    for rating in (0, 6, "5"):
        bad = client.post(
            f"/api/v1/wishes/{fulfilled_id}/confirm", json={"rating": rating}, headers=resident.headers
        )
        assert bad.status_code == 422
    assert _wish(app, fulfilled_id).status == "fulfilled"


def test_the_resident_cancels_before_fulfilment_and_the_claimer_is_told(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    pending_id = wish_in("pending_review", resident)
    assert (
        client.post(f"/api/v1/wishes/{pending_id}/cancel", json={}, headers=resident.headers).status_code
        == 200
    )
    claimed_id = wish_in("claimed", resident, member, title="第二个心愿")
    stranger = client.post(f"/api/v1/wishes/{claimed_id}/cancel", json={}, headers=member.headers)
    assert (stranger.status_code, _code(stranger)) == (403, "NOT_WISH_OWNER")
    cancelled = client.post(
        f"/api/v1/wishes/{claimed_id}/cancel", json={"reason": "已解决"}, headers=resident.headers
    )
    assert cancelled.get_json()["status"] == "cancelled"
    assert _claims(app, claimed_id) == [(member.id, "cancelled", None)]
    assert [user for user, _ in _events(app, "wish.cancelled")] == [member.id]
    # The member's place is free again and the wish is off the wall.
    assert client.get("/api/v1/me/claims?active=true", headers=member.headers).get_json()["total"] == 0


def test_a_fulfilled_wish_cannot_be_cancelled(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    refused = client.post(f"/api/v1/wishes/{wish_id}/cancel", json={}, headers=resident.headers)
    assert (refused.status_code, _code(refused)) == (409, "WISH_NOT_CANCELLABLE")
    assert _wish(app, wish_id).status == "fulfilled"


def test_the_resident_cancels_an_open_wish_and_it_leaves_the_wall(app, client, person, wish_in):
    resident = person("granny")
    wish_id = wish_in("open", resident)
    cancelled = client.post(
        f"/api/v1/wishes/{wish_id}/cancel", json={"reason": "已解决"}, headers=resident.headers
    )
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    assert (_wish(app, wish_id).cancel_reason, _claims(app, wish_id)) == ("已解决", [])
    assert _events(app, "wish.cancelled") == []  # nobody held it
    assert client.get("/api/v1/wishes", headers=person("viewer").headers).get_json()["total"] == 0


def test_a_completed_wish_cannot_be_cancelled(app, client, person, wish_in):
    resident = person("granny")
    wish_id = wish_in("completed", resident, person("helper", serves="party"))
    refused = client.post(f"/api/v1/wishes/{wish_id}/cancel", json={}, headers=resident.headers)
    assert (refused.status_code, _code(refused)) == (409, "WISH_NOT_CANCELLABLE")
    assert _wish(app, wish_id).status == "completed"


def test_unknown_wishes_are_404(client, person, staff):
    resident = person("granny")
    for method, path in [("get", ""), ("post", "/claim"), ("post", "/cancel"), ("post", "/unclaim")]:
        response = getattr(client, method)(f"/api/v1/wishes/424242{path}", json={}, headers=resident.headers)
        assert (response.status_code, _code(response)) == (404, "WISH_NOT_FOUND")
    assert client.post("/api/v1/wishes/424242/approve", headers=staff).status_code == 404


def test_my_wishes_and_my_claims(client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    first = wish_in("claimed", resident, member, title="第一个")
    second = wish_in("fulfilled", resident, member, title="第二个")
    wish_in("open", resident, title="第三个")
    mine = client.get("/api/v1/me/wishes", headers=resident.headers).get_json()
    assert [w["title"] for w in mine["items"]] == ["第三个", "第二个", "第一个"]
    assert all(w["mine"] for w in mine["items"])
    assert client.get("/api/v1/me/wishes?status=open", headers=resident.headers).get_json()["total"] == 1
    claims = client.get("/api/v1/me/claims", headers=member.headers).get_json()
    assert {w["id"] for w in claims["items"]} == {first, second}
    active = client.get("/api/v1/me/claims?active=true", headers=member.headers).get_json()
    assert [w["id"] for w in active["items"]] == [first]
    assert client.get("/api/v1/me/claims", headers=resident.headers).get_json()["total"] == 0
