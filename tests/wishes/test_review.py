"""A wish is paid only for help that happened (security review F4, F10, F11), over HTTP.

F4: a claimer marked a wish fulfilled at once and was paid, by the resident's confirmation whatever the
rating or by the timeout job, and nobody could undo it. F10: the claimer's unreviewed photos were on the
public wall. F11: one account posted wishes without limit, and a resident and a friendly claimer farmed
points wish after wish.
"""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from points.models import LedgerTransaction
from server.db import db
from server.notifications.models import OutboxMessage
from tests.wishes.conftest import FULFIL_NOTE
from wishes.jobs import complete_unconfirmed_wishes
from wishes.models import Wish, WishClaim, WishPhoto


def _code(response: Any) -> str:
    code: str = response.get_json()["error"]["code"]
    return code


def _points(client, who) -> int:
    available: int = client.get("/api/v1/me/points", headers=who.headers).get_json()["available"]
    return available


def _wish_awards(app, wish_id: int) -> int:
    """Ledger transactions under the wish's idempotency key."""
    with app.app_context():
        return int(
            db.session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.idempotency_key == f"wish:{wish_id}")
            )
            or 0
        )


def _events(app, event: str) -> list[tuple[int, dict[str, Any]]]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.event == event).order_by(OutboxMessage.id)
        )
        return [(row.user_id, row.payload) for row in rows]


def _post(client, path: str, who: Any, body: dict[str, Any] | None = None) -> Any:
    headers = who.headers if hasattr(who, "headers") else who
    return client.post(f"/api/v1/wishes/{path}", json=body or {}, headers=headers)


def _fulfilled_days_ago(app, wish_id: int, days: int, clock) -> None:
    with app.app_context():
        db.session.execute(
            update(Wish).where(Wish.id == wish_id).values(fulfilled_at=clock.now - timedelta(days=days))
        )
        db.session.commit()


# --- F4: fake fulfilment ---------------------------------------------------------------------------------


def test_f4_a_fulfilment_at_once_is_refused_and_a_disputed_one_is_released_without_points(
    app, client, person, staff, wish_in, upload_photo, clock
):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("open", resident)
    assert _post(client, f"{wish_id}/claim", member).status_code == 200

    at_once = _post(client, f"{wish_id}/fulfil", member, {"note": FULFIL_NOTE})
    assert (at_once.status_code, _code(at_once)) == (409, "FULFIL_TOO_SOON")
    assert at_once.get_json()["error"]["details"]["minutes"] == 10
    clock.now += timedelta(minutes=9, seconds=59)
    assert _code(_post(client, f"{wish_id}/fulfil", member, {"note": FULFIL_NOTE})) == "FULFIL_TOO_SOON"
    clock.now += timedelta(seconds=1)
    bare = _post(client, f"{wish_id}/fulfil", member, {"note": "弄好了"})  # no photo, a 3-character note
    assert (bare.status_code, _code(bare)) == (422, "FULFIL_EVIDENCE_REQUIRED")
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).get_json()["status"] == "claimed"
    done_photo = upload_photo(member)
    done = _post(client, f"{wish_id}/fulfil", member, {"note": FULFIL_NOTE, "photos": [done_photo]})
    assert done.status_code == 200, done.get_json()

    disputed = _post(client, f"{wish_id}/dispute", resident, {"reason": "根本没有人来过"})
    assert disputed.status_code == 200, disputed.get_json()
    body = disputed.get_json()
    assert (body["status"], body["dispute_reason"], body["award"], body["award_points"]) == (
        "disputed",
        "根本没有人来过",
        None,
        None,
    )
    again = _post(client, f"{wish_id}/dispute", resident, {"reason": "根本没有人来过"})
    assert (again.status_code, again.get_json()) == (200, body)  # a resent dispute: the same answer
    assert _points(client, member) == 0
    # While staff decide, the resident cannot confirm it, nor the timeout job complete it.
    assert _code(_post(client, f"{wish_id}/confirm", resident, {"rating": 5})) == "WISH_NOT_FULFILLED"
    _fulfilled_days_ago(app, wish_id, 8, clock)
    with app.app_context():
        assert complete_unconfirmed_wishes() == 0
    queue = client.get("/api/v1/wishes?status=disputed", headers=staff).get_json()
    assert [w["id"] for w in queue["items"]] == [wish_id]

    released = _post(client, f"{wish_id}/release", staff, {"reason": "居民反映没有上门，重新开放"})
    assert released.status_code == 200, released.get_json()
    reopened = released.get_json()
    assert (reopened["status"], reopened["claimed"], reopened["fulfil_note"]) == ("open", False, None)
    assert [p["kind"] for p in reopened["photos"]] == []  # the fulfilment's photos went with it
    assert _points(client, member) == 0 and _wish_awards(app, wish_id) == 0
    assert client.get("/api/v1/wish-awards", headers=staff).get_json()["total"] == 0
    with app.app_context():
        claims = db.session.scalars(select(WishClaim).where(WishClaim.wish_id == wish_id)).all()
        assert [(c.user_id, c.outcome, c.reason) for c in claims] == [
            (member.id, "released", "居民反映没有上门，重新开放")
        ]
    assert [user for user, _ in _events(app, "wish.released")] == [member.id]
    assert [user for user, _ in _events(app, "wish.reopened")] == [resident.id]
    # Back on the wall: someone else may help now.
    other = person("other", serves="volunteer")
    assert _post(client, f"{wish_id}/claim", other).status_code == 200


