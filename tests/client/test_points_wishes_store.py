"""Stories of points and what they buy: the history and the inbox scrolled while awards arrive, a wish from
a photo to the claimer's points with every answer lost once, and a redemption to its 核销 at the desk."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.client.conftest import body_of
from tests.client.simulator import Answer, Phone


def _award(staff: Phone, member: Phone, amount: int, reason: str) -> None:
    assert member.user is not None
    done = staff.post(
        "/points/adjustments", {"user_id": member.user["id"], "amount": amount, "reason": reason}
    )
    assert done.status == 201, done.body


def _same_answer_again(phone: Phone, method: str, path: str, answer: Answer) -> None:
    """The resend's answer is the one the phone lost: its status and its body."""
    lost = phone.wx.lost_answer(method, f"/api/v1{path}")
    resent = phone.wx.sent(method, f"/api/v1{path}")[-1]
    assert answer.tries == ["lost", lost.status]
    assert answer.body == lost.answered_json()
    assert (resent.body, resent.header["Idempotency-Key"]) == (lost.body, lost.header["Idempotency-Key"])


def _scroll_on(phone: Phone, path: str, page: dict[str, Any]) -> list[int]:
    """The ids the phone shows as it scrolls to the end with each answer's ``next_before_id``."""
    seen = [row["id"] for row in page["items"]]
    while page["next_before_id"] is not None:
        page = body_of(phone.get(path, page_size=2, before_id=page["next_before_id"]))
        seen += [row["id"] for row in page["items"]]
    return seen


def test_scrolling_the_history_and_the_inbox_while_awards_arrive(resident, desk, run_worker):
    phone, staff = resident("olga"), desk("C1")
    for n in range(1, 6):
        _award(staff, phone, n, f"第{n}次")

    first = body_of(phone.get("/me/points/history", page_size=2))
    assert [row["amount"] for row in first["items"]] == [5, 4]
    assert first["next_before_id"] == first["items"][-1]["id"]
    _award(staff, phone, 6, "第6次")  # arrives while she scrolls

    # By page number the next page starts one row later than it did: a row shown twice.
    by_number = body_of(phone.get("/me/points/history", page_size=2, page=2))
    assert [row["amount"] for row in by_number["items"]] == [4, 3]
    assert by_number["items"][0]["id"] == first["items"][-1]["id"]
    # By the cursor each row comes once, none skipped, and the total counts the new one.
    seen = _scroll_on(phone, "/me/points/history", first)
    amounts = {row["id"]: row["amount"] for row in body_of(phone.get("/me/points/history"))["items"]}
    assert [amounts[i] for i in seen] == [5, 4, 3, 2, 1]
    assert body_of(phone.get("/me/points/history", page_size=1))["total"] == 6

    # The inbox scrolls the same way while the next award's notice arrives.
    run_worker()
    inbox = body_of(phone.get("/me/notifications", page_size=2))
    assert inbox["total"] == 6 and inbox["next_before_id"] == inbox["items"][-1]["id"]
    _award(staff, phone, 7, "第7次")
    run_worker()
    notices = _scroll_on(phone, "/me/notifications", inbox)
    assert len(notices) == len(set(notices)) == 6
    assert notices == sorted(notices, reverse=True)
    assert body_of(phone.get("/me/notifications", page_size=1))["total"] == 7  # the new one is on top


