"""Checking in and out: codes, windows, geo-fences, sign-ups, capacity, nonces, points once."""

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from checkin.models import CheckIn
from checkin.tokens import issue_token
from points.models import LedgerTransaction
from server.db import db
from tests.checkin.conftest import START
from tests.conftest import bearer

HERE = (31.230400, 121.473700)
NEAR = (31.230900, 121.473700)  # about 55 m north
FAR = (31.250000, 121.473700)  # about 2 km north


@pytest.fixture
def activity(client, staff, org_tree):
    """Make an activity of C1 starting at START (2 h long) through the API."""

    def make(**changes):
        body = {
            "community_id": org_tree["C1"].id,
            "title": "主题党日",
            "kind": "party_day",
            "starts_at": START.isoformat(),
            "ends_at": (START + timedelta(hours=2)).isoformat(),
            "points_rule": "PARTY_DAY",
            **changes,
        }
        response = client.post("/api/v1/activities", json=body, headers=staff)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    return make


def _scan(client, tokens, target, clock, nonce, kind="activity", at=None, location=None):
    # The code is made in an app context of its own: a request inside an outer app context would share
    # its `g` and session with the next request, which real requests never do.
    with client.application.app_context():
        code = issue_token(kind, target, now=(at or clock.now).timestamp()).token
    body = {"token": code, "nonce": nonce}
    if location:
        body.update(lat=location[0], lng=location[1])
    return client.post("/api/v1/checkins", json=body, headers=bearer(tokens))


def _checkout(client, tokens, checkin_id, nonce, code=None):
    """Check out, with the place's current code (``code``: ``(kind, id)`` of the place, at the clock)."""
    body: dict[str, Any] = {"nonce": nonce}
    if code is not None:
        with client.application.app_context():
            from server import clock

            body["token"] = issue_token(code[0], code[1], now=clock.now().timestamp()).token
    return client.post(f"/api/v1/checkins/{checkin_id}/checkout", json=body, headers=bearer(tokens))


def test_a_member_checks_in_once_and_gets_the_points(app, client, clock, activity, login_user):
    activity_id = activity()
    member = login_user("member")
    first = _scan(client, member, activity_id, clock, "nonce-0001")
    assert first.status_code == 201
    body = first.get_json()
    assert (body["status"], body["activity_id"], body["points_awarded"]) == ("open", activity_id, 5)
    repeat = _scan(client, member, activity_id, clock, "nonce-0001")
    other = _scan(client, member, activity_id, clock, "nonce-0002")
    assert (repeat.status_code, repeat.get_json()) == (200, body)
    assert (other.status_code, other.get_json()["error"]["code"]) == (409, "ALREADY_CHECKED_IN")
    assert other.get_json()["error"]["details"] == {"checkin_id": body["id"]}
    assert client.get("/api/v1/me/points", headers=bearer(member)).get_json()["available"] == 5
    assert client.get("/api/v1/me/checkins", headers=bearer(member)).get_json()["total"] == 1


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (timedelta(minutes=-31), 409),
        (timedelta(minutes=-29), 201),
        (timedelta(hours=2), 201),
        (timedelta(hours=2, seconds=1), 409),
    ],
    ids=["before-opening", "just-open", "at-the-end", "after-the-end"],
)
def test_the_check_in_window(app, client, clock, activity, login_user, offset, status):
    activity_id = activity()
    clock.now = START + offset
    response = _scan(client, login_user(), activity_id, clock, "nonce-window")
    assert response.status_code == status
    if status == 409:
        assert response.get_json()["error"]["code"] == "OUTSIDE_WINDOW"


def test_stale_and_forged_codes_are_refused(app, client, clock, activity, login_user):
    activity_id = activity()
    member = login_user()
    stale = _scan(client, member, activity_id, clock, "nonce-stale", at=clock.now - timedelta(minutes=2))
    with app.app_context():
        code = issue_token("activity", activity_id, now=clock.now.timestamp()).token
    assert (stale.status_code, stale.get_json()["error"]["code"]) == (400, "TOKEN_EXPIRED")
    forged = client.post(
        "/api/v1/checkins", json={"token": code[:-2] + "xx", "nonce": "nonce-forged"}, headers=bearer(member)
    )
    assert (forged.status_code, forged.get_json()["error"]["code"]) == (400, "TOKEN_INVALID")
    previous = _scan(client, member, activity_id, clock, "nonce-prev", at=clock.now - timedelta(seconds=30))
    assert previous.status_code == 201  # the previous window is still accepted
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 1