def test_a_resident_disputes_only_their_own_fulfilled_wish_and_with_a_reason(client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    claimed = wish_in("claimed", resident, member)
    early = _post(client, f"{claimed}/dispute", resident, {"reason": "还没做"})
    assert (early.status_code, _code(early)) == (409, "WISH_NOT_FULFILLED")
    fulfilled = wish_in("fulfilled", resident, member, title="另一个心愿")
    for who in (member, person("stranger")):
        refused = _post(client, f"{fulfilled}/dispute", who, {"reason": "没做"})
        assert (refused.status_code, _code(refused)) == (403, "NOT_WISH_OWNER")
    blank = _post(client, f"{fulfilled}/dispute", resident, {"reason": "  "})
    assert blank.status_code == 422
    completed = wish_in("completed", resident, person("third", serves="party"), title="第三个心愿")
    late = _post(client, f"{completed}/dispute", resident, {"reason": "其实没做"})
    assert (late.status_code, _code(late)) == (409, "WISH_ALREADY_COMPLETED")


def test_staff_complete_a_disputed_wish_and_the_claimer_is_paid_once(app, client, person, staff, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    assert _post(client, f"{wish_id}/dispute", resident, {"reason": "灯还是不亮"}).status_code == 200
    not_disputed = wish_in("fulfilled", resident, person("other", serves="party"), title="没有申诉的")
    refused = _post(client, f"{not_disputed}/complete", staff)
    assert (refused.status_code, _code(refused)) == (409, "WISH_NOT_DISPUTED")

    first = _post(client, f"{wish_id}/complete", staff)
    assert first.status_code == 200, first.get_json()
    second = _post(client, f"{wish_id}/complete", staff)
    assert second.get_json() == first.get_json()  # resent: the same answer
    body = first.get_json()
    assert (body["status"], body["completed_by"], body["award"]["status"], body["award"]["cause"]) == (
        "completed",
        "staff",
        "paid",
        "staff",
    )
    assert _points(client, member) == 5 and _wish_awards(app, wish_id) == 1
    assert _code(_post(client, f"{wish_id}/complete", person("granny"))) == "FORBIDDEN"


def test_staff_release_or_reject_a_fulfilled_wish_with_a_reason_and_nobody_is_paid(
    app, client, person, staff, wish_in
):
    resident, member = person("granny"), person("helper", serves="party")
    to_release = wish_in("fulfilled", resident, member)
    to_reject = wish_in("fulfilled", resident, member, title="不合规的心愿")

    released = _post(client, f"{to_release}/release", staff, {"reason": "照片与心愿不符"})
    assert (released.status_code, released.get_json()["status"]) == (200, "open")
    again = _post(client, f"{to_release}/release", staff, {"reason": "照片与心愿不符"})
    assert (again.status_code, again.get_json()) == (200, released.get_json())  # resent: as it is

    rejected = _post(client, f"{to_reject}/reject", staff, {"reason": "该心愿属于物业职责"})
    assert rejected.status_code == 200, rejected.get_json()
    assert (rejected.get_json()["status"], rejected.get_json()["claimed"]) == ("rejected", False)
    resent = _post(client, f"{to_reject}/reject", staff, {"reason": "该心愿属于物业职责"})
    assert (resent.status_code, resent.get_json()) == (200, rejected.get_json())
    assert _events(app, "wish.rejected") == [
        (
            resident.id,
            {
                "wish_id": to_reject,
                "title": "不合规的心愿",
                "status": "rejected",
                "reason": "该心愿属于物业职责",
            },
        )
    ]
    assert sorted(user for user, _ in _events(app, "wish.released")) == [member.id, member.id]
    assert _points(client, member) == 0
    assert _wish_awards(app, to_release) == _wish_awards(app, to_reject) == 0
    completed = wish_in("completed", resident, person("third", serves="party"), title="已完成的")
    for action in ("release", "reject"):
        late = _post(client, f"{completed}/{action}", staff, {"reason": "太晚了"})
        assert late.status_code == 409


# --- the queue of points waiting for staff (待确认积分) -----------------------------------------------------


@pytest.mark.parametrize(("rating", "paid_at_once"), [(1, False), (2, False), (3, True), (5, True)])
def test_a_rating_of_one_or_two_waits_for_staff_and_three_or_more_pays_at_once(
    app, client, person, staff, wish_in, rating, paid_at_once
):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    confirmed = _post(client, f"{wish_id}/confirm", resident, {"rating": rating, "comment": "一般"})
    assert confirmed.status_code == 200, confirmed.get_json()
    award = confirmed.get_json()["award"]
    queue = client.get("/api/v1/wish-awards?status=pending", headers=staff).get_json()
    if paid_at_once:
        assert (award["status"], award["cause"], award["points"]) == ("paid", "confirmed", 5)
        assert _points(client, member) == 5 and queue["total"] == 0
        return
    assert (award["status"], award["cause"], award["points"]) == ("pending", "low_rating", None)
    assert _points(client, member) == 0
    [queued] = queue["items"]
    assert (queued["id"], queued["wish_id"], queued["rating"], queued["comment"]) == (
        award["id"],
        wish_id,
        rating,
        "一般",
    )
    [(_, told)] = _events(app, "wish.completed")
    assert told["points"] == "待社区确认"


def test_staff_turn_an_award_down_with_a_reason_and_nothing_is_paid(app, client, person, staff, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    award_id = _post(client, f"{wish_id}/confirm", resident, {"rating": 1}).get_json()["award"]["id"]

    blank = client.post(f"/api/v1/wish-awards/{award_id}/reject", json={"reason": " "}, headers=staff)
    assert (blank.status_code, _code(blank)) == (422, "REASON_REQUIRED")
    for _ in range(2):
        rejected = client.post(
            f"/api/v1/wish-awards/{award_id}/reject", json={"reason": "居民反映服务未完成"}, headers=staff
        )
        assert rejected.status_code == 200, rejected.get_json()
        assert (rejected.get_json()["status"], rejected.get_json()["reject_reason"]) == (
            "rejected",
            "居民反映服务未完成",
        )
    late = client.post(f"/api/v1/wish-awards/{award_id}/approve", headers=staff)
    assert (late.status_code, _code(late)) == (409, "WISH_AWARD_DECIDED")
    assert _points(client, member) == 0 and _wish_awards(app, wish_id) == 0
    shown = client.get(f"/api/v1/wishes/{wish_id}", headers=resident.headers).get_json()
    assert (shown["award"]["status"], shown["award"]["code"]) == ("rejected", "AWARD_REJECTED")


def test_the_award_queue_is_for_the_staff_of_the_wishs_community(
    app, client, person, staff, wish_in, make_staff, login_staff
):
    from tests.conftest import bearer

    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    award_id = _post(client, f"{wish_id}/confirm", resident, {"rating": 2}).get_json()["award"]["id"]
    elsewhere = bearer(login_staff(make_staff(org="C3")))
    assert client.get("/api/v1/wish-awards", headers=elsewhere).get_json()["total"] == 0
    refused = client.post(f"/api/v1/wish-awards/{award_id}/approve", headers=elsewhere)
    assert (refused.status_code, _code(refused)) == (403, "FORBIDDEN")
    for who in (resident.headers, member.headers):
        assert client.get("/api/v1/wish-awards", headers=who).status_code == 403
        assert client.post(f"/api/v1/wish-awards/{award_id}/approve", headers=who).status_code == 403
    missing = client.post("/api/v1/wish-awards/424242/approve", headers=staff)
    assert (missing.status_code, _code(missing)) == (404, "WISH_AWARD_NOT_FOUND")
    assert _points(client, member) == 0


# --- F11: farming by a pair, flooding the queue -------------------------------------------------------------


def test_the_same_resident_and_claimer_earn_wish_points_once_in_wish_pair_days(
    app, client, person, staff, wish_in, clock
):
    resident, member, other = (
        person("granny"),
        person("helper", serves="party"),
        person("other", serves="party"),
    )
    first = wish_in("completed", resident, member, title="第一个")
    assert _points(client, member) == 5

    second = wish_in("fulfilled", resident, member, title="第二个")
    confirmed = _post(client, f"{second}/confirm", resident, {"rating": 5})
    assert confirmed.get_json()["status"] == "completed"  # the wish completes; its points are refused
    assert _points(client, member) == 5 and _wish_awards(app, second) == 0
    assert (confirmed.get_json()["award"]["status"], confirmed.get_json()["award"]["code"]) == (
        "refused",
        "PAIR_LIMIT",
    )
    # Staff see why: on the wish and in the awards' list.
    seen = client.get(f"/api/v1/wishes/{second}", headers=staff).get_json()
    assert (seen["award"]["code"], seen["award_points"]) == ("PAIR_LIMIT", None)
    refused = client.get("/api/v1/wish-awards?status=refused", headers=staff).get_json()["items"]
    assert [(a["wish_id"], a["code"]) for a in refused] == [(second, "PAIR_LIMIT")]

    # Another claimer of the same resident is not limited by it.
    wish_in("completed", resident, other, title="别人帮的")
    assert _points(client, other) == 5

    # Waiting in the queue counts too: two timeouts of the pair, approved, pay once.
    clock.now += timedelta(days=31)
    late = [wish_in("fulfilled", resident, member, title=f"超时{i}") for i in range(2)]
    for wish_id in late:
        _fulfilled_days_ago(app, wish_id, 8, clock)
    with app.app_context():
        assert complete_unconfirmed_wishes() == 2
    queue = client.get("/api/v1/wish-awards?status=pending", headers=staff).get_json()["items"]
    decided = [client.post(f"/api/v1/wish-awards/{a['id']}/approve", headers=staff).get_json() for a in queue]
    assert [(a["status"], a["code"]) for a in decided] == [("paid", None), ("refused", "PAIR_LIMIT")]
    assert _points(client, member) == 10
    assert _wish_awards(app, first) == 1
    assert app.config["WISH_PAIR_DAYS"] == 30


def test_a_user_posts_at_most_wish_post_rate_limit_wishes(app, client, person, staff, post_wish):
    resident, neighbour = person("granny"), person("neighbour")
    for _ in range(5):
        wish_id = post_wish(resident)["id"]
        assert _post(client, f"{wish_id}/approve", staff).status_code == 200  # under the pending cap
    sixth = client.post(
        "/api/v1/wishes",
        json={"title": "第六个心愿", "content": "今天的第六个心愿。", "category": "生活帮扶"},
        headers=resident.headers,
    )
    assert (sixth.status_code, _code(sixth)) == (429, "RATE_LIMITED")
    assert sixth.headers.get("Retry-After")
    post_wish(neighbour)  # the limit is per user
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Wish)) == 6
    assert app.config["WISH_POST_RATE_LIMIT"] == "5 per day"


def test_at_most_three_wishes_of_a_user_wait_for_review(app, client, person, staff, post_wish):
    resident = person("granny")
    waiting = [post_wish(resident, title=f"心愿{i}")["id"] for i in range(3)]
    fourth = client.post(
        "/api/v1/wishes",
        json={"title": "第四个", "content": "还想再发一个心愿。", "category": "生活帮扶"},
        headers=resident.headers,
    )
    assert (fourth.status_code, _code(fourth)) == (409, "WISH_PENDING_LIMIT")
    assert fourth.get_json()["error"]["details"] == {"limit": 3}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Wish)) == 3
    assert _post(client, f"{waiting[0]}/approve", staff).status_code == 200
    post_wish(resident, title="审核后再发")
    assert app.config["WISH_MAX_PENDING"] == 3


