"""The check-in console's routes without a browser: the door screen's JSON, the forms, posters, the panel."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from checkin.models import Activity, CheckIn, Station
from checkin.tokens import issue_token, printed_scene, verify_token
from points.models import LedgerTransaction
from server.db import db
from tests.checkin.conftest import START
from tests.conftest import bearer, points_of


@pytest.fixture
def screen_clock(clock):
    """The app's frozen clock, which the console also reads to sign the screen's codes."""
    return clock


def console_client(app, staff):
    """A test client logged in to the console as ``staff``; returns (client, CSRF token)."""
    browser = app.test_client()
    login_page = browser.get("/console/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', login_page)
    assert found is not None, login_page
    token = found[1]
    done = browser.post(
        "/console/login", data={"username": staff.username, "password": staff.password, "csrf_token": token}
    )
    assert done.status_code == 302
    # The login starts a fresh session (and with it a fresh CSRF secret): read the token of the new one.
    today = browser.get("/console/").get_data(as_text=True)
    found = re.search(r'name="csrf-token" content="([^"]+)"', today)
    assert found is not None, today
    return browser, found[1]


@pytest.fixture
def c1_console(app, make_staff):
    """A console session of a staff member of C1."""
    return console_client(app, make_staff(org="C1"))


@pytest.fixture
def activity_id(client, staff, org_tree):
    """An activity of C1 from START for two hours (check-in from 30 minutes before), 3 places."""
    body = {
        "community_id": org_tree["C1"].id,
        "title": "主题党日：学习新思想",
        "kind": "party_day",
        "place": "一社区党群服务中心",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "capacity": 3,
        "points_rule": "PARTY_DAY",
    }
    response = client.post("/api/v1/activities", json=body, headers=staff)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_the_screen_code_is_a_valid_token_with_its_image_expiry_and_count(
    app, client, screen_clock, c1_console, activity_id, login_user
):
    browser, _ = c1_console
    response = browser.get(f"/console/activities/{activity_id}/code")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["scene"] == body["token"]
    assert body["image"].startswith("data:image/svg+xml;base64,")
    assert (body["count"], body["capacity"], body["state"], body["window_seconds"]) == (0, 3, "open", 30)
    # Accepted through the next window; a fresh one is asked for soon (never later than the window's turn).
    assert 30 < body["expires_in"] <= 60
    assert 0 < body["refresh_in"] <= 4
    with app.app_context():
        verified = verify_token(body["token"], ("activity",), now=START.timestamp())
    assert (verified.kind, verified.target_id) == ("activity", activity_id)

    member = login_user("member")
    checked = client.post(
        "/api/v1/checkins", json={"token": body["scene"], "nonce": "screen-0001"}, headers=bearer(member)
    )
    assert checked.status_code == 201, checked.get_json()
    assert browser.get(f"/console/activities/{activity_id}/code").get_json()["count"] == 1


def test_the_screen_code_turns_with_the_window_and_the_old_one_goes_stale(
    app, client, screen_clock, c1_console, activity_id, login_user
):
    browser, _ = c1_console
    first = browser.get(f"/console/activities/{activity_id}/code").get_json()
    screen_clock.now = START + timedelta(seconds=31)
    second = browser.get(f"/console/activities/{activity_id}/code").get_json()
    assert second["scene"] != first["scene"]
    screen_clock.now = START + timedelta(seconds=95)  # two windows later: the first code is refused
    member = login_user("late")
    stale = client.post(
        "/api/v1/checkins", json={"token": first["scene"], "nonce": "stale-0001"}, headers=bearer(member)
    )
    assert (stale.status_code, stale.get_json()["error"]["code"]) == (400, "TOKEN_EXPIRED")


def test_the_screen_says_when_check_in_opens_and_when_it_is_over(screen_clock, c1_console, activity_id):
    browser, _ = c1_console
    screen_clock.now = START - timedelta(hours=1)
    early = browser.get(f"/console/activities/{activity_id}/code").get_json()
    assert (early["state"], early["state_text"]) == ("before", "签到将于 09:30 开始")
    screen_clock.now = START + timedelta(hours=3)
    assert browser.get(f"/console/activities/{activity_id}/code").get_json()["state"] == "after"


def test_staff_of_another_community_cannot_reach_the_activity(app, make_staff, activity_id):
    other, _ = console_client(app, make_staff(org="C3"))
    for path in ("code", "screen", "poster", "edit", "printed-code.png", ""):
        response = other.get(f"/console/activities/{activity_id}/{path}".rstrip("/"))
        assert response.status_code == 403, path
    street, _ = console_client(app, make_staff(org="S1"))  # C1 lies under S1
    assert street.get(f"/console/activities/{activity_id}/code").status_code == 200


def test_the_code_needs_a_console_login(client, activity_id):
    response = client.get(f"/console/activities/{activity_id}/code")
    assert response.status_code == 302
    assert "/console/login" in response.headers["Location"]


def test_a_station_screen_counts_todays_visits_inside_opening_hours(
    app, client, staff, screen_clock, c1_console, org_tree, login_user
):
    body = {
        "community_id": org_tree["C1"].id,
        "name": "一社区党群服务中心",
        "opening_hours": {"tue": [["08:30", "17:30"]]},  # START is a Tuesday, 10:00 in Shanghai
    }
    station_id = client.post("/api/v1/stations", json=body, headers=staff).get_json()["id"]
    browser, _ = c1_console
    code = browser.get(f"/console/stations/{station_id}/code").get_json()
    assert (code["count"], code["state"]) == (0, "open")
    member = login_user("visitor")
    visit = client.post(
        "/api/v1/checkins", json={"token": code["scene"], "nonce": "visit-0001"}, headers=bearer(member)
    )
    assert visit.status_code == 201, visit.get_json()
    assert browser.get(f"/console/stations/{station_id}/code").get_json()["count"] == 1
    screen_clock.now = START + timedelta(hours=9)  # 19:00
    assert browser.get(f"/console/stations/{station_id}/code").get_json()["state"] == "closed"
    page = browser.get(f"/console/stations/{station_id}/screen").get_data(as_text=True)
    assert "今日开放 08:30–17:30" in page


def _activity_form(org_tree, **changes):
    form = {
        "title": "志愿服务：清洁家园",
        "kind": "volunteer",
        "community_id": str(org_tree["C1"].id),
        "station_id": "",
        "place": "一社区小广场",
        "starts_at": "2026-12-05T09:00",
        "ends_at": "2026-12-05T11:00",
        "checkin_opens_at": "",
        "checkin_closes_at": "",
        "capacity": "20",
        "points_rule": "VOLUNTEER_HOUR",
        "hours_count": "on",
        "lat": "",
        "lng": "",
        "radius_m": "",
        "description": "",
    }
    form.update(changes)
    return form


def test_the_activity_form_creates_an_activity_in_local_time(app, c1_console, org_tree):
    browser, csrf = c1_console
    response = browser.post("/console/activities/new", data={**_activity_form(org_tree), "csrf_token": csrf})
    assert response.status_code == 302
    with app.app_context():
        activity = db.session.scalars(select(Activity)).one()
        assert response.headers["Location"] == f"/console/activities/{activity.id}"
        assert activity.starts_at == START + timedelta(days=4, hours=-1)  # 5 Dec 09:00 in Shanghai
        assert activity.checkin_opens_at == activity.starts_at - timedelta(minutes=30)
        assert (activity.capacity, activity.hours_count, activity.signup_required) == (20, True, False)
    detail = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "志愿服务：清洁家园" in detail and "已创建活动" in detail


def test_a_refused_activity_form_comes_back_with_what_was_typed_and_why(app, c1_console, org_tree):
    browser, csrf = c1_console
    form = _activity_form(org_tree, ends_at="2026-12-05T08:00", capacity="abc")
    refused = browser.post("/console/activities/new", data={**form, "csrf_token": csrf})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "请输入整数" in page and 'value="志愿服务：清洁家园"' in page
    form["capacity"] = "20"
    refused = browser.post("/console/activities/new", data={**form, "csrf_token": csrf})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "结束时间须晚于开始时间" in page and "VALIDATION_ERROR" in page
    assert 'value="2026-12-05T08:00"' in page
    geofenced = _activity_form(org_tree, geofence="on")
    refused = browser.post("/console/activities/new", data={**geofenced, "csrf_token": csrf})
    assert refused.status_code == 422
    assert "开启签到范围需要设置位置和半径" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Activity)).first() is None


def test_staff_cannot_create_an_activity_in_another_community(app, c1_console, org_tree):
    browser, csrf = c1_console
    form = _activity_form(org_tree, community_id=str(org_tree["C3"].id))
    refused = browser.post("/console/activities/new", data={**form, "csrf_token": csrf})
    assert refused.status_code == 403
    assert "FORBIDDEN" in refused.get_data(as_text=True)


def test_editing_keeps_the_capacity_above_the_places_taken(
    app, client, staff, screen_clock, c1_console, activity_id, login_user
):
    browser, csrf = c1_console
    scene = browser.get(f"/console/activities/{activity_id}/code").get_json()["scene"]
    for n in range(2):
        member = login_user(f"member{n}")
        client.post(
            "/api/v1/checkins", json={"token": scene, "nonce": f"edit-000{n}"}, headers=bearer(member)
        )
    form = {
        "title": "主题党日（改）",
        "kind": "party_day",
        "place": "一社区党群服务中心",
        "starts_at": "2026-12-01T10:00",
        "ends_at": "2026-12-01T12:00",
        "checkin_opens_at": "2026-12-01T09:30",
        "checkin_closes_at": "2026-12-01T12:00",
        "capacity": "1",
        "points_rule": "PARTY_DAY",
        "csrf_token": csrf,
    }
    refused = browser.post(f"/console/activities/{activity_id}/edit", data=form)
    assert refused.status_code == 409
    assert "名额不能少于已报名人数" in refused.get_data(as_text=True)
    saved = browser.post(f"/console/activities/{activity_id}/edit", data={**form, "capacity": "5"})
    assert saved.status_code == 302
    with app.app_context():
        activity = db.session.get_one(Activity, activity_id)
        assert (activity.title, activity.capacity, activity.taken) == ("主题党日（改）", 5, 2)


def test_the_station_form_reads_opening_hours_per_weekday(app, c1_console, org_tree):
    browser, csrf = c1_console
    form = {
        "name": "一社区服务驿站",
        "community_id": str(org_tree["C1"].id),
        "address": "幸福路 1 号",
        "lat": "31.2304",
        "lng": "121.4737",
        "radius_m": "150",
        "points_rule": "STATION_DUTY_HOUR",
        "active": "on",
        "hours_mon": "8:30-12:00， 14:00-17:30",
        "hours_sat": "09:00~11:30",
        "hours_sun": "",
        "csrf_token": csrf,
    }
    assert browser.post("/console/stations/new", data=form).status_code == 302
    with app.app_context():
        station = db.session.scalars(select(Station)).one()
        assert station.opening_hours == {
            "mon": [["08:30", "12:00"], ["14:00", "17:30"]],
            "sat": [["09:00", "11:30"]],
        }
        assert station.radius_m == 150
        station_id = station.id
    bad = browser.post(f"/console/stations/{station_id}/edit", data={**form, "hours_tue": "上午"})
    assert bad.status_code == 422 and "格式如 08:30-12:00" in bad.get_data(as_text=True)
    backwards = browser.post(
        f"/console/stations/{station_id}/edit", data={**form, "hours_tue": "17:00-09:00"}
    )
    assert backwards.status_code == 422 and "开始时间须早于结束时间" in backwards.get_data(as_text=True)
    closed = {k: v for k, v in form.items() if k != "active"}
    assert browser.post(f"/console/stations/{station_id}/edit", data=closed).status_code == 302
    with app.app_context():
        assert db.session.get_one(Station, station_id).active is False
    listed = browser.get("/console/stations").get_data(as_text=True)
    assert "一社区服务驿站" in listed and "已停用" in listed


def test_the_poster_carries_the_printed_code_and_the_png_falls_back_to_a_plain_qr(
    app, client, staff, c1_console, activity_id, wechat_fake
):
    allowed = {"printed_code_allowed": True}
    assert client.patch(f"/api/v1/activities/{activity_id}", json=allowed, headers=staff).status_code == 200
    browser, _ = c1_console
    poster = browser.get(f"/console/activities/{activity_id}/poster").get_data(as_text=True)
    assert "主题党日：学习新思想" in poster and "pages/checkin-poster.css" in poster
    with browser.get("/console/static/pages/checkin-poster.css") as sheet:
        stylesheet = sheet.get_data(as_text=True)
    assert "@page { size: A4; margin: 15mm; }" in stylesheet  # printed on A4 (a file of its own: the CSP)
    assert 'src="data:image/png;base64,' in poster and 'data-source="wxacode"' in poster
    assert wechat_fake.control("fail", path="/wxa/getwxacodeunlimit", times=1, status=502).ok
    png = browser.get(f"/console/activities/{activity_id}/printed-code.png")
    assert (png.status_code, png.mimetype, png.headers["X-Linli-Code"]) == (200, "image/png", "qrcode")
    assert png.data.startswith(b"\x89PNG")


def test_the_today_panel_lists_todays_activities_of_my_communities_with_their_counts(
    app, client, staff, screen_clock, make_staff, org_tree, activity_id, login_user
):
    other_day = {
        "community_id": org_tree["C1"].id,
        "title": "下周的培训",
        "kind": "training",
        "starts_at": (START + timedelta(days=7)).isoformat(),
        "ends_at": (START + timedelta(days=7, hours=1)).isoformat(),
        "points_rule": "ACTIVITY_CHECKIN",
    }
    assert client.post("/api/v1/activities", json=other_day, headers=staff).status_code == 201
    browser, _ = console_client(app, make_staff(org="S1"))
    scene = browser.get(f"/console/activities/{activity_id}/code").get_json()["scene"]
    client.post(
        "/api/v1/checkins", json={"token": scene, "nonce": "panel-0001"}, headers=bearer(login_user("m"))
    )
    panel = browser.get("/console/today/checkins").get_data(as_text=True)
    assert "主题党日：学习新思想" in panel and "下周的培训" not in panel
    assert f'data-today-count="{activity_id}">1<' in panel
    elsewhere, _ = console_client(app, make_staff(org="C3"))
    assert "今天没有活动" in elsewhere.get("/console/today/checkins").get_data(as_text=True)


def test_the_activity_list_shows_upcoming_and_past_ones_of_my_communities(
    app, client, staff, screen_clock, c1_console, org_tree, activity_id, make_staff
):
    staff_of_c1 = make_staff(org="C1")
    browser, _ = c1_console
    upcoming = browser.get("/console/activities").get_data(as_text=True)
    assert "主题党日：学习新思想" in upcoming
    screen_clock.now = START + timedelta(days=1)
    browser, _ = console_client(app, staff_of_c1)  # a day later the 10-hour session has ended: log in again
    assert "主题党日：学习新思想" not in browser.get("/console/activities").get_data(as_text=True)
    past = browser.get("/console/activities?when=past").get_data(as_text=True)
    assert "主题党日：学习新思想" in past
    filtered = browser.get(f"/console/activities?when=past&community={org_tree['C2'].id}").get_data(
        as_text=True
    )
    assert "主题党日：学习新思想" not in filtered


def test_the_activity_page_lists_check_ins_with_their_signals(
    app, client, screen_clock, c1_console, activity_id, login_user
):
    browser, _ = c1_console
    scene = browser.get(f"/console/activities/{activity_id}/code").get_json()["scene"]
    for n, name in enumerate(("alice", "bob")):
        member = login_user(name)
        client.patch("/api/v1/me", json={"nickname": f"居民{name}"}, headers=bearer(member))
        body = {"token": scene, "nonce": f"detail-000{n}", "device_id": "one-phone"}
        assert client.post("/api/v1/checkins", json=body, headers=bearer(member)).status_code == 201
    page = browser.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    assert "居民alice" in page and "居民bob" in page
    assert page.count('data-flag="shared_device"') == 1  # the second account on the same phone
    assert "同一手机多个账号" in page and "1 条需留意" in page


def test_station_pages_belong_to_the_staff_of_its_community(
    app, client, staff, c1_console, make_staff, org_tree
):
    body = {
        "community_id": org_tree["C1"].id,
        "name": "一社区服务驿站",
        "address": "幸福路 1 号",
        "opening_hours": {"mon": [["08:30", "12:00"]], "sat": [["09:00", "11:30"]]},
        "printed_code_allowed": True,
    }
    station_id = client.post("/api/v1/stations", json=body, headers=staff).get_json()["id"]
    browser, _ = c1_console
    poster = browser.get(f"/console/stations/{station_id}/poster").get_data(as_text=True)
    assert "一社区服务驿站" in poster and "周一 08:30-12:00" in poster and "周六 09:00-11:30" in poster
    png = browser.get(f"/console/stations/{station_id}/printed-code.png")
    assert (png.status_code, png.headers["X-Linli-Code"]) == (200, "wxacode")
    other, _ = console_client(app, make_staff(org="C2"))
    for path in ("screen", "code", "poster", "edit", "printed-code.png"):
        assert other.get(f"/console/stations/{station_id}/{path}").status_code == 403, path
    assert "一社区服务驿站" not in other.get("/console/stations").get_data(as_text=True)


def test_the_lists_filter_by_the_community_query_argument(
    app, client, login_staff, screen_clock, make_staff, org_tree, activity_id
):
    body = {"community_id": org_tree["C2"].id, "name": "二社区服务驿站", "opening_hours": {}}
    c2_staff = bearer(login_staff(make_staff(org="C2")))
    assert client.post("/api/v1/stations", json=body, headers=c2_staff).status_code == 201
    browser, _ = console_client(app, make_staff(org="S1"))  # C1 and C2
    c1, c2 = org_tree["C1"].id, org_tree["C2"].id
    upcoming = browser.get(f"/console/activities?community={c1}").get_data(as_text=True)
    assert "主题党日：学习新思想" in upcoming
    assert '<select name="community"' in upcoming and f'<option value="{c1}" selected>' in upcoming
    assert f"/console/activities?when=past&amp;community={c1}" in upcoming  # the tabs keep the filter
    assert "主题党日：学习新思想" not in browser.get(f"/console/activities?community={c2}").get_data(
        as_text=True
    )
    only_c1 = browser.get(f"/console/stations?community={c1}").get_data(as_text=True)
    assert "二社区服务驿站" not in only_c1
    only_c2 = browser.get(f"/console/stations?community={c2}").get_data(as_text=True)
    assert "二社区服务驿站" in only_c2
    assert f"/console/activities/new?community={c2}" in only_c2  # 在此办活动: the form opens on C2
    new = browser.get(f"/console/activities/new?community={c2}").get_data(as_text=True)
    assert f'<option value="{c2}" selected>' in new


def test_a_bad_value_in_the_activity_form_is_named_in_chinese_and_writes_nothing(app, c1_console, org_tree):
    browser, csrf = c1_console
    form = _activity_form(org_tree, title=" ", capacity="0", kind="picnic", lat="north", radius_m="5")
    refused = browser.post("/console/activities/new", data={**form, "csrf_token": csrf})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    messages = dict(re.findall(r'<small id="([a-z_]+)-error" class="field-error">([^<]*)</small>', page))
    assert messages == {
        "title": "请填写活动名称（最多 100 字）",
        "kind": "类型不正确",
        "capacity": "名额应为 1–100000 的整数",
        "lat": "请输入数字",
        "radius_m": "半径应为 10–5000 的整数",
    }
    assert 'value="north"' in page  # what was typed comes back, beside why
    for internal in ("Must be", "Not a valid", "Missing data", "VALIDATION_ERROR"):
        assert internal not in page
    with app.app_context():
        assert db.session.scalars(select(Activity)).first() is None


def test_a_bad_value_in_the_station_form_is_named_in_chinese_and_writes_nothing(app, c1_console, org_tree):
    browser, csrf = c1_console
    form = {
        "name": "",
        "community_id": str(org_tree["C1"].id),
        "address": "幸福路 1 号",
        "lat": "31.2304",
        "lng": "200",
        "radius_m": "5",
        "points_rule": "duty",
        "csrf_token": csrf,
    }
    refused = browser.post("/console/stations/new", data=form)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "请填写名称（最多 100 字）" in page and "经度应在 -180–180 之间" in page
    assert "半径应为 10–5000 的整数" in page and "积分规则格式不正确" in page
    assert 'value="幸福路 1 号"' in page
    for internal in ("Must be", "Not a valid", "String does not match"):
        assert internal not in page
    blank = browser.post("/console/stations/new", data={**form, "name": "驿站", "lng": "", "radius_m": ""})
    assert blank.status_code == 422 and "请填写半径" in blank.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Station)).first() is None


# --- printed codes, flagged check-ins and voiding (issue 15) ---------------------------------------------


@pytest.fixture
def printed_activity(client, staff, org_tree):
    """A meeting of C1 under way (1 point at check-in) that accepts its poster's code, with no fence:
    so a check-in by the poster is flagged ``printed_no_fence``."""
    body = {
        "community_id": org_tree["C1"].id,
        "title": "居民议事会",
        "kind": "meeting",
        "place": "一社区会议室",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "points_rule": "ACTIVITY_CHECKIN",
        "printed_code_allowed": True,
    }
    response = client.post("/api/v1/activities", json=body, headers=staff)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _by_poster(app, client, tokens, activity_id, version=1, nonce="poster-0001"):
    """A member's check-in by the printed code of the activity's poster of ``version``."""
    with app.app_context():
        scene = printed_scene("activity", activity_id, version)
    return client.post("/api/v1/checkins", json={"token": scene, "nonce": nonce}, headers=bearer(tokens))


def _row(page, checkin_id):
    """The table row of one check-in on the activity page."""
    found = re.search(rf'<tr id="checkin-{checkin_id}".*?</tr>', page, re.S)
    assert found is not None, page
    return found[0]


def test_a_flagged_check_in_is_voided_from_the_activity_page_and_its_points_go_back_once(
    app, client, clock, printed_activity, member, make_staff
):
    alice = member(points=10, name="alice", nickname="居民alice")
    checked = _by_poster(app, client, alice, printed_activity)
    assert checked.status_code == 201, checked.get_json()
    checkin_id = checked.get_json()["id"]
    assert (checked.get_json()["source"], checked.get_json()["points_awarded"]) == ("printed", 1)
    assert points_of(client, alice)["available"] == 11
    c1_staff = make_staff(org="C1", username="wang_c1")
    browser, csrf = console_client(app, c1_staff)

    review = browser.get(f"/console/activities/{printed_activity}?review=1").get_data(as_text=True)
    row = _row(review, checkin_id)
    assert 'data-flag="printed_no_fence"' in row and "纸质码且未开签到范围" in row and "纸质签到码" in row
    assert "需复核（1）" in review and "1 条需留意" in review

    url = f"/console/activities/{printed_activity}/checkins/{checkin_id}/void"
    voided = browser.post(url, data={"reason": "本人未到场", "csrf_token": csrf})
    assert voided.status_code == 302
    assert points_of(client, alice)["available"] == 10
    again = browser.post(url, data={"reason": "本人未到场", "csrf_token": csrf})  # a resend, a double click
    assert again.status_code == 302
    assert points_of(client, alice)["available"] == 10

    page = browser.get(f"/console/activities/{printed_activity}").get_data(as_text=True)
    assert "已作废签到" in page
    row = _row(page, checkin_id)
    assert "已作废" in row and "原因：本人未到场" in row and "wang_c1" in row
    assert "确认作废" not in row  # nothing more to void
    assert "需复核（0）" in page and "另有 1 条已作废" in page
    with app.app_context():
        checkin = db.session.get_one(CheckIn, checkin_id)
        assert (checkin.status, checkin.void_reason, checkin.voided_by_id) == (
            "voided",
            "本人未到场",
            c1_staff.id,
        )
        reversals = db.session.scalars(
            select(LedgerTransaction).where(LedgerTransaction.kind == "reverse")
        ).all()
        assert [t.user_id for t in reversals] == [alice["user"]["id"]]


def test_staff_of_another_community_cannot_void_and_a_void_needs_a_reason(
    app, client, clock, printed_activity, member, make_staff, login_staff, org_tree
):
    bob = member(points=0, name="bob")
    checkin_id = _by_poster(app, client, bob, printed_activity).get_json()["id"]
    url = f"/console/activities/{printed_activity}/checkins/{checkin_id}/void"
    other, other_csrf = console_client(app, make_staff(org="C3"))
    assert other.post(url, data={"reason": "本人未到场", "csrf_token": other_csrf}).status_code == 403
    # nor through an activity of their own community, naming C1's check-in
    c3 = bearer(login_staff(make_staff(org="C3")))
    body = {
        "community_id": org_tree["C3"].id,
        "title": "三社区议事会",
        "kind": "meeting",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "points_rule": "ACTIVITY_CHECKIN",
    }
    theirs = client.post("/api/v1/activities", json=body, headers=c3).get_json()["id"]
    sideways = f"/console/activities/{theirs}/checkins/{checkin_id}/void"
    assert other.post(sideways, data={"reason": "本人未到场", "csrf_token": other_csrf}).status_code == 404

    browser, csrf = console_client(app, make_staff(org="C1"))
    blank = browser.post(url, data={"reason": "   ", "csrf_token": csrf})
    assert blank.status_code == 422
    row = _row(blank.get_data(as_text=True), checkin_id)
    assert "请填写作废原因" in row and '<details class="void" open>' in row
    assert points_of(client, bob)["available"] == 1
    with app.app_context():
        assert db.session.get_one(CheckIn, checkin_id).status == "open"


def test_a_void_whose_points_were_spent_is_refused_beside_its_form(
    app, client, clock, printed_activity, member, staff, make_staff
):
    carol = member(points=0, name="carol")
    checkin_id = _by_poster(app, client, carol, printed_activity).get_json()["id"]
    spent = {"user_id": carol["user"]["id"], "amount": -1, "reason": "兑换大米"}
    assert client.post("/api/v1/points/adjustments", json=spent, headers=staff).status_code == 201
    browser, csrf = console_client(app, make_staff(org="C1"))
    url = f"/console/activities/{printed_activity}/checkins/{checkin_id}/void"
    refused = browser.post(url, data={"reason": "本人未到场", "csrf_token": csrf})
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "该居民已用掉这次签到所得的积分" in _row(page, checkin_id)
    assert 'value="本人未到场"' in page  # what was typed comes back
    with app.app_context():
        assert db.session.get_one(CheckIn, checkin_id).status == "open"


def test_a_staff_scan_shows_who_recorded_it(
    app, client, clock, printed_activity, member, make_staff, login_staff
):
    dave = member(points=0, name="dave")
    scanner = make_staff(org="C1", username="li_scanner")
    with app.app_context():  # the code on the member's phone, at the frozen time
        code = issue_token("member", dave["user"]["id"], now=clock.now.timestamp()).token
    scan = {"member_token": code, "nonce": "scan-dave-0001", "device_id": "desk-1"}
    scanned = client.post(
        f"/api/v1/activities/{printed_activity}/scans", json=scan, headers=bearer(login_staff(scanner))
    )
    assert scanned.status_code == 200, scanned.get_json()
    checkin_id = scanned.get_json()["checkin"]["id"]
    browser, _ = console_client(app, make_staff(org="C1"))
    row = _row(browser.get(f"/console/activities/{printed_activity}").get_data(as_text=True), checkin_id)
    assert "工作人员扫码" in row and "记录人：li_scanner" in row


def test_a_reprint_retires_the_old_poster_and_a_resend_is_the_same_reprint(
    app, client, clock, printed_activity, member, make_staff
):
    browser, csrf = console_client(app, make_staff(org="C1"))
    poster = browser.get(f"/console/activities/{printed_activity}/poster").get_data(as_text=True)
    assert "第1版" in poster and 'name="from_version" value="1"' in poster and "旧海报将立即失效" in poster
    url = f"/console/activities/{printed_activity}/poster/reprint"
    done = browser.post(url, data={"from_version": "1", "csrf_token": csrf})
    assert (done.status_code, done.headers["Location"]) == (
        302,
        f"/console/activities/{printed_activity}/poster",
    )
    resent = browser.post(url, data={"from_version": "1", "csrf_token": csrf})
    assert resent.status_code == 302
    page = browser.get(done.headers["Location"]).get_data(as_text=True)
    assert "已重新打印签到码" in page and "第2版" in page and 'name="from_version" value="2"' in page
    with app.app_context():
        assert db.session.get_one(Activity, printed_activity).printed_version == 2  # not 3

    eve = member(points=0, name="eve")
    old = _by_poster(app, client, eve, printed_activity, version=1, nonce="old-poster-01")
    assert (old.status_code, old.get_json()["error"]["code"]) == (400, "TOKEN_INVALID")
    new = _by_poster(app, client, eve, printed_activity, version=2, nonce="new-poster-01")
    assert new.status_code == 201, new.get_json()

    stale = browser.post(url, data={"from_version": "7", "csrf_token": csrf})  # a page open since long ago
    assert stale.status_code == 302
    page = browser.get(stale.headers["Location"]).get_data(as_text=True)
    assert "签到码已被他人重新打印" in page and "第2版" in page
    bad = browser.post(url, data={"from_version": "abc", "csrf_token": csrf})
    assert bad.status_code == 302 and "请刷新后再重新打印" in browser.get(bad.headers["Location"]).get_data(
        as_text=True
    )


def test_a_station_poster_is_reprinted_too(app, client, staff, org_tree, make_staff):
    body = {"community_id": org_tree["C1"].id, "name": "一社区服务驿站", "printed_code_allowed": True}
    station_id = client.post("/api/v1/stations", json=body, headers=staff).get_json()["id"]
    browser, csrf = console_client(app, make_staff(org="C1"))
    done = browser.post(
        f"/console/stations/{station_id}/poster/reprint", data={"from_version": "1", "csrf_token": csrf}
    )
    assert done.status_code == 302
    assert "第2版" in browser.get(f"/console/stations/{station_id}/poster").get_data(as_text=True)
    other, other_csrf = console_client(app, make_staff(org="C3"))
    refused = other.post(
        f"/console/stations/{station_id}/poster/reprint", data={"from_version": "2", "csrf_token": other_csrf}
    )
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.get_one(Station, station_id).printed_version == 2


def test_where_printed_codes_are_off_the_poster_says_how_to_turn_them_on(
    app, client, staff, clock, c1_console, activity_id, org_tree
):
    browser, csrf = c1_console
    poster = browser.get(f"/console/activities/{activity_id}/poster")
    assert (poster.status_code, poster.mimetype) == (200, "text/html")
    page = poster.get_data(as_text=True)
    assert (
        "未开启纸质签到码" in page and f"/console/activities/{activity_id}/edit#printed_code_allowed" in page
    )
    assert "PRINTED_CODE_OFF" not in page
    png = browser.get(f"/console/activities/{activity_id}/printed-code.png")
    assert (png.status_code, png.mimetype) == (409, "text/html")
    assert "去开启纸质签到码" in png.get_data(as_text=True)
    reprint = browser.post(
        f"/console/activities/{activity_id}/poster/reprint", data={"from_version": "1", "csrf_token": csrf}
    )
    assert reprint.status_code == 302
    assert "未开启纸质签到码" in browser.get(reprint.headers["Location"]).get_data(as_text=True)
    detail = browser.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    assert f"/console/activities/{activity_id}/poster" not in detail and "在编辑中开启" in detail
    listed = browser.get("/console/activities").get_data(as_text=True)
    assert f"/console/activities/{activity_id}/poster" not in listed

    body = {"community_id": org_tree["C1"].id, "name": "一社区服务驿站", "opening_hours": {}}
    station_id = client.post("/api/v1/stations", json=body, headers=staff).get_json()["id"]
    station = browser.get(f"/console/stations/{station_id}/poster")
    assert station.status_code == 200
    assert f"/console/stations/{station_id}/edit#printed_code_allowed" in station.get_data(as_text=True)
    assert browser.get(f"/console/stations/{station_id}/printed-code.png").status_code == 409
    assert f"/console/stations/{station_id}/poster" not in browser.get("/console/stations").get_data(
        as_text=True
    )


def test_the_forms_switch_printed_codes_and_who_may_attend(app, c1_console, org_tree):
    browser, csrf = c1_console
    form = _activity_form(org_tree, printed_code_allowed="on", members_only="on", open_to_all="on")
    created = browser.post("/console/activities/new", data={**form, "csrf_token": csrf})
    assert created.status_code == 302
    with app.app_context():
        activity = db.session.scalars(select(Activity)).one()
        assert (activity.printed_code_allowed, activity.members_only, activity.open_to_all) == (
            True,
            True,
            True,
        )
        activity_id = activity.id
    edit = browser.get(f"/console/activities/{activity_id}/edit").get_data(as_text=True)
    for name in ("printed_code_allowed", "members_only", "open_to_all"):
        assert re.search(rf'name="{name}" id="{name}" role="switch" checked', edit), name
    assert "海报可以被拍照转发" in edit and "主题党日始终如此" in edit
    detail = browser.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    assert f"/console/activities/{activity_id}/poster" in detail and "已开启（第1版）" in detail
    unticked = {
        k: v
        for k, v in form.items()
        if k not in ("printed_code_allowed", "members_only", "open_to_all", "community_id", "station_id")
    }
    saved = browser.post(
        f"/console/activities/{activity_id}/edit", data={**unticked, "title": "改名", "csrf_token": csrf}
    )
    assert saved.status_code == 302
    with app.app_context():
        activity = db.session.get_one(Activity, activity_id)
        assert (
            activity.title,
            activity.printed_code_allowed,
            activity.members_only,
            activity.open_to_all,
        ) == (
            "改名",
            False,
            False,
            False,
        )

    station_form = {
        "name": "一社区服务驿站",
        "community_id": str(org_tree["C1"].id),
        "radius_m": "150",
        "points_rule": "STATION_DUTY_HOUR",
        "active": "on",
        "printed_code_allowed": "on",
        "csrf_token": csrf,
    }
    assert browser.post("/console/stations/new", data=station_form).status_code == 302
    with app.app_context():
        station = db.session.scalars(select(Station)).one()
        assert station.printed_code_allowed is True
        station_id = station.id
    assert 'name="printed_code_allowed" id="printed_code_allowed" role="switch" checked' in browser.get(
        f"/console/stations/{station_id}/edit"
    ).get_data(as_text=True)
    assert f"/console/stations/{station_id}/poster" in browser.get("/console/stations").get_data(as_text=True)
    off = {k: v for k, v in station_form.items() if k != "printed_code_allowed"}
    assert browser.post(f"/console/stations/{station_id}/edit", data=off).status_code == 302
    with app.app_context():
        assert db.session.get_one(Station, station_id).printed_code_allowed is False
