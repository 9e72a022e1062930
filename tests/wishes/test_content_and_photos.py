"""WeChat's content check on what residents and members write, and photos attached to wishes."""

import io

from PIL import Image
from sqlalchemy import func, select

from points.models import LedgerTransaction
from server.db import db
from wishes.models import Wish, WishPhoto

BODY = {"title": "想请人帮忙", "content": "家里有点事情想请邻居帮忙。", "category": "生活帮扶"}


def _count(app, model) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _upload(client, who) -> int:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(buffer, format="PNG")
    response = client.post(
        "/api/v1/files",
        data={"file": (io.BytesIO(buffer.getvalue()), "photo.png", "image/png")},
        headers=who.headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    file_id: int = response.get_json()["id"]
    return file_id


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
        f"/api/v1/wishes/{wish_id}/fulfil", json={"note": "违规的话"}, headers=member.headers
    )
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (422, "CONTENT_RISKY")
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).get_json()["status"] == "claimed"


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
    public = client.get("/api/v1/wishes?status=completed", headers=person("viewer").headers).get_json()
    assert public["items"][0]["comment"] is None
    story = client.get("/api/v1/wishes/stories?org=D1").get_json()["items"][0]
    assert story["comment"] is None and story["rating"] == 4


def test_photos_are_attached_in_order_and_shown_with_their_urls(app, client, person, wish_in, post_wish):
    resident, member = person("granny"), person("helper", serves="party")
    photos = [_upload(client, resident) for _ in range(2)]
    body = post_wish(resident, photos=list(reversed(photos)))
    assert [p["id"] for p in body["photos"]] == list(reversed(photos))
    assert all(p["url"].startswith("/files/") and p["kind"] == "wish" for p in body["photos"])
    image = client.get(body["photos"][0]["url"])
    assert image.status_code == 200 and image.mimetype == "image/png"

    wish_id = wish_in("claimed", resident, member, title="要照片的心愿")
    done_photo = _upload(client, member)
    fulfilled = client.post(
        f"/api/v1/wishes/{wish_id}/fulfil",
        json={"note": "送到了", "photos": [done_photo]},
        headers=member.headers,
    ).get_json()
    assert [(p["id"], p["kind"]) for p in fulfilled["photos"]] == [(done_photo, "fulfilment")]


def test_someone_elses_photo_or_too_many_photos_are_refused(app, client, person):
    resident, other = person("granny"), person("other")
    foreign = _upload(client, other)
    response = client.post("/api/v1/wishes", json={**BODY, "photos": [foreign]}, headers=resident.headers)
    assert (response.status_code, response.get_json()["error"]["code"]) == (422, "FILE_NOT_FOUND")
    mine = [_upload(client, resident) for _ in range(7)]
    seven = client.post("/api/v1/wishes", json={**BODY, "photos": mine}, headers=resident.headers)
    assert seven.status_code == 422
    assert _count(app, Wish) == 0 and _count(app, WishPhoto) == 0
