"""Coordinates as phones send them: places are GCJ-02, a WGS-84 fix (wx.getLocation's default) says so
and is converted before the fence, the fix's accuracy buys at most 100 m, no fix is LOCATION_REQUIRED."""

from datetime import timedelta

import coordTransform
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from checkin.checkins import distance_m
from checkin.geo import as_gcj02
from checkin.models import CheckIn
from checkin.tokens import issue_token
from server.db import db
from tests.checkin.conftest import START
from tests.conftest import bearer

# The demo station, as a Chinese map picker gives it (GCJ-02).
STATION = (31.2304, 121.4737)
_wgs_lng, _wgs_lat = coordTransform.gcj02_to_wgs84(STATION[1], STATION[0])
DOOR_WGS84 = (_wgs_lat, _wgs_lng)  # what wx.getLocation() reports at the door, by default


@pytest.fixture
def station(client, staff, org_tree):
    """A station of C1 at the demo's coordinates with a 200 m fence, open on START's weekday."""
    response = client.post(
        "/api/v1/stations",
        json={
            "community_id": org_tree["C1"].id,
            "name": "党群服务中心",
            "lat": STATION[0],
            "lng": STATION[1],
            "radius_m": 200,
            "opening_hours": {"tue": [["09:00", "17:00"]]},
        },
        headers=staff,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _check_in(client, member, station_id, clock, nonce, **location):
    with client.application.app_context():
        token = issue_token("station", station_id, now=clock.now.timestamp()).token
    return client.post(
        "/api/v1/checkins", json={"token": token, "nonce": nonce, **location}, headers=bearer(member)
    )


def _error(response):
    return response.status_code, response.get_json()["error"]["code"]


def test_the_two_datums_lie_481_m_apart_at_the_demo_station():
    assert distance_m(*STATION, *DOOR_WGS84) == pytest.approx(481, abs=1)


def test_the_published_reference_points_convert_to_the_centimetre():
    # wandergis/coordtransform's test/app.js (also hutool's CoordinateUtilTest): (lng 116.404, lat 39.915)
    lat, lng = as_gcj02(39.915, 116.404, "wgs84")
    assert distance_m(lat, lng, 39.91640428150164, 116.41024449916938) < 0.01  # type: ignore[arg-type]
    back_lng, back_lat = coordTransform.gcj02_to_wgs84(116.404, 39.915)
    assert distance_m(back_lat, back_lng, 39.91359571849836, 116.39775550083061) < 0.01


def test_outside_china_both_datums_agree():
    assert as_gcj02(48.8566, 2.3522, "wgs84") == (48.8566, 2.3522)


@settings(max_examples=200, deadline=None)
@given(lat=st.floats(18.2, 53.5), lng=st.floats(73.7, 134.7))
def test_converting_moves_a_fix_in_china_by_less_than_a_kilometre_and_back(lat, lng):
    gcj_lat, gcj_lng = as_gcj02(lat, lng, "wgs84")
    assert gcj_lat is not None and gcj_lng is not None
    assert distance_m(lat, lng, gcj_lat, gcj_lng) < 1_000
    back_lng, back_lat = coordTransform.gcj02_to_wgs84(gcj_lng, gcj_lat)
    assert distance_m(lat, lng, back_lat, back_lng) < 5


def test_a_wgs84_fix_at_the_door_passes_when_labelled(app, client, clock, station, login_user):
    labelled = _check_in(
        client,
        login_user("a"),
        station,
        clock,
        "nonce-wgs-ok",
        lat=DOOR_WGS84[0],
        lng=DOOR_WGS84[1],
        coord_type="wgs84",
    )
    assert labelled.status_code == 201, labelled.get_json()
    with app.app_context():
        stored = db.session.scalar(select(CheckIn).where(CheckIn.id == labelled.get_json()["id"]))
        assert stored is not None and stored.lat is not None and stored.lng is not None
        # stored in the places' datum, so staff's map and the fraud signals agree with the fence
        assert distance_m(float(stored.lat), float(stored.lng), *STATION) < 5
        assert "far_away" not in stored.flags


def test_the_same_numbers_labelled_gcj02_are_481_m_off(client, clock, station, login_user):
    unlabelled = _check_in(
        client, login_user("b"), station, clock, "nonce-wgs-no", lat=DOOR_WGS84[0], lng=DOOR_WGS84[1]
    )
    assert _error(unlabelled) == (403, "OUT_OF_RANGE")


def test_a_gcj02_fix_passes_as_sent(client, clock, station, login_user):
    fix = _check_in(
        client,
        login_user("c"),
        station,
        clock,
        "nonce-gcj-ok",
        lat=STATION[0],
        lng=STATION[1],
        coord_type="gcj02",
    )
    assert fix.status_code == 201


def _north(metres):
    return STATION[0] + metres / 111_195, STATION[1]


@pytest.mark.parametrize(
    ("away_m", "accuracy", "status"),
    [
        (250, None, 403),  # 50 m outside a 200 m fence, no accuracy: refused
        (250, 30, 403),  # 30 m of error does not cover 50 m
        (250, 60, 201),  # 60 m does
        (290, 100, 201),  # 100 m of slack at most ...
        (320, 500, 403),  # ... however poor the fix: a fix of 500 m gets 100, not 500
    ],
)
def test_the_fix_accuracy_buys_at_most_100_m(client, clock, station, login_user, away_m, accuracy, status):
    lat, lng = _north(away_m)
    body = {"lat": lat, "lng": lng}
    if accuracy is not None:
        body["accuracy"] = accuracy
    response = _check_in(
        client, login_user(f"acc{away_m}{accuracy}"), station, clock, f"nonce-acc-{away_m}-{accuracy}", **body
    )
    assert response.status_code == status, response.get_json()


def test_no_fix_where_one_is_required_is_location_required(client, clock, station, login_user):
    response = _check_in(client, login_user("d"), station, clock, "nonce-nofix")
    assert _error(response) == (403, "LOCATION_REQUIRED")
    assert "位置" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("bad", [{"coord_type": "bd09"}, {"accuracy": -1}, {"accuracy": "near"}])
def test_an_unknown_datum_or_a_bad_accuracy_is_a_validation_error(
    app, client, clock, station, login_user, bad
):
    response = _check_in(
        client, login_user("e"), station, clock, "nonce-bad-1", lat=STATION[0], lng=STATION[1], **bad
    )
    assert _error(response) == (422, "VALIDATION_ERROR")
    with app.app_context():
        assert db.session.scalar(select(CheckIn.id)) is None


def test_check_out_takes_the_same_location_body_and_ignores_it(client, clock, station, login_user):
    member = login_user("f")
    visit = _check_in(
        client,
        member,
        station,
        clock,
        "nonce-out-1",
        lat=DOOR_WGS84[0],
        lng=DOOR_WGS84[1],
        coord_type="wgs84",
    )
    assert visit.status_code == 201
    clock.now = START + timedelta(hours=1)
    with client.application.app_context():
        token = issue_token("station", station, now=clock.now.timestamp()).token
    out = client.post(
        f"/api/v1/checkins/{visit.get_json()['id']}/checkout",
        json={
            "token": token,
            "nonce": "nonce-out-2",
            "lat": 1.0,
            "lng": 2.0,
            "coord_type": "wgs84",
            "accuracy": 15,
        },
        headers=bearer(member),
    )
    assert out.status_code == 200, out.get_json()
    assert out.get_json()["status"] == "closed"
