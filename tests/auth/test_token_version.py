"""F16: access tokens carry the account's token version; logout-everywhere and disabling stop them at once."""

from server.db import db
from server.users.models import StaffAccount
from tests.conftest import bearer

EVERYWHERE = "/api/v1/auth/logout-everywhere"


def test_a_staff_access_token_stops_right_after_logout_everywhere(
    client, make_staff, login_staff, console, app
):
    staff = make_staff()
    other_device, session = login_staff(staff), console(staff)
    tokens = login_staff(staff)
    assert client.post(EVERYWHERE, headers=bearer(tokens)).status_code == 204
    for old in (tokens, other_device):
        me = client.get("/api/v1/me", headers=bearer(old))
        assert me.status_code == 401
        assert me.get_json()["error"]["code"] == "TOKEN_INVALID_LOGIN"
        assert (
            client.post("/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}).status_code
            == 401
        )
    assert session.get("/console/").status_code == 302
    assert (
        client.get("/api/v1/me", headers=bearer(login_staff(staff))).status_code == 200
    )  # a new login works


def test_a_residents_access_token_stops_right_after_logout_everywhere(client, login_user):
    tokens = login_user("alice")
    assert client.post(EVERYWHERE, headers=bearer(tokens)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(tokens)).status_code == 401
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )
    assert client.get("/api/v1/me", headers=bearer(login_user("alice"))).status_code == 200


def test_logout_everywhere_resent_with_the_old_token_answers_the_same_and_ends_nothing_new(
    app, client, make_staff, login_staff
):
    staff = make_staff()
    tokens = login_staff(staff)
    assert client.post(EVERYWHERE, headers=bearer(tokens)).status_code == 204
    fresh = login_staff(staff)
    with app.app_context():
        version = db.session.get_one(StaffAccount, staff.id).token_version
    resent = client.post(EVERYWHERE, headers=bearer(tokens))
    assert resent.status_code == 204
    with app.app_context():
        assert db.session.get_one(StaffAccount, staff.id).token_version == version
    assert client.get("/api/v1/me", headers=bearer(fresh)).status_code == 200  # the new login lives on
    assert client.get("/api/v1/me", headers=bearer(tokens)).status_code == 401  # the old one opens nothing


def test_logout_everywhere_needs_a_login(client):
    assert client.post(EVERYWHERE).status_code == 401


def test_a_disabled_staff_members_token_stops_at_the_next_request(app, client, make_staff, login_staff):
    staff = make_staff()
    tokens = login_staff(staff)
    assert client.get("/api/v1/me", headers=bearer(tokens)).status_code == 200
    with app.app_context():
        db.session.get_one(StaffAccount, staff.id).active = False
        db.session.commit()
    me = client.get("/api/v1/me", headers=bearer(tokens))
    assert me.status_code == 401
    assert me.get_json()["error"]["code"] == "ACCOUNT_DISABLED"


def test_a_token_of_an_older_version_is_refused(app, client, make_staff, login_staff):
    staff = make_staff()
    tokens = login_staff(staff)
    with app.app_context():
        db.session.get_one(StaffAccount, staff.id).token_version += 1
        db.session.commit()
    assert (
        client.get("/api/v1/me", headers=bearer(tokens)).get_json()["error"]["code"] == "TOKEN_INVALID_LOGIN"
    )
