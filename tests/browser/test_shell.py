"""The console shell in a browser: login, lockout, logout, CSRF, the today page's counters."""

import re
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import expect


def test_login_shows_today_with_what_waits_and_logout_ends_the_session(page, console_login, make_staff):
    staff = make_staff(org="C1")
    console_login(staff)
    expect(page.get_by_role("heading", name="今日待办")).to_be_visible()
    expect(page.locator("[data-counter='党员报到待审核']")).to_have_text("0")
    page.get_by_role("button", name="退出").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))


def test_a_wrong_password_is_refused_and_five_lock_the_account(page, make_staff):
    staff = make_staff(org="C1")
    for _ in range(5):
        page.goto("/console/login")
        page.get_by_label("用户名").fill(staff.username)
        page.get_by_label("密码").fill("wrong-password")
        page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    page.get_by_label("用户名").fill(staff.username)
    page.get_by_label("密码").fill(staff.password)
    page.get_by_role("button", name="登录").click()
    # Locked from this address: the same answer as a wrong password (F15), and no way in.
    expect(page.get_by_role("alert")).to_contain_text("用户名或密码错误")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    assert page.url.split("?")[0].endswith("/console/login")


def test_the_session_cookie_is_httponly_and_samesite(page, console_login, make_staff):
    console_login(make_staff(org="C1"))
    [cookie] = [c for c in page.context.cookies() if c["name"] == "linli_console"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_a_form_posted_without_a_valid_csrf_token_is_refused(app, client, make_staff, token):
    staff = make_staff(org="C1")
    login_page = client.get("/console/login").get_data(as_text=True)
    real = re.search(r'name="csrf_token" value="([^"]+)"', login_page)
    assert real is not None
    logged_in = client.post(
        "/console/login", data={"username": staff.username, "password": staff.password, "csrf_token": real[1]}
    )
    assert logged_in.status_code == 302
    form = {"reason": "x"} if token is None else {"reason": "x", "csrf_token": token}
    refused = client.post("/console/party-reports/1/reject", data=form)
    assert refused.status_code == 400
    assert "页面已过期" in refused.get_data(as_text=True)


def test_login_without_a_csrf_token_is_refused(client, make_staff):
    staff = make_staff(org="C1")
    response = client.post("/console/login", data={"username": staff.username, "password": staff.password})
    assert response.status_code == 400


def test_the_login_redirect_stays_on_this_site(client, make_staff):
    staff = make_staff(org="C1")
    page = client.get("/console/login?next=https://evil.example/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = client.post(
        "/console/login",
        data={
            "username": staff.username,
            "password": staff.password,
            "csrf_token": token[1],
            "next": "https://evil.example/",
        },
    )
    assert response.headers["Location"] == "/console/"


def test_the_demo_staff_sees_the_waiting_party_report_and_approves_it(app, page, console_login):
    from server.db import db
    from server.seed import seed_demo_data
    from server.users.models import User
    from tests.conftest import Staff

    with app.app_context():
        seed_demo_data()
        db.session.commit()
    console_login(Staff(0, "staff", "linli-staff-demo", "staff", "C01"))
    expect(page.locator("[data-counter='党员报到待审核']")).to_have_text("1")
    page.locator("a.counter", has_text="党员报到待审核").click()
    row = page.locator("tr", has_text="赵老师")
    expect(row).to_contain_text("区第一中学党支部")
    row.get_by_role("button", name="通过").click()
    expect(page.get_by_role("status")).to_contain_text("已通过党员报到")
    expect(page.locator("tr", has_text="赵老师")).to_have_count(0)
    with app.app_context():
        zhao = db.session.query(User).filter_by(openid="demo-openid-zhao").one()
        assert zhao.party_member


def test_a_reject_without_a_reason_is_refused_and_changes_nothing(app, page, console_login, make_staff):
    from server.db import db
    from server.users.models import PartyReport, User

    staff = make_staff(org="C1")
    with app.app_context():
        from server.orgs.models import OrgUnit

        c1 = db.session.query(OrgUnit).filter_by(code="C1").one()
        user = User(openid="o-reporter", nickname="钱同志", community_id=c1.id)
        db.session.add(user)
        db.session.flush()
        db.session.add(PartyReport(user_id=user.id, community_id=c1.id, branch="某支部"))
        db.session.commit()
    console_login(staff)
    page.goto("/console/party-reports")
    row = page.locator("tr", has_text="钱同志")
    row.get_by_placeholder("驳回原因").fill("   ")
    row.get_by_role("button", name="驳回").click()
    expect(page.locator(".flash.error")).to_contain_text("REASON_REQUIRED")
    with app.app_context():
        assert db.session.query(PartyReport).one().status == "pending"


def _session_cookie(flask_app: Flask) -> str:
    """The Set-Cookie of the console session, as a first visit to the login page gets it."""
    response = flask_app.test_client().get("/console/login")
    [cookie] = [
        h
        for h in response.headers.getlist("Set-Cookie")
        if h.startswith(flask_app.config["SESSION_COOKIE_NAME"] + "=")
    ]
    return cookie


@pytest.fixture
def make_app(app):
    """Another app on the test database, built by ``create_app`` with these settings on top."""
    from server.app import create_app
    from tests.conftest import close_app

    made = []

    def make(**settings):
        config = {
            key: app.config[key]
            for key in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "FILES_DIR")
        }
        made.append(create_app({**config, "WECHAT_API_BASE": app.config["WECHAT_API_BASE"], **settings}))
        return made[-1]

    yield make
    for flask_app in made:
        close_app(flask_app)


def test_in_production_the_session_cookie_is_secure_httponly_and_samesite(make_app):
    production = make_app(
        LINLI_ENV="production",
        WECHAT_APPID="wx0123456789",
        WECHAT_SECRET="real-wechat-secret",  # noqa: S106  (a test credential)
        QR_LINK_BASE="https://linli.gov-example.cn/c",
    )
    cookie = _session_cookie(production)
    assert cookie.startswith("linli_console=")
    assert "; Secure" in cookie
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie


def test_the_session_cookie_settings_can_be_changed_through_the_config(make_app):
    changed = make_app(
        LINLI_ENV="testing",
        SESSION_COOKIE_NAME="linli_desk",
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=2),
    )
    cookie = _session_cookie(changed)
    assert cookie.startswith("linli_desk=")
    assert "; Secure" in cookie and "; SameSite=Strict" in cookie
    assert changed.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=2)
