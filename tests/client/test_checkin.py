"""Stories of checking in: at a station with wx.getLocation's default fix, at an activity (sign up,
cancel, sign up again, the door screen by WeChat's scanner, the printed poster, check-out), and by the
printed poster's code and the typed 6-digit code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.client.conftest import CHECKIN_PAGE, body_of
from tests.client.simulator import (
    Launch,
    LinkQR,
    Phone,
    WxaCode,
    location_fields,
    metres_between,
    new_nonce,
    token_from_launch,
    token_from_scan,
    wgs84_under,
)
from tests.conftest import CLOCK_START

# The demo station as a Chinese map picker gives it (GCJ-02), as in tests/checkin/test_coordinates.py.
STATION_GCJ02 = (31.2304, 121.4737)
DOOR_WGS84 = wgs84_under(
    *STATION_GCJ02
)  # where GPS puts a phone at the door (tests/client/test_simulator.py)


def _screen(staff: Phone, kind: str, place_id: int) -> dict[str, Any]:
    """What the door screen shows now (staff's screen page reads the rotating code)."""
    shown = staff.get(f"/{kind}/{place_id}/code")
    assert shown.status == 200, shown.body
    return body_of(shown)


def _check_in(phone: Phone, token: str, nonce: str, coord_type: str = "wgs84") -> Any:
    """The check-in page: the fix as wx.getLocation() gives it by default, labelled with its datum."""
    fix = phone.wx.getLocation()  # type "wgs84", WeChat's default
    return phone.post("/checkins", {"token": token, "nonce": nonce, **location_fields(fix, coord_type)})


@pytest.fixture
def station(desk, org_tree) -> tuple[Phone, int]:
    """A station of C1 picked on a map, a 200 m fence, open Tuesdays 09:00–17:00; (its staff, its id)."""
    staff = desk("C1")
    made = staff.post(
        "/stations",
        {
            "community_id": org_tree["C1"].id,
            "name": "党群服务中心",
            "address": "幸福路 1 号",
            "lat": STATION_GCJ02[0],
            "lng": STATION_GCJ02[1],
            "radius_m": 200,
            "opening_hours": {"tue": [["09:00", "17:00"]]},
        },
    )
    assert made.status == 201, made.body
    return staff, body_of(made)["id"]


def test_a_member_checks_in_at_the_station_with_the_default_wgs84_fix(resident, station, wechat, clocks):
    staff, station_id = station
    phone = resident("erin", party=True)
    phone.wx.device.position = DOOR_WGS84
    fix = phone.wx.getLocation()
    assert metres_between((fix["latitude"], fix["longitude"]), STATION_GCJ02) == pytest.approx(481, abs=3)
    gcj = phone.wx.getLocation(type="gcj02")
    assert metres_between((gcj["latitude"], gcj["longitude"]), STATION_GCJ02) < 0.5

    # She scans the door screen with WeChat's 扫一扫: WeChat opens the check-in page with query.q.
    launch = wechat.scan(LinkQR(_screen(staff, "stations", station_id)["url"]))
    assert isinstance(launch, Launch) and launch.page == CHECKIN_PAGE and "scancode_time" in launch.query
    nonce = new_nonce()
    phone.wx.lose_answer("POST", "/api/v1/checkins")
    checked_in = _check_in(phone, token_from_launch(launch.query), nonce)
    assert checked_in.tries == ["lost", 200]  # the resend (same nonce) answers the visit the server made
    visit = body_of(checked_in)
    assert (visit["status"], visit["title"], visit["place"]) == ("open", "党群服务中心", "幸福路 1 号")

    # The same fix sent without its label is read as GCJ-02: 481 m away, outside the fence.
    careless = resident("frank", party=True)
    careless.wx.device.position = DOOR_WGS84
    fix = careless.wx.getLocation()
    wrong = careless.post(
        "/checkins",
        {
            "token": token_from_launch(launch.query),
            "nonce": new_nonce(),
            "lat": fix["latitude"],
            "lng": fix["longitude"],
        },
    )
    assert (wrong.status, wrong.code) == (403, "OUT_OF_RANGE")
    # Location permission refused: the page is told to ask for it.
    careless.wx.device.location_allowed = False
    refused = _check_in(careless, token_from_launch(launch.query), new_nonce())
    assert (refused.status, refused.code) == (403, "LOCATION_REQUIRED")

    # An hour on duty later she scans the screen's new code to check out, sending the same body shape.
    clocks.advance(timedelta(hours=1))
    again = wechat.scan(LinkQR(_screen(staff, "stations", station_id)["url"]))
    assert isinstance(again, Launch)
    fix = phone.wx.getLocation()
    out = phone.post(
        f"/checkins/{visit['id']}/checkout",
        {"token": token_from_launch(again.query), "nonce": new_nonce(), **location_fields(fix, "wgs84")},
    )
    assert out.status == 200, out.body
    closed = body_of(out)
    assert (closed["status"], closed["minutes"]) == ("closed", 60)
    assert closed["points_awarded"] > 0
    assert body_of(phone.get("/me/points"))["available"] == closed["points_awarded"]
    mine = body_of(phone.get("/me/checkins"))["items"]
    assert [(c["id"], c["title"], c["status"]) for c in mine] == [(visit["id"], "党群服务中心", "closed")]


def test_sign_up_cancel_sign_up_again_then_check_in_at_the_door_and_check_out(
    resident, desk, org_tree, wechat, wechat_fake, clocks
):
    staff = desk("C1")
    made = staff.post(
        "/activities",
        {
            "community_id": org_tree["C1"].id,
            "title": "社区清洁志愿服务",
            "kind": "volunteer",
            "place": "小区中心花园",
            "starts_at": (CLOCK_START + timedelta(minutes=20)).isoformat(),
            "ends_at": (CLOCK_START + timedelta(hours=2, minutes=20)).isoformat(),
            "points_rule": "VOLUNTEER_HOUR",
            "signup_required": True,
            "capacity": 2,
            "printed_code_allowed": True,
        },
    )
    assert made.status == 201, made.body
    path = f"/activities/{body_of(made)['id']}"
    phone, neighbour = resident("gina"), resident("hank")

    assert body_of(phone.get(path))["my_signup"] is None  # the button says 报名
    phone.wx.lose_answer("POST", f"/api/v1{path}/signup")
    signed = phone.post(f"{path}/signup")
    assert signed.tries == ["lost", 200]  # the resend finds the sign-up made
    shown = body_of(phone.get(path))
    assert (shown["my_signup"]["status"], shown["taken"]) == ("signed_up", 1)  # 已报名

    phone.wx.lose_answer("DELETE", f"/api/v1{path}/signup")
    cancelled = phone.delete(f"{path}/signup")
    assert (cancelled.tries, cancelled.body) == (["lost", 204], "")
    shown = body_of(phone.get(path))
    assert (shown["my_signup"], shown["taken"]) == (None, 0)  # 报名 again

    assert phone.post(f"{path}/signup").status == 201
    assert neighbour.post(f"{path}/signup").status == 201
    full = resident("ivan").post(f"{path}/signup")
    assert (full.status, full.code) == (409, "ACTIVITY_FULL")
    assert [a["id"] for a in body_of(phone.get("/me/signups"))["items"]] == [shown["id"]]

    # 10:25: she scans the door screen with WeChat's 扫一扫 (the q form) ...
    clocks.advance(timedelta(minutes=25))
    screen = wechat.scan(LinkQR(_screen(staff, "activities", shown["id"])["url"]))
    assert isinstance(screen, Launch)
    checked_in = phone.post("/checkins", {"token": token_from_launch(screen.query), "nonce": new_nonce()})
    assert checked_in.status == 201, checked_in.body
    assert (body_of(checked_in)["title"], body_of(checked_in)["place"]) == (
        "社区清洁志愿服务",
        "小区中心花园",
    )
    # ... and her neighbour scans the printed mini-program code on the poster by the door (the scene form).
    poster = staff.call("GET", f"{path}/printed-code", responseType="arraybuffer")
    assert poster.status == 200 and poster.header["X-Linli-Code"] == "wxacode"
    sent = wechat_fake.state.wxacode_requests[-1]  # what WeChat drew into the poster
    printed = wechat.scan(WxaCode(sent["page"], sent["scene"]))
    assert isinstance(printed, Launch) and printed.page == CHECKIN_PAGE
    assert token_from_launch(printed.query) == poster.header["X-Linli-Scene"]
    by_poster = neighbour.post("/checkins", {"token": token_from_launch(printed.query), "nonce": new_nonce()})
    assert (by_poster.status, body_of(by_poster)["source"]) == (201, "printed")

    mine = body_of(phone.get(path))["my_checkin"]
    assert mine == {"id": body_of(checked_in)["id"], "status": "open"}  # 已签到

    # An hour later she checks out by scanning the screen's current code; the lost answer is resent.
    clocks.advance(timedelta(hours=1))
    leaving = wechat.scan(LinkQR(_screen(staff, "activities", shown["id"])["url"]))
    assert isinstance(leaving, Launch)
    checkout = f"/checkins/{mine['id']}/checkout"
    phone.wx.lose_answer("POST", f"/api/v1{checkout}")
    out = phone.post(checkout, {"token": token_from_launch(leaving.query), "nonce": new_nonce()})
    assert out.tries == ["lost", 200]
    assert (body_of(out)["status"], body_of(out)["minutes"]) == ("closed", 60)
    assert body_of(out)["points_awarded"] > 0
    assert body_of(phone.get(path))["my_checkin"]["status"] == "closed"
    assert body_of(phone.get("/me/points"))["available"] == body_of(out)["points_awarded"]


def test_the_printed_poster_and_the_typed_short_code(resident, desk, org_tree, wechat, wechat_fake, clocks):
    staff = desk("C1")
    made = staff.post(
        "/activities",
        {
            "community_id": org_tree["C1"].id,
            "title": "主题党日",
            "kind": "party_day",
            "place": "党群服务中心二楼",
            "starts_at": CLOCK_START.isoformat(),
            "ends_at": (CLOCK_START + timedelta(hours=2)).isoformat(),
            "points_rule": "PARTY_DAY",
            "printed_code_allowed": True,
        },
    )
    activity_id = body_of(made)["id"]
    poster = staff.call("GET", f"/activities/{activity_id}/printed-code", responseType="arraybuffer")
    assert isinstance(poster.body, bytes) and poster.body.startswith(b"\x89PNG")
    sent = wechat_fake.state.wxacode_requests[-1]
    code = WxaCode(sent["page"], sent["scene"])
    assert code.page == CHECKIN_PAGE and code.scene == poster.header["X-Linli-Scene"]

    # WeChat's 扫一扫 on the poster opens the page with query.scene.
    jane = resident("jane", party=True)
    launch = wechat.scan(code)
    assert isinstance(launch, Launch)
    first = jane.post("/checkins", {"token": token_from_launch(launch.query), "nonce": new_nonce()})
    assert (first.status, body_of(first)["points_awarded"]) == (201, 5)

    # The scan button inside the app gives the page's path; the client takes the scene from it.
    karl = resident("karl", party=True)
    scanned = karl.wx.scanCode(code)
    assert scanned["scanType"] == "WX_CODE" and scanned["path"].startswith(f"{CHECKIN_PAGE}?scene=")
    second = karl.post("/checkins", {"token": token_from_scan(scanned), "nonce": new_nonce()})
    assert (second.status, body_of(second)["source"]) == (201, "printed")

    # Lena's camera is broken: she types the six digits under the door screen's code.
    lena = resident("lena", party=True)
    typed = _screen(staff, "activities", activity_id)["short_code"]
    assert len(typed) == 6 and typed.isdigit()
    wrong = "000000" if typed != "000000" else "111111"
    miss = lena.post("/checkins", {"short_code": wrong, "activity_id": activity_id, "nonce": new_nonce()})
    assert (miss.status, miss.code) == (400, "SHORT_CODE_INVALID")
    lena.wx.lose_answer("POST", "/api/v1/checkins")
    body = {"short_code": typed, "activity_id": activity_id, "nonce": new_nonce()}
    by_hand = lena.post("/checkins", body)
    assert (by_hand.tries, body_of(by_hand)["points_awarded"]) == (["lost", 200], 5)
    assert body_of(lena.get("/me/points"))["available"] == 5
    # The same code scanned twice is still one check-in.
    twice = jane.post("/checkins", {"token": token_from_launch(launch.query), "nonce": new_nonce()})
    assert (twice.status, twice.code) == (409, "ALREADY_CHECKED_IN")