def test_a_wish_from_photo_to_points_with_every_answer_lost_once(resident, desk, png, clocks):
    granny, helper = resident("granny", nickname="陈奶奶"), resident("helper", party=True, nickname="李师傅")
    staff = desk("C1")

    # She takes a photo and uploads it; the answer is lost, the resend stores the photo again (the first
    # copy is an orphan) and the page parses res.data, a string.
    granny.wx.take_photo(png)
    photo = granny.wx.chooseMedia(count=1)["tempFiles"][0]["tempFilePath"]
    granny.wx.lose_answer("POST", "/api/v1/files")
    uploaded, stored = granny.upload(photo)
    assert uploaded.tries == ["lost", 201] and isinstance(uploaded.body, str)
    orphan = granny.wx.lost_answer("POST", "/api/v1/files").answered_json()
    assert orphan["id"] != stored["id"] and stored["url"].startswith("/files/")

    wish = {
        "title": "想请人修水龙头",
        "content": "厨房水龙头一直滴水，想请懂行的邻居帮忙看看。",
        "category": granny.config["wish_categories"][0],
        "photos": [stored["id"]],
    }
    granny.wx.lose_answer("POST", "/api/v1/wishes")
    posted = granny.post("/wishes", wish)
    _same_answer_again(granny, "POST", "/wishes", posted)
    assert (posted.status, posted.replayed) == (201, True)
    wish_id = body_of(posted)["id"]
    assert body_of(posted)["status"] == "pending_review"
    assert [p["id"] for p in body_of(posted)["photos"]] == [stored["id"]]
    assert [w["id"] for w in body_of(granny.get("/me/wishes"))["items"]] == [wish_id]  # one wish, not two

    assert body_of(staff.post(f"/wishes/{wish_id}/approve"))["status"] == "open"

    on_wall = {w["id"]: w for w in body_of(helper.get("/wishes"))["items"]}[wish_id]
    assert (on_wall["mine"], on_wall["claimed_by_me"]) == (False, False)
    helper.wx.lose_answer("POST", f"/api/v1/wishes/{wish_id}/claim")
    claimed = helper.post(f"/wishes/{wish_id}/claim")
    _same_answer_again(helper, "POST", f"/wishes/{wish_id}/claim", claimed)
    assert (claimed.status, claimed.replayed, body_of(claimed)["status"]) == (200, True, "claimed")
    assert body_of(claimed)["claimed_by_me"] is True

    clocks.advance(timedelta(hours=1))  # the help takes an hour
    helper.wx.lose_answer("POST", f"/api/v1/wishes/{wish_id}/fulfil")
    fulfilled = helper.post(f"/wishes/{wish_id}/fulfil", {"note": "已经上门把水龙头修好了"})
    _same_answer_again(helper, "POST", f"/wishes/{wish_id}/fulfil", fulfilled)
    assert (fulfilled.status, fulfilled.replayed, body_of(fulfilled)["status"]) == (200, True, "fulfilled")

    granny.wx.lose_answer("POST", f"/api/v1/wishes/{wish_id}/confirm")
    confirmed = granny.post(f"/wishes/{wish_id}/confirm", {"rating": 5, "comment": "谢谢小李"})
    _same_answer_again(granny, "POST", f"/wishes/{wish_id}/confirm", confirmed)
    assert (confirmed.status, confirmed.replayed, body_of(confirmed)["status"]) == (200, True, "completed")
    assert body_of(confirmed)["award"]["status"] == "paid"
    points = body_of(helper.get("/me/points"))
    assert points["available"] == body_of(confirmed)["award_points"] == 5  # paid once
    assert [w["id"] for w in body_of(helper.get("/me/claims"))["items"]] == [wish_id]


def test_a_redemption_from_the_store_to_the_desks_pickup_with_resends(resident, desk, org_tree):
    phone, staff = resident("pete"), desk("C1")
    _award(staff, phone, 30, "开户")
    made = staff.post(
        "/store/items",
        {"community_id": org_tree["C1"].id, "name": "大米 5kg", "points_price": 10, "stock": 5},
    )
    assert made.status == 201, made.body
    store = body_of(phone.get("/store/items", community_id=org_tree["C1"].id))["items"]
    item = {i["id"]: i for i in store}[body_of(made)["id"]]
    assert item["stock_available"] == 5

    phone.wx.lose_answer("POST", "/api/v1/redemptions")
    asked = phone.post("/redemptions", {"item_id": item["id"], "quantity": 1})
    _same_answer_again(phone, "POST", "/redemptions", asked)
    assert (asked.status, body_of(asked)["status"], body_of(asked)["pickup_code"]) == (201, "requested", None)
    redemption = f"/redemptions/{body_of(asked)['id']}"
    balance = body_of(phone.get("/me/points"))
    assert (balance["available"], balance["held"]) == (20, 10)  # held, not spent, while staff decide

    waiting = body_of(staff.get("/redemptions", status="requested"))["items"]
    assert [r["id"] for r in waiting] == [body_of(asked)["id"]]
    # The desk's approval answer is lost too; its resend by the same desk answers the approval again.
    staff.wx.lose_answer("POST", f"/api/v1{redemption}/approve")
    approved = staff.post(f"{redemption}/approve")
    _same_answer_again(staff, "POST", f"{redemption}/approve", approved)
    assert (body_of(approved)["status"], approved.replayed) == ("approved", True)

    mine: dict[str, Any] = body_of(phone.get(redemption))  # 我的兑换: the code to show at the desk
    assert mine["status"] == "approved" and len(mine["pickup_code"]) == 8
    assert mine["pickup_deadline"] is not None and "pickup" in mine
    qr = phone.call("GET", f"{redemption}/pickup-qr", responseType="arraybuffer")  # wx.downloadFile + header
    assert qr.status == 200 and isinstance(qr.body, bytes) and qr.body.startswith(b"\x89PNG")

    # 核销 at the desk: the answer is lost and the desk's phone resends.
    staff.wx.lose_answer("POST", "/api/v1/redemptions/pickup")
    handed = staff.post("/redemptions/pickup", {"pickup_code": mine["pickup_code"]})
    _same_answer_again(staff, "POST", "/redemptions/pickup", handed)
    assert (handed.status, handed.replayed, body_of(handed)["status"]) == (200, True, "picked_up")
    assert body_of(phone.get(redemption))["status"] == "picked_up"
    assert body_of(phone.get("/me/points")) == {
        "available": 20,
        "held": 0,
        "earned_total": 30,
        "spent_total": 10,
    }
