"""The wall, the detail page and the stories: masked names, and the contact only for those who need it."""

from datetime import timedelta

import pytest

from server import clock as app_clock
from server.db import db
from tests.conftest import bearer
from wishes.models import Wish


def _contact_of(client, wish_id, who_headers):
    return client.get(f"/api/v1/wishes/{wish_id}", headers=who_headers).get_json()["contact"]


def test_the_wall_masks_the_resident_and_shows_no_contact(client, person, post_wish, staff):
    resident = person("granny", nickname="陈秀英")
    wish_id = post_wish(resident, address="3号楼2单元501", contact_phone="13912345678")["id"]
    client.post(f"/api/v1/wishes/{wish_id}/approve", headers=staff)
    neighbour = person("neighbour")
    wall = client.get("/api/v1/wishes", headers=neighbour.headers)
    assert wall.status_code == 200
    [item] = wall.get_json()["items"]
    assert item["resident_name"] == "陈**"
    assert item["contact"] is None
    raw = wall.get_data(as_text=True)
    assert "13912345678" not in raw and "3号楼2单元501" not in raw and "陈秀英" not in raw
    detail = client.get(f"/api/v1/wishes/{wish_id}", headers=neighbour.headers)
    assert detail.get_json()["contact"] is None
    assert "13912345678" not in detail.get_data(as_text=True)


def test_the_claimer_the_resident_and_staff_see_the_contact(client, person, staff, wish_in):
    resident, member = person("granny", nickname="陈秀英"), person("helper", serves="party")
    wish_id = wish_in("open", resident, address="3号楼2单元501", contact_phone="13912345678")
    bystander = person("bystander", serves="party")
    assert _contact_of(client, wish_id, member.headers) is None  # not yet the claimer
    client.post(f"/api/v1/wishes/{wish_id}/claim", headers=member.headers)
    expected = {"name": "陈秀英", "phone": "13912345678", "address": "3号楼2单元501"}
    assert _contact_of(client, wish_id, member.headers) == expected
    assert _contact_of(client, wish_id, resident.headers) == expected
    assert _contact_of(client, wish_id, staff) == expected
    assert _contact_of(client, wish_id, bystander.headers) is None
    # Once the claim is given back, the former claimer no longer sees it.
    client.post(f"/api/v1/wishes/{wish_id}/unclaim", headers=member.headers)
    assert _contact_of(client, wish_id, member.headers) is None


def test_the_contact_defaults_to_the_residents_nickname(client, person, post_wish):
    resident = person("granny", nickname="王桂兰")
    body = post_wish(resident)
    assert body["contact"] == {"name": "王桂兰", "phone": None, "address": None}
    assert body["resident_name"] == "王**"


def test_the_wall_lists_open_wishes_of_the_community_newest_or_by_wanted_by(
    app, client, person, wish_in, post_wish, make_staff, login_staff
):
    resident = person("granny")
    today = app_clock.local_today()
    late = wish_in("open", resident, title="晚一些", wanted_by=(today + timedelta(days=20)).isoformat())
    soon = wish_in("open", resident, title="很急", wanted_by=(today + timedelta(days=2)).isoformat())
    undated = wish_in("open", resident, title="不急")
    wish_in("pending_review", resident, title="待审核")
    elsewhere = person("far", community="C3")
    far_wish = post_wish(elsewhere, title="别的社区")["id"]
    far_staff = bearer(login_staff(make_staff(org="C3")))
    assert client.post(f"/api/v1/wishes/{far_wish}/approve", headers=far_staff).status_code == 200
    viewer = person("viewer")
    newest = client.get("/api/v1/wishes", headers=viewer.headers).get_json()
    assert [w["id"] for w in newest["items"]] == [undated, soon, late]
    by_deadline = client.get("/api/v1/wishes?sort=deadline", headers=viewer.headers).get_json()
    assert [w["id"] for w in by_deadline["items"]] == [soon, late, undated]
    other = client.get(
        f"/api/v1/wishes?community_id={elsewhere_community(app, elsewhere)}", headers=viewer.headers
    )
    assert [w["title"] for w in other.get_json()["items"]] == ["别的社区"]


def elsewhere_community(app, who) -> int:
    from server.users.models import User

    with app.app_context():
        user = db.session.get(User, who.id)
        assert user is not None and user.community_id is not None
        return user.community_id