def test_the_geofence(app, client, clock, activity, login_user):
    activity_id = activity(geofence=True, lat=HERE[0], lng=HERE[1], radius_m=100)
    far = _scan(client, login_user("a"), activity_id, clock, "nonce-far", location=FAR)
    nowhere = _scan(client, login_user("b"), activity_id, clock, "nonce-none")
    near = _scan(client, login_user("c"), activity_id, clock, "nonce-near", location=NEAR)
    assert (far.status_code, far.get_json()["error"]["code"]) == (403, "OUT_OF_RANGE")
    # neither the distance nor the radius: three refusals with them would locate the fence's centre
    assert far.get_json()["error"]["details"] == {"reason": "too far"}
    assert nowhere.status_code == 403
    assert near.status_code == 201


def test_sign_up_first_when_required(app, client, clock, activity, login_user, monkeypatch):
    activity_id = activity(signup_required=True, capacity=5)
    member = login_user()
    refused = _scan(client, member, activity_id, clock, "nonce-nosign")
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "NOT_SIGNED_UP")
    clock.now = START - timedelta(days=1)
    assert client.post(f"/api/v1/activities/{activity_id}/signup", headers=bearer(member)).status_code == 201
    clock.now = START
    assert _scan(client, member, activity_id, clock, "nonce-signed").status_code == 201


def test_a_full_activity_refuses_the_next_member(app, client, clock, activity, login_user):
    activity_id = activity(capacity=1)
    assert _scan(client, login_user("a"), activity_id, clock, "nonce-first").status_code == 201
    full = _scan(client, login_user("b"), activity_id, clock, "nonce-second")
    assert (full.status_code, full.get_json()["error"]["code"]) == (409, "ACTIVITY_FULL"), full.get_json()


def test_hours_are_clamped_to_the_window_and_awarded_once(app, client, clock, activity, login_user):
    activity_id = activity(kind="volunteer", points_rule="VOLUNTEER_HOUR", hours_count=True)
    member = login_user()
    clock.now = START - timedelta(minutes=20)  # early: the window opened 10 minutes ago
    checkin = _scan(client, member, activity_id, clock, "nonce-hours").get_json()
    assert checkin["points_awarded"] == 0  # hours are paid at check-out
    clock.now = START + timedelta(hours=5)  # left long after the end: counted to the end only
    out = _checkout(client, member, checkin["id"], "nonce-out-1", code=("activity", activity_id))
    assert out.status_code == 200
    body = out.get_json()
    assert (body["status"], body["minutes"], body["points_awarded"]) == (
        "closed",
        140,
        4,
    )  # 2 h 20 → 2.25 h × 2
    again = _checkout(client, member, checkin["id"], "nonce-out-2")  # a resend, even without the code
    assert again.get_json() == body
    assert client.get("/api/v1/me/points", headers=bearer(member)).get_json()["available"] == 4
    stranger = client.post(
        f"/api/v1/checkins/{checkin['id']}/checkout",
        json={"nonce": "nonce-out-3"},
        headers=bearer(login_user("other")),
    )
    assert stranger.status_code == 404


def test_a_station_visit_is_one_open_visit_and_pays_duty_hours(
    app, client, clock, staff, org_tree, login_user
):
    station = client.post(
        "/api/v1/stations",
        json={
            "community_id": org_tree["C1"].id,
            "name": "服务驿站",
            "lat": HERE[0],
            "lng": HERE[1],
            "radius_m": 200,
            "opening_hours": {"tue": [["09:00", "17:00"]]},
        },
        headers=staff,
    ).get_json()
    member = login_user()
    visit = _scan(client, member, station["id"], clock, "nonce-st-1", kind="station", location=NEAR)
    twice = _scan(client, member, station["id"], clock, "nonce-st-2", kind="station", location=NEAR)
    assert visit.status_code == 201
    assert (twice.status_code, twice.get_json()["error"]["code"]) == (409, "ALREADY_CHECKED_IN")
    clock.now = START + timedelta(hours=1, minutes=50)
    out = _checkout(
        client, member, visit.get_json()["id"], "nonce-st-out", code=("station", station["id"])
    ).get_json()
    assert (out["minutes"], out["points_awarded"]) == (110, 3)  # 1 h 45 of duty at 2 per hour
    again = _scan(client, member, station["id"], clock, "nonce-st-4", kind="station", location=NEAR)
    assert again.status_code == 201  # a new visit once the last one closed
    clock.now = START + timedelta(days=1)  # Wednesday: the station is closed
    closed = _scan(
        client, login_user("late"), station["id"], clock, "nonce-st-5", kind="station", location=NEAR
    )
    assert (closed.status_code, closed.get_json()["error"]["code"]) == (409, "OUTSIDE_WINDOW")