# --- fulfilment needs evidence ------------------------------------------------------------------------------


def test_a_photo_stands_for_a_long_note_and_the_wait_follows_the_setting(
    app, client, person, wish_in, upload_photo, clock, monkeypatch
):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    photo = upload_photo(member)
    assert _post(client, f"{wish_id}/fulfil", member, {"note": "好了", "photos": [photo]}).status_code == 200

    monkeypatch.setitem(app.config, "WISH_MIN_FULFIL_MINUTES", 60)
    other = wish_in("open", resident, title="第二个")
    assert _post(client, f"{other}/claim", member).status_code == 200
    clock.now += timedelta(minutes=30)
    assert _code(_post(client, f"{other}/fulfil", member, {"note": FULFIL_NOTE})) == "FULFIL_TOO_SOON"
    clock.now += timedelta(minutes=30)
    assert _post(client, f"{other}/fulfil", member, {"note": FULFIL_NOTE}).status_code == 200


# --- F10: the claimer's photos ------------------------------------------------------------------------------


def test_f10_fulfilment_photos_stay_off_the_wall_until_the_wish_is_completed_and_shared(
    app, client, person, staff, wish_in, upload_photo
):
    resident, member = person("granny"), person("helper", serves="party")
    stranger = person("stranger", community="C3")
    asked = upload_photo(resident)
    wish_id = wish_in("claimed", resident, member, photos=[asked])
    done = upload_photo(member)
    assert (
        _post(client, f"{wish_id}/fulfil", member, {"note": FULFIL_NOTE, "photos": [done]}).status_code == 200
    )
    with app.app_context():
        done_url = (
            "/files/"
            + db.session.scalars(select(WishPhoto).where(WishPhoto.kind == "fulfilment")).one().file.key
        )

    c1 = client.get("/api/v1/me", headers=resident.headers).get_json()["community_id"]
    wall = client.get(f"/api/v1/wishes?status=fulfilled&community_id={c1}", headers=stranger.headers)
    [item] = wall.get_json()["items"]
    assert [(p["id"], p["kind"]) for p in item["photos"]] == [(asked, "wish")]
    detail = client.get(f"/api/v1/wishes/{wish_id}", headers=stranger.headers)
    assert [p["kind"] for p in detail.get_json()["photos"]] == ["wish"]
    assert done_url not in wall.get_data(as_text=True) + detail.get_data(as_text=True)
    for who in (resident.headers, member.headers, staff):  # those it is between see what was done
        seen = client.get(f"/api/v1/wishes/{wish_id}", headers=who).get_json()
        assert [p["kind"] for p in seen["photos"]] == ["wish", "fulfilment"]

    _post(client, f"{wish_id}/confirm", resident, {"rating": 5, "story_consent": False})
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=stranger.headers).status_code == 404
    client.put(f"/api/v1/wishes/{wish_id}/story", json={"consent": True}, headers=resident.headers)
    shared = client.get(f"/api/v1/wishes/{wish_id}", headers=stranger.headers).get_json()
    assert [p["kind"] for p in shared["photos"]] == ["wish", "fulfilment"]  # shared by the resident now
