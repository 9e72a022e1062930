"""The whole life of a wish through the API: post, review, claim, fulfil, confirm, and the points."""

from datetime import timedelta

from sqlalchemy import select

from points.models import LedgerTransaction
from server.db import db
from server.notifications.models import OutboxMessage


def _events(app) -> list[tuple[str, int]]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [(row.event, row.user_id) for row in rows]


def test_a_wish_goes_from_posting_to_completed_and_the_claimer_earns_points_once(
    app, client, person, staff, post_wish, clock
):
    resident = person("granny", nickname="陈奶奶")
    member = person("helper", serves="party", nickname="李师傅")

    posted = post_wish(resident)
    assert posted["status"] == "pending_review"
    wish_id = posted["id"]
    assert client.post(f"/api/v1/wishes/{wish_id}/approve", headers=staff).get_json()["status"] == "open"

    claimed = client.post(f"/api/v1/wishes/{wish_id}/claim", headers=member.headers)
    assert claimed.status_code == 200
    assert claimed.get_json()["status"] == "claimed"
    assert claimed.get_json()["claim_deadline"]

    clock.now += timedelta(hours=1)  # the help takes time
    fulfilled = client.post(
        f"/api/v1/wishes/{wish_id}/fulfil", json={"note": "已上门把水龙头修好了"}, headers=member.headers
    )
    assert fulfilled.get_json()["status"] == "fulfilled"

    confirmed = client.post(
        f"/api/v1/wishes/{wish_id}/confirm",
        json={"rating": 5, "comment": "谢谢小李"},
        headers=resident.headers,
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    assert body["status"] == "completed" and body["rating"] == 5 and body["award_points"] == 5
    assert body["award"] == {
        "id": body["award"]["id"],
        "status": "paid",
        "cause": "confirmed",
        "code": None,
        "points": 5,
    }

    balance = client.get("/api/v1/me/points", headers=member.headers).get_json()
    assert balance["available"] == 5
    with app.app_context():
        awards = db.session.scalars(
            select(LedgerTransaction).where(LedgerTransaction.idempotency_key == f"wish:{wish_id}")
        ).all()
        assert len(awards) == 1
    assert _events(app) == [
        ("wish.approved", resident.id),
        ("wish.claimed", resident.id),
        ("wish.fulfilled", resident.id),
        ("wish.completed", member.id),
    ]
