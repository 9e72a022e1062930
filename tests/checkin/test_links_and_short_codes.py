"""Codes WeChat's own scanner opens (https links under QR_LINK_BASE), scans arriving as the code, the link
or the page's q, printed codes for the configured build, server time for skewed phones, and the 6-digit
code typed where a camera fails."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from checkin.links import current_short_code, short_code
from checkin.models import CheckIn
from checkin.tokens import issue_token, printed_scene, window_of
from server import qr
from server.db import db
from tests.checkin.conftest import START
from tests.conftest import bearer

BASE = "https://linli.example.org/c"  # the default QR_LINK_BASE under test


@pytest.fixture
def activity_id(client, staff, org_tree):
    """A themed party day of C1 with a fence around the demo station and printed codes allowed."""
    body = {
        "community_id": org_tree["C1"].id,
        "title": "主题党日",
        "kind": "party_day",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "points_rule": "PARTY_DAY",
        "lat": 31.2304,
        "lng": 121.4737,
        "radius_m": 100,
        "printed_code_allowed": True,
    }
    return client.post("/api/v1/activities", json=body, headers=staff).get_json()["id"]


def _error(response):
    return response.status_code, response.get_json()["error"]["code"]


def _token(app, clock, target):
    with app.app_context():
        return issue_token("activity", target, now=clock.now.timestamp()).token


def test_the_screen_code_answer_carries_the_link_server_time_and_refresh(
    app, client, clock, staff, activity_id
):
    body = client.get(f"/api/v1/activities/{activity_id}/code", headers=staff).get_json()
    assert body["url"] == f"{BASE}/{body['token']}"
    assert 0 < body["refresh_in"] <= 30
    assert body["server_time"].startswith(clock.now.astimezone().strftime("%Y-"))
    assert len(body["short_code"]) == 6 and body["short_code"].isdigit()
    png = client.get(f"/api/v1/activities/{activity_id}/code?format=png", headers=staff)
    with app.app_context():
        assert png.data == qr.png(body["url"])  # the image holds the https link, not the bare token


def test_the_members_own_code_carries_server_time_and_refresh(client, clock, login_user):
    body = client.get("/api/v1/me/code", headers=bearer(login_user())).get_json()
    assert 0 < body["refresh_in"] <= 60
    assert "server_time" in body and "token" in body


@pytest.mark.parametrize("form", ["token", "url", "q", "q-twice"])
def test_a_scan_checks_in_as_the_code_the_link_or_the_pages_q(
    app, client, clock, activity_id, login_user, form
):
    token = _token(app, clock, activity_id)
    scanned = {
        "token": token,
        "url": f"{BASE}/{token}",
        "q": quote(f"{BASE}/{token}", safe=""),
        "q-twice": quote(quote(f"{BASE}/{token}", safe=""), safe=""),
    }[form]
    response = client.post(
        "/api/v1/checkins",
        json={"token": scanned, "nonce": f"link-form-{form}", "lat": 31.2304, "lng": 121.4737},
        headers=bearer(login_user(form)),
    )
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize(
    "scanned",
    [
        "https://evil.example.com/c/{t}",
        "https://linli.example.org/other/{t}",
        "http://linli.example.org/c/{t}",
    ],
)
def test_a_link_of_another_site_is_refused(app, client, clock, activity_id, login_user, scanned):
    token = _token(app, clock, activity_id)
    response = client.post(
        "/api/v1/checkins",
        json={"token": scanned.format(t=token), "nonce": "link-evil-1"},
        headers=bearer(login_user()),
    )
    assert _error(response) == (400, "TOKEN_INVALID")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scanned=st.one_of(st.text(min_size=1, max_size=300), st.text(max_size=200).map(lambda t: f"{BASE}/{t}"))
)
def test_no_scanned_text_causes_a_server_error(client, login_user, scanned):
    response = client.post(
        "/api/v1/checkins", json={"token": scanned, "nonce": "link-fuzz-01"}, headers=bearer(login_user())
    )
    assert response.status_code in (200, 201, 400, 403, 404, 409, 422, 429), response.get_json()


def test_the_printed_fallback_qr_is_a_link_and_the_scene_is_in_a_header(
    app, client, staff, activity_id, wechat_fake
):
    assert wechat_fake.control("fail", path="/wxa/getwxacodeunlimit", times=1, status=502).ok
    response = client.get(f"/api/v1/activities/{activity_id}/printed-code", headers=staff)
    with app.app_context():
        scene = printed_scene("activity", activity_id, 1)
        assert response.data == qr.png(f"{BASE}/{scene}")  # not linli://…: WeChat opens https links only
    assert response.headers["X-Linli-Scene"] == scene


@pytest.mark.parametrize(("build", "check_path"), [("release", True), ("trial", False), ("develop", False)])
def test_printed_codes_open_the_configured_build(
    app, client, staff, activity_id, wechat_fake, build, check_path
):
    app.config["WECHAT_ENV_VERSION"] = build
    try:
        response = client.get(f"/api/v1/activities/{activity_id}/printed-code", headers=staff)
    finally:
        app.config["WECHAT_ENV_VERSION"] = "release"
    assert response.headers["X-Linli-Code"] == "wxacode"
    sent = wechat_fake.state.wxacode_requests[-1]
    assert (sent["env_version"], sent["check_path"], sent["page"]) == (
        build,
        check_path,
        "pages/checkin/index",
    )


def _typed(client, member, activity, code, nonce):
    return client.post(
        "/api/v1/checkins",
        json={"short_code": code, "activity_id": activity, "nonce": nonce, "lat": 31.2304, "lng": 121.4737},
        headers=bearer(member),
    )


def test_the_typed_code_checks_in_like_the_screen(app, client, clock, activity_id, login_user):
    member = login_user()
    with app.app_context():
        code = current_short_code(activity_id, clock.now.timestamp())
    first = _typed(client, member, activity_id, code, "typed-ok-01")
    resent = _typed(client, member, activity_id, code, "typed-ok-01")
    assert first.status_code == 201, first.get_json()
    assert (resent.status_code, resent.get_json()["id"]) == (200, first.get_json()["id"])
    assert first.get_json()["points_awarded"] > 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 1


def test_the_typed_code_of_the_last_window_counts_and_older_ones_do_not(
    app, client, clock, activity_id, login_user
):
    with app.app_context():
        window = window_of("activity", clock.now.timestamp())
        previous, stale = short_code(activity_id, window - 1), short_code(activity_id, window - 2)
        current = short_code(activity_id, window)
    if stale in (current, previous):
        pytest.skip("one chance in 500,000: the stale code equals a live one")
    assert _typed(client, login_user("p"), activity_id, previous, "typed-prev-1").status_code == 201
    assert _error(_typed(client, login_user("s"), activity_id, stale, "typed-stale-1")) == (
        400,
        "SHORT_CODE_INVALID",
    )


def test_the_typed_code_is_the_activitys_own(app, client, clock, staff, org_tree, activity_id, login_user):
    other = client.post(
        "/api/v1/activities",
        json={
            "community_id": org_tree["C1"].id,
            "title": "志愿服务",
            "kind": "volunteer",
            "starts_at": START.isoformat(),
            "ends_at": (START + timedelta(hours=2)).isoformat(),
            "points_rule": "PARTY_DAY",
        },
        headers=staff,
    ).get_json()["id"]
    with app.app_context():
        code = current_short_code(activity_id, clock.now.timestamp())
        if code == current_short_code(other, clock.now.timestamp()):
            pytest.skip("one chance in a million: both activities show the same code")
    assert _error(_typed(client, login_user(), other, code, "typed-other-1")) == (400, "SHORT_CODE_INVALID")


def test_wrong_typed_codes_are_limited_so_guessing_is_out_of_reach(
    app, client, clock, activity_id, login_user
):
    member = login_user()
    with app.app_context():
        right = current_short_code(activity_id, clock.now.timestamp())
    wrong = [f"{(int(right) + i) % 1_000_000:06d}" for i in range(1, 6)]
    answers = [_typed(client, member, activity_id, code, f"typed-wrong-{i}") for i, code in enumerate(wrong)]
    assert [_error(a) for a in answers] == [(400, "SHORT_CODE_INVALID")] * 5
    refused = _typed(client, member, activity_id, right, "typed-right-after")
    assert _error(refused) == (429, "RATE_LIMITED")  # even the right code, until the budget comes back
    assert int(refused.headers["Retry-After"]) > 0
    # another member is not affected
    assert _typed(client, login_user("other"), activity_id, right, "typed-other-ok").status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"short_code": "123456"},
        {"activity_id": 1},
        {"short_code": "12345", "activity_id": 1},
        {"short_code": "123456", "activity_id": 1, "token": "x"},
        {},
    ],
)
def test_a_typed_code_needs_its_activity_and_nothing_else(client, login_user, body):
    response = client.post(
        "/api/v1/checkins", json={**body, "nonce": "typed-bad-01"}, headers=bearer(login_user())
    )
    assert _error(response) == (422, "VALIDATION_ERROR")