def test_the_wall_filters_by_category_and_status_but_hides_non_public_ones(client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    repair = wish_in("open", resident, title="修电视", category="家电维修")
    claimed = wish_in("claimed", resident, member, title="陪我看病", category="就医陪护")
    viewer = person("viewer")
    by_category = client.get("/api/v1/wishes?category=家电维修", headers=viewer.headers).get_json()
    assert [w["id"] for w in by_category["items"]] == [repair]
    taken = client.get("/api/v1/wishes?status=claimed", headers=viewer.headers).get_json()
    assert [(w["id"], w["claimed"]) for w in taken["items"]] == [(claimed, True)]
    assert taken["items"][0]["claimer_name"].endswith("*")  # masked on the wall
    hidden = client.get("/api/v1/wishes?status=pending_review", headers=viewer.headers)
    assert (hidden.status_code, hidden.get_json()["error"]["code"]) == (403, "WISH_STATUS_NOT_PUBLIC")


def test_a_user_without_a_community_must_choose_one(client, login_user):
    lonely = bearer(login_user("lonely"))
    response = client.get("/api/v1/wishes", headers=lonely)
    assert (response.status_code, response.get_json()["error"]["code"]) == (422, "COMMUNITY_REQUIRED")


def test_staff_list_every_status_of_their_communities_with_review_marks(client, person, staff, post_wish):
    resident = person("granny")
    plain = post_wish(resident, title="普通心愿")["id"]
    marked = post_wish(resident, title="需要人工审核", content="这段文字待审，请工作人员看看。")["id"]
    queue = client.get("/api/v1/wishes?status=pending_review", headers=staff).get_json()
    assert [w["id"] for w in queue["items"]] == [plain, marked]  # oldest first
    assert [w["review"]["needs_review"] for w in queue["items"]] == [False, True]
    assert queue["items"][1]["review"]["sec_check"] == "review"
    flagged = client.get("/api/v1/wishes?needs_review=true", headers=staff).get_json()
    assert [w["id"] for w in flagged["items"]] == [marked]
    assert queue["items"][0]["contact"] is not None


def test_stories_show_completed_wishes_with_consent_only(app, client, person, wish_in):
    resident, member = (
        person("granny", nickname="陈秀英"),
        person("helper", serves="party", nickname="李建国"),
    )
    shared = wish_in("fulfilled", resident, member, title="分享的心愿")
    private = wish_in("fulfilled", resident, member, title="不分享的心愿")
    client.post(
        f"/api/v1/wishes/{shared}/confirm",
        json={"rating": 5, "comment": "太感谢了", "story_consent": True},
        headers=resident.headers,
    )
    client.post(f"/api/v1/wishes/{private}/confirm", json={"rating": 3}, headers=resident.headers)
    community_id = elsewhere_community(app, resident)
    stories = client.get(f"/api/v1/wishes/stories?community_id={community_id}")  # no login needed
    assert stories.status_code == 200
    [story] = stories.get_json()["items"]
    assert story["id"] == shared
    assert (story["resident_name"], story["claimer_name"]) == ("陈**", "李**")
    assert (story["rating"], story["comment"]) == (5, "太感谢了")
    assert "contact" not in story
    by_org = client.get("/api/v1/wishes/stories?org=S1").get_json()
    assert [s["id"] for s in by_org["items"]] == [shared]
    # The resident can withdraw the story, and share the other one.
    client.put(f"/api/v1/wishes/{shared}/story", json={"consent": False}, headers=resident.headers)
    client.put(f"/api/v1/wishes/{private}/story", json={"consent": True}, headers=resident.headers)
    after = client.get(f"/api/v1/wishes/stories?community_id={community_id}").get_json()
    assert [s["id"] for s in after["items"]] == [private]
    assert client.get("/api/v1/wishes/stories").status_code == 422


def test_a_completed_wish_is_public_only_once_its_resident_shares_it(app, client, person, staff, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("fulfilled", resident, member)
    confirm = {"rating": 5, "comment": "谢谢小李", "story_consent": False}
    client.post(f"/api/v1/wishes/{wish_id}/confirm", json=confirm, headers=resident.headers)
    neighbour = person("neighbour")
    community_id = elsewhere_community(app, resident)
    wall = f"/api/v1/wishes?status=completed&community_id={community_id}"

    assert client.get(wall, headers=neighbour.headers).get_json() == {
        "items": [],
        "total": 0,
        "page": 1,
        "page_size": 20,
        "next_before_id": None,
    }
    hidden = client.get(f"/api/v1/wishes/{wish_id}", headers=neighbour.headers)
    assert (hidden.status_code, hidden.get_json()["error"]["code"]) == (404, "WISH_NOT_FOUND")
    for who in (resident.headers, member.headers, staff):  # those it is between still see it
        seen = client.get(f"/api/v1/wishes/{wish_id}", headers=who)
        assert (seen.status_code, seen.get_json()["comment"]) == (200, "谢谢小李")
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=member.headers).get_json()["contact"] is None
    assert client.get(wall, headers=staff).get_json()["total"] == 1

    client.put(f"/api/v1/wishes/{wish_id}/story", json={"consent": True}, headers=resident.headers)
    [shared] = client.get(wall, headers=neighbour.headers).get_json()["items"]
    assert (shared["id"], shared["rating"], shared["contact"]) == (wish_id, 5, None)
    assert client.get(f"/api/v1/wishes/{wish_id}", headers=neighbour.headers).status_code == 200


def test_claimed_and_fulfilled_wishes_are_listed_on_the_wall_without_contact(client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    claimed = wish_in("claimed", resident, member, contact_phone="13912345678", address="3号楼2单元501")
    fulfilled = wish_in("fulfilled", resident, member, title="已经做完的", contact_phone="13912345678")
    viewer = person("viewer").headers
    for status, wish_id in (("claimed", claimed), ("fulfilled", fulfilled)):
        listed = client.get(f"/api/v1/wishes?status={status}", headers=viewer)
        [item] = listed.get_json()["items"]
        assert (item["id"], item["contact"], item["claim_deadline"]) == (wish_id, None, None)
        assert "13912345678" not in listed.get_data(as_text=True)


def test_stories_carry_the_wish_and_fulfilment_photos(client, person, wish_in, upload_photo):
    resident, member = person("granny"), person("helper", serves="party")
    asked = upload_photo(resident)
    wish_id = wish_in("claimed", resident, member, photos=[asked])
    done = upload_photo(member)
    client.post(
        f"/api/v1/wishes/{wish_id}/fulfil", json={"note": "送到了", "photos": [done]}, headers=member.headers
    )
    confirm = {"rating": 5, "story_consent": True}
    client.post(f"/api/v1/wishes/{wish_id}/confirm", json=confirm, headers=resident.headers)

    [story] = client.get("/api/v1/wishes/stories?org=D1").get_json()["items"]
    assert [(p["id"], p["kind"]) for p in story["photos"]] == [(asked, "wish"), (done, "fulfilment")]
    for photo in story["photos"]:
        assert (photo["width"], photo["height"]) == (40, 30)
        assert client.get(photo["url"]).status_code == 200  # served without a login, like the story


def test_consent_is_only_for_completed_wishes_and_their_resident(client, person, wish_in):
    resident, member = person("granny"), person("helper", serves="party")
    wish_id = wish_in("claimed", resident, member)
    early = client.put(f"/api/v1/wishes/{wish_id}/story", json={"consent": True}, headers=resident.headers)
    assert early.status_code == 409
    by_member = client.put(f"/api/v1/wishes/{wish_id}/story", json={"consent": True}, headers=member.headers)
    assert by_member.status_code == 403


def test_categories_are_configurable(app, client):
    assert client.get("/api/v1/wishes/categories").get_json()["items"] == [
        "生活帮扶",
        "学习用品",
        "就医陪护",
        "家电维修",
        "文体娱乐",
        "其他",
    ]
    original = app.config["WISH_CATEGORIES"]
    app.config["WISH_CATEGORIES"] = "助老,助残"
    try:
        assert client.get("/api/v1/wishes/categories").get_json()["items"] == ["助老", "助残"]
    finally:
        app.config["WISH_CATEGORIES"] = original


def test_an_unknown_category_is_refused_and_nothing_is_written(app, client, person):
    resident = person("granny")
    body = {"title": "一个心愿", "content": "想请人帮忙做点事情。", "category": "不存在"}
    response = client.post("/api/v1/wishes", json=body, headers=resident.headers)
    assert (response.status_code, response.get_json()["error"]["code"]) == (422, "CATEGORY_UNKNOWN")
    with app.app_context():
        assert db.session.query(Wish).count() == 0


def test_ids_beyond_the_integer_range_are_a_422_not_a_500(client, person):
    # Found by the fuzz run: a community id of 10**30 in the body or the query reached PostgreSQL.
    resident = person("huge")
    body = {"title": "想请人修水龙头", "content": "厨房水龙头一直滴水。", "category": "生活帮扶"}
    cases: list[tuple[dict[str, object], str]] = [
        ({"community_id": 10**30}, "community_id"),
        ({"photos": [2**31]}, "photos"),
    ]
    for changes, field in cases:
        response = client.post("/api/v1/wishes", json={**body, **changes}, headers=resident.headers)
        assert response.status_code == 422, response.get_json()
        assert list(response.get_json()["error"]["details"]["fields"]) == [field]
    stories = client.get(f"/api/v1/wishes/stories?community_id={2**31}")
    assert stories.status_code == 422, stories.get_json()


def test_a_wanted_by_date_out_of_range_is_a_422(client, person):
    resident = person("ancient")
    body = {"title": "想请人修水龙头", "content": "厨房水龙头一直滴水。", "category": "生活帮扶"}
    response = client.post(
        "/api/v1/wishes", json={**body, "wanted_by": "0106-11-30"}, headers=resident.headers
    )
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["wanted_by"]


@pytest.mark.parametrize("field", ["title", "content"])
def test_a_blank_title_or_content_is_a_422_naming_the_field(app, client, person, field):
    resident = person("blank")
    body = {
        "title": "想请人修水龙头",
        "content": "厨房水龙头一直滴水。",
        "category": "生活帮扶",
        field: " \t\n　 ",
    }
    response = client.post("/api/v1/wishes", json=body, headers=resident.headers)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], list(error["details"]["fields"])) == ("VALIDATION_ERROR", [field])
    padded = client.post("/api/v1/wishes", json={**body, field: "  修  "}, headers=resident.headers)
    assert padded.status_code == 422  # the length rule counts what would be stored
    with app.app_context():
        assert db.session.query(Wish).count() == 0


