"""The check-in console's routes without a browser: the door screen's JSON, the forms, posters, the panel."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from checkin.models import Activity, Station
from checkin.tokens import verify_token
from server.db import db
from tests.checkin.conftest import START
from tests.conftest import bearer


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
    app, c1_console, activity_id, wechat_fake
):
    browser, _ = c1_console
    poster = browser.get(f"/console/activities/{activity_id}/poster").get_data(as_text=True)
    assert "主题党日：学习新思想" in poster and "@page { size: A4; margin: 15mm; }" in poster
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
    app, client, staff, screen_clock, c1_console, org_tree, activity_id
):
    browser, _ = c1_console
    upcoming = browser.get("/console/activities").get_data(as_text=True)
    assert "主题党日：学习新思想" in upcoming
    screen_clock.now = START + timedelta(days=1)
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
