"""What a member's phone shows of activities: my sign-up and check-in on each, cancelling a sign-up,
my sign-ups, and where each of my check-ins was."""

from datetime import timedelta

import pytest

from checkin.models import Activity, Signup
from checkin.tokens import issue_token
from server.db import db
from tests.checkin.conftest import START
from tests.conftest import bearer
from tests.races import race

OPEN = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def activity(client, staff, org_tree):
    """Make an activity of C1 (by default tomorrow, 2 h long) through the API; its id."""

    def make(start=START + timedelta(days=1), **changes):
        body = {
            "community_id": org_tree["C1"].id,
            "title": "主题党日",
            "kind": "party_day",
            "place": "党群服务中心二楼",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "points_rule": "PARTY_DAY",
            **changes,
        }
        response = client.post("/api/v1/activities", json=body, headers=staff)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    return make


def _check_in(client, tokens, kind, target, nonce):
    with client.application.app_context():
        from server import clock

        code = issue_token(kind, target, now=clock.now().timestamp()).token
    return client.post("/api/v1/checkins", json={"token": code, "nonce": nonce}, headers=bearer(tokens))


def _signup(client, tokens, activity_id):
    return client.post(f"/api/v1/activities/{activity_id}/signup", headers=bearer(tokens))


def _cancel(client, tokens, activity_id):
    return client.delete(f"/api/v1/activities/{activity_id}/signup", headers=bearer(tokens))


def _taken(app, activity_id):
    with app.app_context():
        return db.session.get_one(Activity, activity_id).taken


def test_an_activity_shows_my_sign_up_and_my_check_in(client, clock, activity, login_user, staff):
    today = activity(start=START)
    tomorrow = activity()
    member, other = login_user("member"), login_user("other")
    assert _signup(client, member, tomorrow).status_code == 201
    checked_in = _check_in(client, member, "activity", today, "nonce-mine-1").get_json()

    mine = client.get(f"/api/v1/activities/{tomorrow}", headers=bearer(member)).get_json()
    assert mine["my_signup"]["status"] == "signed_up"
    assert mine["my_signup"]["created_at"].endswith("+08:00")
    assert mine["my_checkin"] is None
    listed = client.get("/api/v1/activities", headers=bearer(member)).get_json()["items"]
    by_id = {item["id"]: item for item in listed}
    assert by_id[today]["my_checkin"] == {"id": checked_in["id"], "status": "open"}
    assert by_id[today]["my_signup"] is None

    theirs = client.get(f"/api/v1/activities/{tomorrow}", headers=bearer(other)).get_json()
    assert (theirs["my_signup"], theirs["my_checkin"]) == (None, None)
    staff_view = client.get(f"/api/v1/activities/{today}", headers=staff).get_json()
    assert (staff_view["my_signup"], staff_view["my_checkin"]) == (None, None)


def test_cancelling_frees_the_place_and_a_resend_answers_the_same(app, client, clock, activity, login_user):
    activity_id = activity(capacity=1, signup_required=True)
    first, second = login_user("first"), login_user("second")
    assert _signup(client, first, activity_id).status_code == 201
    assert _signup(client, second, activity_id).get_json()["error"]["code"] == "ACTIVITY_FULL"

    assert _cancel(client, first, activity_id).status_code == 204
    assert _taken(app, activity_id) == 0
    resent = _cancel(client, first, activity_id)
    assert (resent.status_code, resent.data) == (204, b"")
    assert _taken(app, activity_id) == 0
    assert _signup(client, second, activity_id).status_code == 201
    assert _taken(app, activity_id) == 1
    shown = client.get(f"/api/v1/activities/{activity_id}", headers=bearer(first)).get_json()
    assert shown["my_signup"] is None


def test_cancelling_frees_only_the_place_the_sign_up_took(app, client, clock, activity, login_user, staff):
    activity_id = activity(capacity=5, signup_required=True)
    early, late = login_user("early"), login_user("late")
    assert _signup(client, early, activity_id).status_code == 201
    # Staff drop the sign-up requirement: places are now taken by checking in, not by signing up.
    changed = client.patch(
        f"/api/v1/activities/{activity_id}", json={"signup_required": False}, headers=staff
    )
    assert changed.status_code == 200
    assert _signup(client, late, activity_id).status_code == 201
    assert _taken(app, activity_id) == 1

    assert _cancel(client, late, activity_id).status_code == 204
    assert _taken(app, activity_id) == 1
    assert _cancel(client, early, activity_id).status_code == 204
    assert _taken(app, activity_id) == 0


def test_a_sign_up_cannot_be_cancelled_once_the_activity_started(client, clock, activity, login_user):
    activity_id = activity(start=START + timedelta(hours=1))
    member = login_user()
    assert _signup(client, member, activity_id).status_code == 201
    clock.now = START + timedelta(hours=1, minutes=1)
    refused = _cancel(client, member, activity_id)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "CANCEL_CLOSED")
    assert refused.get_json()["error"]["message"] == "活动已开始，不能再取消报名"


