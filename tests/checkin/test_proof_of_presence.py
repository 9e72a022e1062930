"""Points that can't be farmed from home (security review F1, F12): signed printed codes that staff allow,
no fence centre to residents, signals staff see and can void, check-out with proof, who may attend."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from checkin.models import CheckIn
from checkin.tokens import issue_token, printed_scene
from points.models import LedgerTransaction
from points.services import balance_of
from server.db import db
from tests.checkin.conftest import START
from tests.checkin.test_checkins import FAR, HERE, NEAR, _checkout, _scan
from tests.conftest import bearer


@pytest.fixture
def activity(client, staff, org_tree):
    """An activity of C1 from START (2 h) made through the API, with ``changes``."""

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


def _printed(client, tokens, scene, nonce, location=None):
    body = {"token": scene, "nonce": nonce}
    if location:
        body.update(lat=location[0], lng=location[1])
    return client.post("/api/v1/checkins", json=body, headers=bearer(tokens))


def _base36(number):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def _error(response):
    return response.status_code, response.get_json()["error"]["code"]


def _scene(app, kind, target_id, version=1):
    with app.app_context():
        return printed_scene(kind, target_id, version)


# --- printed codes ----------------------------------------------------------------------------------


def test_the_unsigned_printed_scene_of_the_review_checks_in_nowhere(app, client, clock, activity, login_user):
    # F1's reproduction: "pa<id>" computed from an id checked in from home with points.
    activity_id = activity(printed_code_allowed=True)
    member = login_user()
    unsigned = "pa" + _base36(activity_id)
    response = _printed(client, member, unsigned, "remote-0000001")
    assert _error(response) == (400, "TOKEN_INVALID")
    with app.app_context():
        assert db.session.scalars(select(CheckIn)).all() == []
        assert balance_of(member["user"]["id"]).available == 0


def test_a_signed_printed_code_counts_only_where_staff_allow_it(app, client, clock, activity, login_user):
    off = activity()
    response = _printed(client, login_user("a"), _scene(app, "activity", off), "printed-off-01")
    assert _error(response) == (400, "TOKEN_INVALID")
    assert response.get_json()["error"]["details"] == {"reason": "printed codes are off here"}


def test_a_printed_check_in_is_marked_printed_and_flagged_without_a_fence(
    app, client, clock, activity, login_user
):
    activity_id = activity(printed_code_allowed=True)
    response = _printed(client, login_user(), _scene(app, "activity", activity_id), "printed-ok-01")
    assert response.status_code == 201
    assert response.get_json()["source"] == "printed"
    with app.app_context():
        checkin = db.session.get_one(CheckIn, response.get_json()["id"])
        assert (checkin.source, checkin.flags) == ("printed", ["printed_no_fence"])


def test_a_printed_code_with_the_fence_on_still_needs_the_phone_nearby(
    app, client, clock, activity, login_user
):
    activity_id = activity(printed_code_allowed=True, geofence=True, lat=HERE[0], lng=HERE[1], radius_m=100)
    scene = _scene(app, "activity", activity_id)
    assert _error(_printed(client, login_user("a"), scene, "printed-far-01", FAR)) == (403, "OUT_OF_RANGE")
    near = _printed(client, login_user("b"), scene, "printed-near-1", NEAR)
    assert near.status_code == 201
    with app.app_context():
        assert db.session.get_one(CheckIn, near.get_json()["id"]).flags == []


def test_a_reprint_retires_every_old_poster(app, client, clock, staff, activity, login_user):
    activity_id = activity(printed_code_allowed=True)
    old = _scene(app, "activity", activity_id, 1)
    url = f"/api/v1/activities/{activity_id}/printed-code/reprint"
    first = client.post(url, json={"from_version": 1}, headers=staff)
    assert (first.status_code, first.get_json()["printed_version"]) == (200, 2)
    resent = client.post(url, json={"from_version": 1}, headers=staff)  # a resend: the same answer
    assert resent.get_json() == first.get_json()
    stale = client.post(url, json={"from_version": 5}, headers=staff)
    assert _error(stale) == (409, "PRINTED_VERSION_CHANGED")
    photo = _printed(client, login_user("a"), old, "printed-old-01")
    assert _error(photo) == (400, "TOKEN_INVALID")
    assert photo.get_json()["error"]["details"] == {"reason": "an old poster"}
    assert (
        _printed(
            client, login_user("b"), _scene(app, "activity", activity_id, 2), "printed-new-1"
        ).status_code
        == 201
    )
    poster = client.get(f"/api/v1/activities/{activity_id}/printed-code", headers=staff)
    assert poster.status_code == 200


def test_staff_of_another_community_cannot_reprint(client, activity, make_staff, login_staff):
    activity_id = activity(printed_code_allowed=True)
    other = bearer(login_staff(make_staff(org="C2")))
    response = client.post(
        f"/api/v1/activities/{activity_id}/printed-code/reprint", json={"from_version": 1}, headers=other
    )
    assert response.status_code == 403


def test_no_poster_is_printed_where_printed_codes_are_off(client, staff, activity, org_tree):
    activity_id = activity()
    assert _error(client.get(f"/api/v1/activities/{activity_id}/printed-code", headers=staff)) == (
        409,
        "PRINTED_CODE_OFF",
    )
    station = client.post(
        "/api/v1/stations", json={"community_id": org_tree["C1"].id, "name": "驿站"}, headers=staff
    ).get_json()
    assert (station["printed_code_allowed"], station["printed_version"]) == (False, 1)
    assert _error(client.get(f"/api/v1/stations/{station['id']}/printed-code", headers=staff)) == (
        409,
        "PRINTED_CODE_OFF",
    )


# --- no fence centre to residents ---------------------------------------------------------------------


def test_residents_learn_that_there_is_a_fence_but_not_where(
    client, staff, activity, org_tree, login_user, make_staff, login_staff
):
    activity_id = activity(geofence=True, lat=HERE[0], lng=HERE[1], radius_m=100)
    client.post(
        "/api/v1/stations",
        json={"community_id": org_tree["C1"].id, "name": "驿站", "lat": HERE[0], "lng": HERE[1]},
        headers=staff,
    )
    resident = bearer(login_user())
    other_staff = bearer(login_staff(make_staff(org="C2")))
    community = org_tree["C1"].id
    for caller in (resident, other_staff):
        one = client.get(f"/api/v1/activities/{activity_id}", headers=caller).get_json()
        listed = client.get(f"/api/v1/activities?community_id={community}", headers=caller).get_json()
        stations = client.get(f"/api/v1/stations?community_id={community}", headers=caller).get_json()
        for place in (one, listed["items"][0], stations["items"][0]):
            assert place["geofence"] is True
            assert not {"lat", "lng", "radius_m"} & set(place)
    own = client.get(f"/api/v1/activities/{activity_id}", headers=staff).get_json()
    assert (own["lat"], own["lng"], own["radius_m"]) == (HERE[0], HERE[1], 100)
    own_station = client.get(f"/api/v1/stations?community_id={community}", headers=staff).get_json()
    assert own_station["items"][0]["lat"] == HERE[0]


# --- signals staff see, and voiding --------------------------------------------------------------------


def test_a_check_in_without_a_location_where_the_place_has_one_is_flagged(
    app, client, clock, activity, login_user
):
    activity_id = activity(lat=HERE[0], lng=HERE[1], radius_m=100)  # located, no fence: not refused
    response = _scan(client, login_user(), activity_id, clock, "no-location-1")
    assert response.status_code == 201
    with app.app_context():
        assert db.session.get_one(CheckIn, response.get_json()["id"]).flags == ["no_location"]


def test_staff_void_a_false_check_in_and_its_points_go_back_once(
    app, client, clock, staff, activity, login_user, make_staff, login_staff
):
    activity_id = activity()
    member = login_user()
    checkin = _scan(client, member, activity_id, clock, "to-void-0001").get_json()
    assert checkin["points_awarded"] == 5
    url = f"/api/v1/checkins/{checkin['id']}/void"
    assert _error(client.post(url, json={"reason": "  "}, headers=staff)) == (422, "REASON_REQUIRED")
    other = bearer(login_staff(make_staff(org="C2")))
    assert client.post(url, json={"reason": "代签"}, headers=other).status_code == 403
    voided = client.post(url, json={"reason": "照片代签"}, headers=staff)
    assert voided.status_code == 200
    assert (voided.get_json()["status"], voided.get_json()["points_awarded"]) == ("voided", 0)
    again = client.post(url, json={"reason": "照片代签"}, headers=staff)
    assert again.get_json() == voided.get_json()
    with app.app_context():
        assert balance_of(member["user"]["id"]).available == 0
        reversals = db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.kind == "reverse"))
        [reversal] = reversals.all()
        assert (reversal.reason, reversal.actor_staff_id is not None) == ("签到作废：照片代签", True)
        row = db.session.get_one(CheckIn, checkin["id"])
        assert (row.void_reason, row.voided_by_id is not None) == ("照片代签", True)
        from checkin.services import checkin_counts

        assert checkin_counts([activity_id]) == {}  # no longer attendance (lists, screen, reports)
    summary = client.get(
        "/api/v1/reports/summary?org=C1&date_from=2026-12-01&date_to=2026-12-01", headers=staff
    )
    assert summary.get_json()["figures"]["checkins"] == 0  # the report sent upward no longer counts it
    # the member cannot check in again to the same activity
    assert _error(_scan(client, member, activity_id, clock, "to-void-0002")) == (409, "ALREADY_CHECKED_IN")


def test_a_check_in_whose_points_were_spent_is_not_voided(app, client, clock, staff, activity, login_user):
    activity_id = activity()
    member = login_user()
    checkin = _scan(client, member, activity_id, clock, "spent-void-01").get_json()
    with app.app_context():
        from points.services import hold

        assert hold(member["user"]["id"], 5, "spent-void-hold", ("redemption", 1)).moved
        db.session.commit()
    refused = client.post(f"/api/v1/checkins/{checkin['id']}/void", json={"reason": "代签"}, headers=staff)
    assert _error(refused) == (409, "INSUFFICIENT_POINTS")
    with app.app_context():
        assert db.session.get_one(CheckIn, checkin["id"]).status == "open"


# --- check-out proves presence too --------------------------------------------------------------------


def test_a_check_out_that_pays_hours_needs_the_places_current_code(app, client, clock, activity, login_user):
    activity_id = activity(kind="volunteer", points_rule="VOLUNTEER_HOUR", hours_count=True)
    elsewhere = activity(kind="volunteer", points_rule="VOLUNTEER_HOUR", hours_count=True, title="别处")
    member = login_user()
    checkin = _scan(client, member, activity_id, clock, "out-proof-001").get_json()
    clock.now = START + timedelta(hours=1)
    assert _error(_checkout(client, member, checkin["id"], "out-proof-002")) == (400, "TOKEN_REQUIRED")
    wrong = _checkout(client, member, checkin["id"], "out-proof-003", code=("activity", elsewhere))
    assert _error(wrong) == (400, "TOKEN_INVALID")
    with app.app_context():
        stale = issue_token("activity", activity_id, now=(clock.now - timedelta(minutes=5)).timestamp()).token
    response = client.post(
        f"/api/v1/checkins/{checkin['id']}/checkout",
        json={"nonce": "out-proof-004", "token": stale},
        headers=bearer(member),
    )
    assert _error(response) == (400, "TOKEN_EXPIRED")
    with app.app_context():
        assert db.session.get_one(CheckIn, checkin["id"]).status == "open"  # nothing closed on a refusal
    out = _checkout(client, member, checkin["id"], "out-proof-005", code=("activity", activity_id))
    assert (out.get_json()["status"], out.get_json()["minutes"], out.get_json()["points_awarded"]) == (
        "closed",
        60,
        2,
    )


def test_a_check_out_that_pays_nothing_needs_no_code(client, clock, activity, login_user):
    activity_id = activity()
    member = login_user()
    checkin = _scan(client, member, activity_id, clock, "plain-out-001").get_json()
    out = _checkout(client, member, checkin["id"], "plain-out-002")
    assert (out.status_code, out.get_json()["status"]) == (200, "closed")


# --- who may check in ------------------------------------------------------------------------------------


def test_a_party_day_takes_the_communitys_party_members_and_those_signed_up(
    client, clock, activity, login_user
):
    activity_id = activity()
    resident = login_user("not-a-member", party=False)
    assert _error(_scan(client, resident, activity_id, clock, "who-party-01")) == (403, "NOT_A_MEMBER")
    invited = login_user("invited", party=False)
    clock.now = START - timedelta(days=1)
    assert client.post(f"/api/v1/activities/{activity_id}/signup", headers=bearer(invited)).status_code == 201
    clock.now = START
    assert _scan(client, invited, activity_id, clock, "who-party-02").status_code == 201
    assert _scan(client, login_user("member"), activity_id, clock, "who-party-03").status_code == 201


def test_members_only_is_a_choice_for_other_kinds(client, clock, activity, login_user):
    members_only = activity(kind="meeting", points_rule="ACTIVITY_CHECKIN", members_only=True)
    anyone = activity(kind="meeting", points_rule="ACTIVITY_CHECKIN", title="居民议事会")
    resident = login_user("resident", party=False)
    assert _error(_scan(client, resident, members_only, clock, "who-only-001")) == (403, "NOT_A_MEMBER")
    assert _scan(client, resident, anyone, clock, "who-only-002").status_code == 201


def test_another_communitys_residents_only_where_staff_open_it_to_all(client, clock, activity, login_user):
    closed = activity(kind="volunteer", points_rule="ACTIVITY_CHECKIN")
    open_to_all = activity(kind="volunteer", points_rule="ACTIVITY_CHECKIN", open_to_all=True, title="开放")
    neighbour = login_user("from-c2", community="C2", party=False)
    refused = _scan(client, neighbour, closed, clock, "who-other-01")
    assert _error(refused) == (403, "OTHER_COMMUNITY")
    assert _scan(client, neighbour, open_to_all, clock, "who-other-02").status_code == 201
    clock.now = START - timedelta(days=1)
    signup = client.post(f"/api/v1/activities/{closed}/signup", headers=bearer(neighbour))
    assert _error(signup) == (403, "OTHER_COMMUNITY")


def test_a_party_member_reported_here_but_living_elsewhere_is_ours(
    app, client, clock, activity, login_user, org_tree
):
    activity_id = activity()
    member = login_user("in-service")
    with app.app_context():
        from server.users.models import User

        user = db.session.get_one(User, member["user"]["id"])
        user.community_id = org_tree["C2"].id  # lives in C2, reported (双报到) to C1
        db.session.commit()
    assert _scan(client, member, activity_id, clock, "who-report-01").status_code == 201


# --- staff scans are attributed (F12) ----------------------------------------------------------------


def test_a_staff_scan_records_the_staff_account_and_device(
    app, client, clock, staff, activity, login_user, monkeypatch
):
    activity_id = activity()
    member = login_user()
    monkeypatch.setattr("checkin.tokens.time.time", lambda: clock.now.timestamp())
    code = client.get("/api/v1/me/code", headers=bearer(member)).get_json()["token"]
    scanned = client.post(
        f"/api/v1/activities/{activity_id}/scans",
        json={"member_token": code, "nonce": "staff-who-01", "device_id": "desk-pad"},
        headers=staff,
    )
    assert scanned.status_code == 200
    with app.app_context():
        checkin = db.session.get_one(CheckIn, scanned.get_json()["checkin"]["id"])
        assert (checkin.source, checkin.device_id, checkin.staff_id is not None) == (
            "staff",
            "desk-pad",
            True,
        )
        award = db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.kind == "award")).one()
        assert award.actor_staff_id == checkin.staff_id


# --- a resend after the code went stale -------------------------------------------------------------


def test_a_resend_after_the_code_went_stale_gets_the_first_answer(client, clock, activity, login_user):
    # The replay is looked up before the code is judged (a mutation that dropped it survived before).
    activity_id = activity()
    member = login_user()
    with client.application.app_context():
        code = issue_token("activity", activity_id, now=clock.now.timestamp()).token
    first = client.post(
        "/api/v1/checkins", json={"token": code, "nonce": "stale-resend-1"}, headers=bearer(member)
    )
    assert first.status_code == 201
    clock.now = clock.now + timedelta(minutes=3)  # the answer was lost; the phone resends much later
    resent = client.post(
        "/api/v1/checkins", json={"token": code, "nonce": "stale-resend-1"}, headers=bearer(member)
    )
    assert (resent.status_code, resent.get_json()) == (200, first.get_json())
