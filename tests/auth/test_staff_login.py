"""POST /api/v1/auth/staff: passwords, lockout, rate limits."""

from server.auth.services import MAX_FAILED_LOGINS
from server.users.models import StaffAccount
from tests.conftest import bearer


def test_staff_log_in_and_see_their_scope(client, make_staff, org_tree):
    staff = make_staff(role="admin", org="S1")
    response = client.post(
        "/api/v1/auth/staff", json={"username": staff.username, "password": staff.password}
    )
    assert response.status_code == 200
    me = client.get("/api/v1/me", headers=bearer(response.get_json())).get_json()
    assert me["kind"] == "staff"
    assert me["roles"] == ["admin"]
    assert me["org"]["code"] == "S1"
    assert me["community_id"] is None


def test_a_community_staff_member_has_that_community(client, make_staff, login_staff, org_tree):
    me = client.get("/api/v1/me", headers=bearer(login_staff(make_staff(org="C2")))).get_json()
    assert me["community_id"] == org_tree["C2"].id


def test_a_wrong_password_and_an_unknown_user_look_the_same(client, make_staff):
    staff = make_staff()
    wrong = client.post("/api/v1/auth/staff", json={"username": staff.username, "password": "nope-nope"})
    unknown = client.post("/api/v1/auth/staff", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["error"] == unknown.get_json()["error"]
    assert wrong.get_json()["error"]["code"] == "INVALID_CREDENTIALS"


def test_repeated_failures_lock_the_account(client, make_staff, db_session):
    staff = make_staff()
    for _ in range(MAX_FAILED_LOGINS):
        assert (
            client.post("/api/v1/auth/staff", json={"username": staff.username, "password": "x"}).status_code
            == 401
        )
    locked = client.post("/api/v1/auth/staff", json={"username": staff.username, "password": staff.password})
    assert locked.status_code == 401
    assert locked.get_json()["error"]["code"] == "ACCOUNT_LOCKED"
    assert db_session.get(StaffAccount, staff.id).locked_until is not None


def test_a_success_resets_the_failure_count(client, make_staff, db_session):
    staff = make_staff()
    for _ in range(MAX_FAILED_LOGINS - 1):
        client.post("/api/v1/auth/staff", json={"username": staff.username, "password": "x"})
    ok = client.post("/api/v1/auth/staff", json={"username": staff.username, "password": staff.password})
    assert ok.status_code == 200
    assert db_session.get(StaffAccount, staff.id).failed_logins == 0


def test_a_disabled_account_cannot_log_in(client, make_staff, db_session):
    staff = make_staff()
    db_session.get(StaffAccount, staff.id).active = False
    db_session.commit()
    response = client.post(
        "/api/v1/auth/staff", json={"username": staff.username, "password": staff.password}
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "ACCOUNT_DISABLED"


def test_staff_login_is_rate_limited_per_username(app, client, make_staff):
    staff = make_staff()
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    try:
        statuses = [
            client.post("/api/v1/auth/staff", json={"username": staff.username, "password": "x"}).status_code
            for _ in range(3)
        ]
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "10 per minute"
    assert statuses == [401, 401, 429]


def test_passwords_are_stored_as_argon2(make_staff, db_session):
    staff = make_staff()
    stored = db_session.get(StaffAccount, staff.id).password_hash
    assert stored.startswith("$argon2id$")
    assert staff.password not in stored
