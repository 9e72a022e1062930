"""WeChat's content check on what residents and members write, and photos attached to wishes."""

import json
from typing import Any

import pytest
import requests
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from points.models import LedgerTransaction
from server.db import db
from tests.wishes.conftest import FULFIL_NOTE
from wishes.models import Wish, WishPhoto

BODY = {"title": "想请人帮忙", "content": "家里有点事情想请邻居帮忙。", "category": "生活帮扶"}


def _count(app, model) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_risky_text_is_refused_with_a_reason_and_nothing_is_written(app, client, person):
    resident = person("granny")
    response = client.post(
        "/api/v1/wishes", json={**BODY, "content": "这里有违规内容，不该发出。"}, headers=resident.headers
    )
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "CONTENT_RISKY" and error["details"] == {"label": 20001}
    assert error["message"] == "内容含有违规信息，请修改后再提交"
    english = client.post(
        "/api/v1/wishes",
        json={**BODY, "title": "risky title"},
        headers={**resident.headers, "Accept-Language": "en"},
    )
    assert english.get_json()["error"]["message"] == "The text was refused by the content check"
    assert _count(app, Wish) == 0


def test_text_to_review_goes_to_staff_marked(client, person, staff):
    resident = person("granny")
    posted = client.post(
        "/api/v1/wishes", json={**BODY, "content": "这段话待审，请人工看看。"}, headers=resident.headers
    )
    assert posted.status_code == 201
    assert posted.get_json()["status"] == "pending_review"
    assert posted.get_json()["review"] is None  # the resident does not see the marks
    seen = client.get(f"/api/v1/wishes/{posted.get_json()['id']}", headers=staff).get_json()
    assert seen["review"] == {
        "sec_check": "review",
        "sec_label": 21000,
        "fulfil_note_check": None,
        "comment_check": None,
        "needs_review": True,
        "reviewed_at": None,
        "reviewed_by": None,
    }


def test_when_wechat_cannot_check_the_wish_waits_for_staff_marked_unchecked(
    client, person, staff, wechat_fake
):
    resident = person("granny")
    wechat_fake.control("fail", path="/wxa/msg_sec_check", times=1, status=502)
    posted = client.post("/api/v1/wishes", json=BODY, headers=resident.headers)
    assert posted.status_code == 201
    seen = client.get(f"/api/v1/wishes/{posted.get_json()['id']}", headers=staff).get_json()
    assert (seen["review"]["sec_check"], seen["review"]["needs_review"]) == ("unchecked", True)


def test_a_risky_fulfilment_note_is_refused_and_the_wish_stays_claimed(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    refused = client.post(
        f"/api/v1/wishes/{wish_id}/fulfil", json={"note": "违规的话，不该出现在这里"}, headers=member.headers
    )
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (422, "CONTENT_RISKY")
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).get_json()["status"] == "claimed"