def test_a_sign_up_cannot_be_cancelled_after_checking_in(app, client, clock, activity, login_user):
    # Check-in opens 30 minutes before the start: one can be present and still before it.
    activity_id = activity(start=START + timedelta(minutes=20), capacity=3, signup_required=True)
    member = login_user()
    assert _signup(client, member, activity_id).status_code == 201
    checked_in = _check_in(client, member, "activity", activity_id, "nonce-early-1").get_json()
    refused = _cancel(client, member, activity_id)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (409, "ALREADY_CHECKED_IN")
    assert refused.get_json()["error"]["details"] == {"checkin_id": checked_in["id"]}
    assert _taken(app, activity_id) == 1


def test_a_member_cancels_only_their_own_sign_up(app, client, clock, activity, login_user):
    activity_id = activity(capacity=3, signup_required=True)
    member, other = login_user("member"), login_user("other")
    assert _signup(client, member, activity_id).status_code == 201
    assert _cancel(client, other, activity_id).status_code == 204
    assert _taken(app, activity_id) == 1
    with app.app_context():
        assert db.session.query(Signup).filter_by(activity_id=activity_id).count() == 1
    missing = _cancel(client, member, 987654)
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "ACTIVITY_NOT_FOUND")


def test_my_sign_ups_upcoming_soonest_first_and_past_latest_first(client, clock, activity, login_user, staff):
    member = login_user()
    later = activity(start=START + timedelta(days=3), title="三天后")
    sooner = activity(start=START + timedelta(days=1), title="明天")
    activity(start=START + timedelta(days=2), title="没报名")
    for activity_id in (later, sooner):
        assert _signup(client, member, activity_id).status_code == 201
    upcoming = client.get("/api/v1/me/signups", headers=bearer(member)).get_json()
    assert [item["title"] for item in upcoming["items"]] == ["明天", "三天后"]
    assert upcoming["total"] == 2
    assert all(item["my_signup"]["status"] == "signed_up" for item in upcoming["items"])
    assert upcoming["items"][0]["cancelled_at"] is None

    clock.now = START + timedelta(days=5)
    past = client.get("/api/v1/me/signups?when=past", headers=bearer(member)).get_json()
    assert [item["title"] for item in past["items"]] == ["三天后", "明天"]
    assert client.get("/api/v1/me/signups", headers=bearer(member)).get_json()["total"] == 0
    bad = client.get("/api/v1/me/signups?when=soon", headers=bearer(member))
    assert (bad.status_code, bad.get_json()["error"]["code"]) == (422, "VALIDATION_ERROR")


def test_my_check_ins_say_what_and_where(client, clock, activity, login_user, staff, org_tree):
    station = client.post(
        "/api/v1/stations",
        json={
            "community_id": org_tree["C1"].id,
            "name": "幸福驿站",
            "address": "幸福路8号",
            "opening_hours": OPEN,
        },
        headers=staff,
    ).get_json()
    activity_id = activity(start=START, title="十二月主题党日")
    member = login_user()
    answer = _check_in(client, member, "activity", activity_id, "nonce-where-1").get_json()
    assert (answer["title"], answer["place"]) == ("十二月主题党日", "党群服务中心二楼")
    assert _check_in(client, member, "station", station["id"], "nonce-where-2").status_code == 201

    rows = client.get("/api/v1/me/checkins", headers=bearer(member)).get_json()["items"]
    assert [(row["title"], row["place"]) for row in rows] == [
        ("幸福驿站", "幸福路8号"),
        ("十二月主题党日", "党群服务中心二楼"),
    ]


def test_an_activity_at_a_station_without_a_place_of_its_own_shows_the_station(
    client, clock, activity, login_user, staff, org_tree
):
    station = client.post(
        "/api/v1/stations",
        json={"community_id": org_tree["C1"].id, "name": "党群服务中心", "address": "和平路1号"},
        headers=staff,
    ).get_json()
    activity_id = activity(start=START, place="", station_id=station["id"])
    answer = _check_in(client, login_user(), "activity", activity_id, "nonce-where-3").get_json()
    assert answer["place"] == "和平路1号"


@pytest.mark.postgres
def test_four_racing_cancels_of_one_sign_up_free_one_place(app, client, clock, activity, login_user):
    activity_id = activity(capacity=3, signup_required=True)
    member, other = login_user("member"), login_user("other")
    for tokens in (member, other):
        assert _signup(client, tokens, activity_id).status_code == 201

    def cancel():
        return app.test_client().delete(f"/api/v1/activities/{activity_id}/signup", headers=bearer(member))

    statuses = [response.status_code for response in race([cancel] * 4)]
    assert statuses == [204] * 4
    assert _taken(app, activity_id) == 1


def test_my_check_ins_scroll_by_before_id(client, clock, activity, login_user):
    member = login_user()
    ids = []
    for day in range(3):
        activity_id = activity(start=START + timedelta(days=day), title=f"第{day + 1}次")
        clock.now = START + timedelta(days=day)
        ids.append(_check_in(client, member, "activity", activity_id, f"nonce-scroll-{day}").get_json()["id"])
    first = client.get("/api/v1/me/checkins?page_size=2", headers=bearer(member)).get_json()
    assert [row["id"] for row in first["items"]] == [ids[2], ids[1]]
    rest = client.get(
        f"/api/v1/me/checkins?page_size=2&before_id={first['next_before_id']}", headers=bearer(member)
    ).get_json()
    assert ([row["id"] for row in rest["items"]], rest["next_before_id"], rest["total"]) == (
        [ids[0]],
        None,
        3,
    )