def test_a_resident_posts_only_into_their_own_community(app, client, person, org_tree):
    resident = person("granny", community="C1")
    body = {"title": "想请人修水龙头", "content": "厨房水龙头一直滴水。", "category": "生活帮扶"}
    elsewhere = client.post(
        "/api/v1/wishes", json={**body, "community_id": org_tree["C3"].id}, headers=resident.headers
    )
    assert elsewhere.status_code == 403
    assert elsewhere.get_json()["error"] == {
        "code": "WISH_OTHER_COMMUNITY",
        "message": "只能在您所在的社区发布心愿",
        "details": {"community_id": org_tree["C1"].id},
    }
    with app.app_context():
        assert db.session.query(Wish).count() == 0
    own = client.post(
        "/api/v1/wishes", json={**body, "community_id": org_tree["C1"].id}, headers=resident.headers
    )
    assert (own.status_code, own.get_json()["community_id"]) == (201, org_tree["C1"].id)


def _statements_of(app, call):
    from sqlalchemy import event

    sent = []

    def count(*args):
        sent.append(args[2])

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = call()
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.get_json()
    return len(sent)


def test_a_page_of_the_wall_costs_the_same_queries_whatever_its_length(
    app, client, person, wish_in, upload_photo
):
    # Photos and their files, residents and claimers of a page are loaded together, not per wish (N+1).
    reader = person("reader")
    few = _statements_of(app, lambda: client.get("/api/v1/wishes", headers=reader.headers))
    for n in range(6):
        resident = person(f"resident{n}", nickname=f"居民{n}")
        wish_in("open", resident, photos=[upload_photo(resident)])
    many = _statements_of(app, lambda: client.get("/api/v1/wishes", headers=reader.headers))
    listed = client.get("/api/v1/wishes", headers=reader.headers).get_json()["items"]
    assert len(listed) == 6 and all(item["photos"] for item in listed)
    assert many - few <= 4, (few, many)  # the four eager loads, which an empty page does not need