def test_a_fulfilment_note_to_review_is_kept_but_not_shown_publicly(app, client, person, staff, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    marked = wish_in("claimed", resident, member)
    plain = wish_in("claimed", resident, member, title="另一个心愿")
    for wish_id, note in ((marked, "这条待审的说明，请工作人员看看"), (plain, "已经上门把水龙头修好")):
        done = client.post(f"/api/v1/wishes/{wish_id}/fulfil", json={"note": note}, headers=member.headers)
        assert done.status_code == 200, done.get_json()
        confirm = {"rating": 5, "story_consent": True}
        client.post(f"/api/v1/wishes/{wish_id}/confirm", json=confirm, headers=resident.headers)

    for who in (resident.headers, member.headers, staff):  # the resident, its author and staff read it
        assert (
            client.get(f"/api/v1/wishes/{marked}", headers=who).get_json()["fulfil_note"]
            == "这条待审的说明，请工作人员看看"
        )
    review = client.get(f"/api/v1/wishes/{marked}", headers=staff).get_json()["review"]
    assert review["fulfil_note_check"] == "review"
    viewer = person("viewer").headers
    assert client.get(f"/api/v1/wishes/{marked}", headers=viewer).get_json()["fulfil_note"] is None
    stories = client.get("/api/v1/wishes/stories?org=D1").get_json()["items"]
    assert {s["id"]: s["fulfil_note"] for s in stories} == {marked: None, plain: "已经上门把水龙头修好"}
    wall = client.get("/api/v1/wishes?status=completed", headers=viewer).get_json()["items"]
    assert {w["id"]: w["fulfil_note"] for w in wall} == {marked: None, plain: "已经上门把水龙头修好"}


def _wechat_answers(app, monkeypatch, result: dict[str, Any]) -> None:
    """msg_sec_check's next answers are ``{"errcode": 0, "result": result}``, as WeChat might send them."""
    wechat = app.extensions["linli_wechat"]

    def answer(path, payload):
        response = requests.Response()
        response.status_code, response._content = 200, json.dumps({"errcode": 0, "result": result}).encode()
        return response

    monkeypatch.setattr(wechat, "_token_post", answer)


@pytest.mark.parametrize("label", [None, "abc", [21000]], ids=["null", "text", "list"])
def test_a_label_wechat_sends_as_null_or_not_a_number_is_left_out_and_suggest_decides(
    app, client, person, staff, monkeypatch, label
):
    resident = person("granny")
    _wechat_answers(app, monkeypatch, {"suggest": "pass", "label": label})
    posted = client.post("/api/v1/wishes", json=BODY, headers=resident.headers)
    assert posted.status_code == 201, posted.get_json()
    seen = client.get(f"/api/v1/wishes/{posted.get_json()['id']}", headers=staff).get_json()["review"]
    assert (seen["sec_check"], seen["sec_label"], seen["needs_review"]) == ("pass", None, False)


def _wish_row_locked(wish_id: int) -> bool:
    """Whether another transaction holds the wish row (FOR UPDATE NOWAIT from a connection of its own)."""
    with db.engine.connect() as connection:
        try:
            connection.execute(
                text("SELECT id FROM wishes WHERE id = :id FOR UPDATE NOWAIT"), {"id": wish_id}
            )
        except OperationalError:
            return True
        finally:
            connection.rollback()
        return False


@pytest.mark.postgres
@pytest.mark.parametrize("step", ["fulfil", "confirm"])
def test_wechat_checks_the_text_before_the_wish_row_is_locked(
    app, client, person, wish_in, monkeypatch, step
):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed" if step == "fulfil" else "fulfilled", resident, member)
    wechat = app.extensions["linli_wechat"]
    check, locked_during_check = wechat.msg_sec_check, []

    def watched(*args, **kwargs):
        locked_during_check.append(_wish_row_locked(wish_id))
        return check(*args, **kwargs)

    monkeypatch.setattr(wechat, "msg_sec_check", watched)
    who, body = (
        (member, {"note": FULFIL_NOTE}) if step == "fulfil" else (resident, {"rating": 5, "comment": "谢谢"})
    )
    response = client.post(f"/api/v1/wishes/{wish_id}/{step}", json=body, headers=who.headers)
    assert response.status_code == 200, response.get_json()
    assert locked_during_check == [False]


def test_a_risky_comment_is_refused_and_no_points_move(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    refused = client.post(
        f"/api/v1/wishes/{wish_id}/confirm",
        json={"rating": 5, "comment": "违规评价"},
        headers=resident.headers,
    )
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (422, "CONTENT_RISKY")
    assert _count(app, LedgerTransaction) == 0
    assert (
        client.get(f"/api/v1/wishes/{wish_id}", headers=resident.headers).get_json()["status"] == "fulfilled"
    )


def test_a_comment_to_review_is_kept_but_not_shown_publicly(app, client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    confirm = {"rating": 4, "comment": "这条待审的评价", "story_consent": True}
    assert (
        client.post(f"/api/v1/wishes/{wish_id}/confirm", json=confirm, headers=resident.headers).status_code
        == 200
    )
    own = client.get(f"/api/v1/wishes/{wish_id}", headers=resident.headers).get_json()
    assert own["comment"] == "这条待审的评价"
    by_claimer = client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).get_json()
    assert by_claimer["comment"] == "这条待审的评价"  # the two it is between, and staff
    public = client.get("/api/v1/wishes?status=completed", headers=person("viewer").headers).get_json()
    assert public["items"][0]["comment"] is None
    story = client.get("/api/v1/wishes/stories?org=D1").get_json()["items"][0]
    assert story["comment"] is None and story["rating"] == 4


def test_photos_are_attached_in_order_and_shown_with_their_urls(
    app, client, person, wish_in, post_wish, upload_photo
):
    resident, member = person("granny"), person("helper", serves="party")
    photos = [upload_photo(resident) for _ in range(2)]
    body = post_wish(resident, photos=list(reversed(photos)))
    assert [p["id"] for p in body["photos"]] == list(reversed(photos))
    assert all(p["url"].startswith("/files/") and p["kind"] == "wish" for p in body["photos"])
    image = client.get(body["photos"][0]["url"])
    assert image.status_code == 200 and image.mimetype == "image/png"

    wish_id = wish_in("claimed", resident, member, title="要照片的心愿")
    done_photo = upload_photo(member)
    fulfilled = client.post(
        f"/api/v1/wishes/{wish_id}/fulfil",
        json={"note": "送到了", "photos": [done_photo]},
        headers=member.headers,
    ).get_json()
    assert [(p["id"], p["kind"]) for p in fulfilled["photos"]] == [(done_photo, "fulfilment")]


def test_someone_elses_photo_or_too_many_photos_are_refused(app, client, person, upload_photo):
    resident, other = person("granny"), person("other")
    foreign = upload_photo(other)
    response = client.post("/api/v1/wishes", json={**BODY, "photos": [foreign]}, headers=resident.headers)
    assert (response.status_code, response.get_json()["error"]["code"]) == (422, "FILE_NOT_FOUND")
    mine = [upload_photo(resident) for _ in range(7)]
    seven = client.post("/api/v1/wishes", json={**BODY, "photos": mine}, headers=resident.headers)
    assert seven.status_code == 422
    assert _count(app, Wish) == 0 and _count(app, WishPhoto) == 0
