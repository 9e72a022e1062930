"""F14: console sessions the server ends (logout, password change, disabling); no hash in the cookie."""

import json
import zlib

from itsdangerous import base64_decode

from server.db import db
from server.users.models import StaffAccount
from tests.conftest import bearer


def _cookie(client, app):
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def _decoded(value):
    """The payload of a Flask session cookie (signed, not encrypted)."""
    compressed = value.startswith(".")
    payload = base64_decode(value.lstrip(".").split(".")[0])
    return json.loads(zlib.decompress(payload) if compressed else payload)


def test_a_copied_cookie_stops_working_after_logout(app, make_staff, console):
    staff = make_staff()
    session = console(staff)
    stolen = _cookie(session.client, app)
    assert session.post("/console/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], stolen)
    assert thief.get("/console/").status_code == 302  # to the login page
    assert "/console/login" in thief.get("/console/").headers["Location"]


def test_the_cookie_carries_no_part_of_the_password_hash(app, make_staff, console):
    staff = make_staff()
    payload = _decoded(_cookie(console(staff).client, app))
    with app.app_context():
        digest = db.session.get_one(StaffAccount, staff.id).password_hash
    assert set(payload) <= {"_permanent", "sid", "csrf_token"}
    assert not any(str(v) in digest or digest[-16:] in str(v) for v in payload.values())


def test_a_password_change_ends_the_other_sessions_and_tokens(app, client, make_staff, console, login_staff):
    staff = make_staff()
    here, elsewhere = console(staff), console(staff)
    tokens = login_staff(staff)
    changed = here.post(
        "/console/password",
        {
            "current_password": staff.password,
            "new_password": "new-secret-99",
            "new_password_again": "new-secret-99",
        },
    )
    assert changed.status_code == 302
    assert here.get("/console/").status_code == 200  # this one stays
    assert elsewhere.get("/console/").status_code == 302
    assert client.get("/api/v1/me", headers=bearer(tokens)).status_code == 401
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )
    old = client.post("/api/v1/auth/staff", json={"username": staff.username, "password": staff.password})
    assert old.status_code == 401
    assert (
        client.post(
            "/api/v1/auth/staff", json={"username": staff.username, "password": "new-secret-99"}
        ).status_code
        == 200
    )


def test_a_wrong_current_password_changes_nothing(app, make_staff, console):
    staff = make_staff()
    here = console(staff)
    refused = here.post(
        "/console/password",
        {
            "current_password": "not-it-at-all",
            "new_password": "new-secret-99",
            "new_password_again": "new-secret-99",
        },
    )
    assert refused.status_code == 400
    assert "当前密码不正确" in refused.get_data(as_text=True)
    assert console(staff).get("/console/").status_code == 200  # the old password still logs in


def test_disabling_ends_the_accounts_sessions_and_tokens(app, client, make_staff, console, login_staff):
    staff = make_staff(org="C1")
    theirs = console(staff)
    tokens = login_staff(staff)
    admin = console(make_staff(role="admin", org="S1"))
    assert admin.post(f"/console/staff/{staff.id}/disable").status_code == 302
    assert theirs.get("/console/").status_code == 302
    me = client.get("/api/v1/me", headers=bearer(tokens))
    assert me.status_code == 401
    assert me.get_json()["error"]["code"] == "ACCOUNT_DISABLED"
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    with app.app_context():
        assert db.session.get_one(StaffAccount, staff.id).active is False
    assert admin.post(f"/console/staff/{staff.id}/enable").status_code == 302
    assert console(staff).get("/console/").status_code == 200


def test_flask_staff_set_password_ends_every_login(app, make_staff, console):
    staff = make_staff()
    session = console(staff)
    result = app.test_cli_runner().invoke(
        args=["staff", "set-password", staff.username, "--password", "cli-secret-1"]
    )
    assert result.exit_code == 0, result.output
    assert session.get("/console/").status_code == 302