@pytest.mark.postgres
def test_twenty_identical_submits_make_one_check_in_and_one_award(app, client, clock, activity, login_user):
    activity_id = activity()
    member = login_user()
    with app.app_context():
        code = issue_token("activity", activity_id, now=clock.now.timestamp()).token
    statuses: list[int] = []
    bodies: list[dict[str, Any]] = []
    barrier = threading.Barrier(20)

    def submit():
        racer = app.test_client()
        barrier.wait()
        response = racer.post(
            "/api/v1/checkins", json={"token": code, "nonce": "same-nonce-1"}, headers=bearer(member)
        )
        statuses.append(response.status_code)
        bodies.append(response.get_json())

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] * 19 + [201]
    assert len({body["id"] for body in bodies}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 1
        assert db.session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1


@pytest.mark.postgres
def test_thirty_members_racing_for_ten_places_check_in_exactly_ten(app, client, clock, activity, login_user):
    activity_id = activity(capacity=10)
    members = [login_user(f"m{i}") for i in range(30)]
    with app.app_context():
        code = issue_token("activity", activity_id, now=clock.now.timestamp()).token
    statuses: list[int] = []
    barrier = threading.Barrier(30)

    def submit(i):
        racer = app.test_client()
        barrier.wait()
        statuses.append(
            racer.post(
                "/api/v1/checkins",
                json={"token": code, "nonce": f"race-nonce-{i}"},
                headers=bearer(members[i]),
            ).status_code
        )

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201] * 10 + [409] * 20
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 10


def test_staff_scan_a_members_code_in_then_out(app, client, clock, activity, login_user, staff, monkeypatch):
    activity_id = activity(kind="volunteer", points_rule="VOLUNTEER_HOUR", hours_count=True)
    member = login_user()
    monkeypatch.setattr("checkin.tokens.time.time", lambda: clock.now.timestamp())
    code = client.get("/api/v1/me/code", headers=bearer(member)).get_json()
    scanned = client.post(
        f"/api/v1/activities/{activity_id}/scans",
        json={"member_token": code["token"], "nonce": "staff-scan-1"},
        headers=staff,
    )
    assert scanned.status_code == 200
    assert (scanned.get_json()["action"], scanned.get_json()["checkin"]["status"]) == ("in", "open")
    repeat = client.post(
        f"/api/v1/activities/{activity_id}/scans",
        json={"member_token": code["token"], "nonce": "staff-scan-1"},
        headers=staff,
    )
    assert repeat.get_json()["checkin"]["id"] == scanned.get_json()["checkin"]["id"]
    clock.now = START + timedelta(minutes=61)
    code = client.get("/api/v1/me/code", headers=bearer(member)).get_json()
    out = client.post(
        f"/api/v1/activities/{activity_id}/scans",
        json={"member_token": code["token"], "nonce": "staff-scan-2"},
        headers=staff,
    ).get_json()
    assert (out["action"], out["checkin"]["minutes"], out["checkin"]["points_awarded"]) == ("out", 61, 2)


def test_a_members_code_is_no_screen_code_and_goes_stale(
    app, client, clock, activity, login_user, staff, monkeypatch, make_staff, login_staff
):
    activity_id = activity()
    member = login_user()
    monkeypatch.setattr("checkin.tokens.time.time", lambda: clock.now.timestamp())
    code = client.get("/api/v1/me/code", headers=bearer(member)).get_json()["token"]
    as_screen = client.post(
        "/api/v1/checkins",
        json={"token": code, "nonce": "member-as-screen"},
        headers=bearer(login_user("friend")),
    )
    assert (as_screen.status_code, as_screen.get_json()["error"]["code"]) == (400, "TOKEN_INVALID")
    other_staff = bearer(login_staff(make_staff(org="C2")))
    forbidden = client.post(
        f"/api/v1/activities/{activity_id}/scans",
        json={"member_token": code, "nonce": "staff-scan-x"},
        headers=other_staff,
    )
    assert forbidden.status_code == 403
    clock.now = START + timedelta(minutes=3)
    stale = client.post(
        f"/api/v1/activities/{activity_id}/scans",
        json={"member_token": code, "nonce": "staff-scan-y"},
        headers=staff,
    )
    assert (stale.status_code, stale.get_json()["error"]["code"]) == (400, "TOKEN_EXPIRED")
