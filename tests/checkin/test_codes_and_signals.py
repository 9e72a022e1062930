"""Printed codes, fraud signals and the demo data of check-in."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from checkin.models import Activity, CheckIn, Station
from checkin.tokens import printed_scene
from server.db import db
from tests.checkin.conftest import START
from tests.checkin.test_checkins import FAR, HERE, _scan
from tests.conftest import bearer


@pytest.fixture
def activity_id(client, staff, org_tree):
    body = {
        "community_id": org_tree["C1"].id,
        "title": "主题党日",
        "kind": "party_day",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "points_rule": "PARTY_DAY",
        "lat": HERE[0],
        "lng": HERE[1],
        "radius_m": 100,
        "printed_code_allowed": True,
    }
    return client.post("/api/v1/activities", json=body, headers=staff).get_json()["id"]


def test_the_printed_code_is_a_mini_program_code(app, client, staff, activity_id, wechat_fake):
    response = client.get(f"/api/v1/activities/{activity_id}/printed-code", headers=staff)
    assert (response.status_code, response.mimetype) == (200, "image/png")
    assert response.headers["X-Linli-Code"] == "wxacode"
    assert wechat_fake.state.calls["/wxa/getwxacodeunlimit"] == 1


def test_without_wechat_the_printed_code_falls_back_to_a_plain_qr(
    app, client, staff, activity_id, wechat_fake
):
    assert wechat_fake.control("fail", path="/wxa/getwxacodeunlimit", times=1, status=502).ok
    response = client.get(f"/api/v1/activities/{activity_id}/printed-code", headers=staff)
    assert (response.status_code, response.headers["X-Linli-Code"]) == (200, "qrcode")
    assert response.data.startswith(b"\x89PNG")
    app.config["CHECKIN_PRINTED_CODE"] = "wxacode"
    try:
        assert wechat_fake.control("fail", path="/wxa/getwxacodeunlimit", times=1, status=502).ok
        strict = client.get(f"/api/v1/activities/{activity_id}/printed-code", headers=staff)
        assert (strict.status_code, strict.get_json()["error"]["code"]) == (503, "WECHAT_UNAVAILABLE")
    finally:
        app.config["CHECKIN_PRINTED_CODE"] = "auto"


def test_a_printed_code_checks_in_inside_the_window_only(app, client, clock, activity_id, login_user):
    member = login_user()
    with app.app_context():
        scene = printed_scene("activity", activity_id, 1)
    ok = client.post("/api/v1/checkins", json={"token": scene, "nonce": "printed-01"}, headers=bearer(member))
    assert ok.status_code == 201
    clock.now = START + timedelta(hours=3)
    late = client.post(
        "/api/v1/checkins", json={"token": scene, "nonce": "printed-02"}, headers=bearer(login_user("late"))
    )
    assert (late.status_code, late.get_json()["error"]["code"]) == (409, "OUTSIDE_WINDOW")


def test_signals_are_recorded_without_refusing(app, client, clock, activity_id, login_user):
    member = login_user()
    response = _scan(client, member, activity_id, clock, "far-away-01", location=FAR)
    assert response.status_code == 201  # no geo-fence on this activity: flagged, not refused
    with app.app_context():
        checkin = db.session.get_one(CheckIn, response.get_json()["id"])
        assert checkin.flags == ["far_away"]


def test_seed_demo_adds_a_station_and_a_party_day_per_community(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        assert len(db.session.scalars(select(Station)).all()) == 2
        activities = db.session.scalars(select(Activity)).all()
        assert [a.kind for a in activities] == ["party_day", "party_day"]


def test_a_burst_of_check_ins_by_one_account_is_flagged(app, client, clock, staff, org_tree, login_user):
    member = login_user()
    flags = []
    for i in range(6):
        body = {
            "community_id": org_tree["C1"].id,
            "title": f"活动{i}",
            "kind": "meeting",
            "starts_at": START.isoformat(),
            "ends_at": (START + timedelta(hours=1)).isoformat(),
            "points_rule": "ACTIVITY_CHECKIN",
        }
        activity = client.post("/api/v1/activities", json=body, headers=staff).get_json()["id"]
        checkin = _scan(client, member, activity, clock, f"burst-nonce-{i}").get_json()
        with app.app_context():
            flags.append(db.session.get_one(CheckIn, checkin["id"]).flags)
    assert flags == [[], [], [], [], [], ["burst"]]


def test_one_phone_checking_in_several_accounts_is_flagged(app, client, clock, activity_id, login_user):
    flags = []
    for name in ("owner", "friend"):
        member = login_user(name)
        with app.app_context():
            code = printed_scene("activity", activity_id, 1)
        response = client.post(
            "/api/v1/checkins",
            json={"token": code, "nonce": f"device-{name}-1", "device_id": "phone-123"},
            headers=bearer(member),
        )
        assert response.status_code == 201
        with app.app_context():
            flags.append(db.session.get_one(CheckIn, response.get_json()["id"]).flags)
    assert ["shared_device" in f for f in flags] == [False, True]


def test_the_png_form_of_a_code_is_documented(client):
    # Found by the fuzz run: ?format=png answered image/png, the document listed only JSON.
    spec = client.get("/api/openapi.json").get_json()
    for path in ("/api/v1/activities/{activity_id}/code", "/api/v1/stations/{station_id}/code"):
        content = spec["paths"][path]["get"]["responses"]["200"]["content"]
        assert set(content) == {"application/json", "image/png"}
