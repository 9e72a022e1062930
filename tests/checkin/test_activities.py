"""Stations, activities, sign-ups and screen codes (the check-in itself comes next)."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from checkin.models import Activity, Signup
from checkin.tokens import verify_token
from server import clock as app_clock
from server.db import db
from tests.conftest import bearer

HOURS = {"mon": [["08:30", "12:00"], ["14:00", "17:30"]], "sat": [["09:00", "11:00"]]}


@pytest.fixture
def staff_headers(make_staff, login_staff):
    return bearer(login_staff(make_staff(org="C1")))


def _activity(client, headers, org_tree, **changes):
    start = app_clock.now() + timedelta(days=1)
    body = {
        "community_id": org_tree["C1"].id,
        "title": "十一月主题党日",
        "kind": "party_day",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        "points_rule": "PARTY_DAY",
        **changes,
    }
    return client.post("/api/v1/activities", json=body, headers=headers)


def test_staff_add_a_station_with_opening_hours(client, staff_headers, org_tree, login_user):
    body = {
        "community_id": org_tree["C1"].id,
        "name": "党群服务中心",
        "address": "幸福路1号",
        "lat": 31.2304,
        "lng": 121.4737,
        "radius_m": 150,
        "opening_hours": HOURS,
    }
    response = client.post("/api/v1/stations", json=body, headers=staff_headers)
    assert response.status_code == 201
    assert response.get_json()["opening_hours"] == HOURS
    listed = client.get(f"/api/v1/stations?community_id={org_tree['C1'].id}", headers=bearer(login_user()))
    assert listed.get_json()["total"] == 1


@pytest.mark.parametrize(
    "hours",
    [
        {"monday": []},
        {"mon": [["08:30"]]},
        {"mon": [["17:30", "08:30"]]},
        {"mon": [["8:30", "9:00"]]},
        {"mon": "all day"},
    ],
)
def test_bad_opening_hours_are_refused(client, staff_headers, org_tree, hours):
    body = {"community_id": org_tree["C1"].id, "name": "驿站", "opening_hours": hours}
    response = client.post("/api/v1/stations", json=body, headers=staff_headers)
    assert (response.status_code, response.get_json()["error"]["code"]) == (422, "OPENING_HOURS_INVALID")


def test_staff_of_another_community_cannot_add_or_edit(
    client, make_staff, login_staff, org_tree, staff_headers
):
    other = bearer(login_staff(make_staff(org="C2")))
    assert (
        client.post(
            "/api/v1/stations", json={"community_id": org_tree["C1"].id, "name": "x"}, headers=other
        ).status_code
        == 403
    )
    created = _activity(client, staff_headers, org_tree).get_json()
    assert (
        client.patch(f"/api/v1/activities/{created['id']}", json={"title": "改"}, headers=other).status_code
        == 403
    )
    assert client.get(f"/api/v1/activities/{created['id']}/code", headers=other).status_code == 403


def test_an_activity_gets_a_default_check_in_window(client, staff_headers, org_tree):
    response = _activity(client, staff_headers, org_tree)
    assert response.status_code == 201
    body = response.get_json()
    assert body["checkin_opens_at"] < body["starts_at"]
    assert body["checkin_closes_at"] == body["ends_at"]
    assert body["starts_at"].endswith("+08:00")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"kind": "party"}, "VALIDATION_ERROR"),
        ({"points_rule": "NO_SUCH_RULE"}, "RULE_NOT_FOUND"),
        ({"geofence": True}, "GEOFENCE_NEEDS_LOCATION"),
        ({"capacity": 0}, "VALIDATION_ERROR"),
        ({"community_id": 999999}, "ORG_NOT_FOUND"),
    ],
)
def test_bad_activities_are_refused(client, staff_headers, org_tree, changes, code):
    response = _activity(client, staff_headers, org_tree, **changes)
    assert response.get_json()["error"]["code"] == code


def test_an_activity_must_end_after_it_starts(client, staff_headers, org_tree):
    start = app_clock.now() + timedelta(days=1)
    response = _activity(
        client,
        staff_headers,
        org_tree,
        ends_at=(start - timedelta(hours=1)).isoformat(),
        starts_at=start.isoformat(),
    )
    assert response.status_code == 422


def test_members_list_activities_of_a_period(client, staff_headers, org_tree, login_user):
    _activity(client, staff_headers, org_tree, title="明天")
    later = app_clock.now() + timedelta(days=10)
    _activity(
        client,
        staff_headers,
        org_tree,
        title="十天后",
        starts_at=later.isoformat(),
        ends_at=(later + timedelta(hours=1)).isoformat(),
    )
    member = bearer(login_user())
    until = (app_clock.now() + timedelta(days=3)).isoformat()
    page = client.get(
        "/api/v1/activities", query_string={"community_id": org_tree["C1"].id, "to": until}, headers=member
    ).get_json()
    assert [a["title"] for a in page["items"]] == ["明天"]
    assert (
        client.get(
            "/api/v1/activities", query_string={"community_id": org_tree["C1"].id}, headers=member
        ).get_json()["total"]
        == 2
    )


def test_signup_is_once_and_takes_a_place_when_required(app, client, staff_headers, org_tree, login_user):
    activity = _activity(client, staff_headers, org_tree, capacity=1, signup_required=True).get_json()
    first = login_user("a")
    response = client.post(f"/api/v1/activities/{activity['id']}/signup", headers=bearer(first))
    assert (response.status_code, response.get_json()["status"]) == (201, "signed_up")
    again = client.post(f"/api/v1/activities/{activity['id']}/signup", headers=bearer(first))
    assert again.status_code == 200
    full = client.post(f"/api/v1/activities/{activity['id']}/signup", headers=bearer(login_user("b")))
    assert (full.status_code, full.get_json()["error"]["code"]) == (409, "ACTIVITY_FULL")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Signup)) == 1
        assert db.session.get_one(Activity, activity["id"]).taken == 1
    shrink = client.patch(f"/api/v1/activities/{activity['id']}", json={"capacity": 1}, headers=staff_headers)
    assert shrink.status_code == 200


def test_signup_closes_when_the_activity_starts(app, client, staff_headers, org_tree, login_user):
    start = app_clock.now() - timedelta(minutes=5)
    activity = _activity(
        client,
        staff_headers,
        org_tree,
        starts_at=start.isoformat(),
        ends_at=(start + timedelta(hours=1)).isoformat(),
    ).get_json()
    response = client.post(f"/api/v1/activities/{activity['id']}/signup", headers=bearer(login_user()))
    assert (response.status_code, response.get_json()["error"]["code"]) == (409, "SIGNUP_CLOSED")


def test_screen_codes_verify_and_come_as_png(app, client, staff_headers, org_tree):
    activity = _activity(client, staff_headers, org_tree).get_json()
    code = client.get(f"/api/v1/activities/{activity['id']}/code", headers=staff_headers).get_json()
    with app.app_context():
        verified = verify_token(code["token"], ("activity",))
    assert (verified.kind, verified.target_id) == ("activity", activity["id"])
    image = client.get(f"/api/v1/activities/{activity['id']}/code?format=png", headers=staff_headers)
    assert image.mimetype == "image/png" and image.data.startswith(b"\x89PNG")
    assert image.headers["Cache-Control"] == "no-store"


@pytest.mark.postgres
def test_thirty_members_racing_for_ten_places_get_exactly_ten(
    app, client, staff_headers, org_tree, login_user
):
    activity = _activity(client, staff_headers, org_tree, capacity=10, signup_required=True).get_json()
    tokens = [login_user(f"racer{i}") for i in range(30)]
    statuses: list[int] = []
    barrier = threading.Barrier(30)

    def sign(token):
        racer = app.test_client()
        barrier.wait()
        statuses.append(
            racer.post(f"/api/v1/activities/{activity['id']}/signup", headers=bearer(token)).status_code
        )

    threads = [threading.Thread(target=sign, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201] * 10 + [409] * 20
    with app.app_context():
        assert db.session.get_one(Activity, activity["id"]).taken == 10
        assert db.session.scalar(select(func.count()).select_from(Signup)) == 10


def test_ids_beyond_the_integer_range_are_a_422_not_a_500(client, staff_headers, org_tree):
    # Found by the fuzz run: community and station ids no integer column holds reached PostgreSQL.
    assert client.get(f"/api/v1/stations?community_id={2**31}", headers=staff_headers).status_code == 422
    response = _activity(client, staff_headers, org_tree, station_id=2**40)
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["station_id"]


def test_times_out_of_range_are_a_422(client, staff_headers, org_tree):
    # Found by the fuzz run: an activity starting in 1237 was stored and answered with Shanghai's local
    # mean time offset of then (+08:05:43), which is no RFC 3339 date-time.
    response = _activity(client, staff_headers, org_tree, starts_at="1237-06-21T18:36:07+05:16")
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["error"]["details"]["fields"]) == ["starts_at"]


def test_coordinates_are_json_numbers_as_documented(client, staff_headers, org_tree):
    # Found by the fuzz run: lat/lng (Numeric columns) came out as strings ("31.230400"), the document
    # says numbers.
    body = {"community_id": org_tree["C1"].id, "name": "驿站", "lat": 31.2304, "lng": 121.4737}
    station = client.post("/api/v1/stations", json=body, headers=staff_headers).get_json()
    assert (station["lat"], station["lng"]) == (31.2304, 121.4737)
