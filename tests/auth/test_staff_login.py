"""POST /api/v1/auth/staff: passwords, lockout per (account, address), rate limits."""

import threading
from collections import Counter
from datetime import timedelta

import pytest

from server.auth.models import StaffLoginLock
from server.auth.services import MAX_FAILED_LOGINS
from server.db import db
from server.users.models import StaffAccount
from tests.conftest import CSRF_TOKEN, bearer


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


def test_repeated_failures_lock_the_account_from_that_address(app, client, make_staff):
    staff = make_staff()
    for _ in range(MAX_FAILED_LOGINS):
        assert (
            client.post("/api/v1/auth/staff", json={"username": staff.username, "password": "x"}).status_code
            == 401
        )
    locked = client.post("/api/v1/auth/staff", json={"username": staff.username, "password": staff.password})
    assert locked.status_code == 401
    assert locked.get_json()["error"]["code"] == "INVALID_CREDENTIALS"  # a lock says no more than a miss
    assert _staff_row(app, staff.id)[1] is not None


def test_a_success_resets_the_failure_count(app, client, make_staff):
    staff = make_staff()
    for _ in range(MAX_FAILED_LOGINS - 1):
        client.post("/api/v1/auth/staff", json={"username": staff.username, "password": "x"})
    assert _staff_row(app, staff.id) == (MAX_FAILED_LOGINS - 1, None)
    ok = client.post("/api/v1/auth/staff", json={"username": staff.username, "password": staff.password})
    assert ok.status_code == 200
    assert _staff_row(app, staff.id) == (0, None)


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


def test_an_outsider_spending_the_username_budget_does_not_refuse_the_owner_elsewhere(
    app, client, make_staff, monkeypatch
):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    staff = make_staff()
    outsider = {"REMOTE_ADDR": "203.0.113.7"}
    statuses = [
        client.post(
            "/api/v1/auth/staff",
            json={"username": staff.username, "password": "x"},
            environ_base=outsider,
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    owner = client.post(
        "/api/v1/auth/staff",
        json={"username": staff.username, "password": staff.password},
        environ_base={"REMOTE_ADDR": "198.51.100.20"},
    )
    assert owner.status_code == 200


def test_passwords_are_stored_as_argon2(make_staff, db_session):
    staff = make_staff()
    stored = db_session.get(StaffAccount, staff.id).password_hash
    assert stored.startswith("$argon2id$")
    assert staff.password not in stored


# F2: parallel wrong guesses each take one of the five tries, and both login paths share one budget.


def _staff_row(app, staff_id, address="127.0.0.1"):
    """(tries taken, locked_until) of the account from the test client's address; (0, None) when none."""
    with app.app_context():
        row = db.session.scalars(
            db.select(StaffLoginLock).where(
                StaffLoginLock.staff_id == staff_id, StaffLoginLock.address == address
            )
        ).first()
        return (row.failed_logins, row.locked_until) if row is not None else (0, None)


def _checked_passwords(app, staff_id):
    """Wrong passwords of the account that were really checked (the account-wide count)."""
    with app.app_context():
        row = db.session.get(StaffAccount, staff_id)
        assert row is not None
        return row.failed_logins


def _console_form(client, username, password):
    token = CSRF_TOKEN.search(client.get("/console/login").get_data(as_text=True))
    assert token is not None
    return {"username": username, "password": password, "csrf_token": token[1]}


@pytest.mark.postgres
def test_forty_parallel_wrong_passwords_check_only_five_then_lock(app, make_staff, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")  # the lock, not the limiter
    staff = make_staff()
    codes: list[str] = []
    barrier = threading.Barrier(40)

    def guess(i):
        racer = app.test_client()
        barrier.wait()
        response = racer.post(
            "/api/v1/auth/staff", json={"username": staff.username, "password": f"wrong-{i}"}
        )
        assert response.status_code == 401
        codes.append(response.get_json()["error"]["code"])

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(codes) == {"INVALID_CREDENTIALS": 40}  # locked or wrong: the same answer
    failed_logins, locked_until = _staff_row(app, staff.id)
    assert failed_logins == MAX_FAILED_LOGINS
    assert _checked_passwords(app, staff.id) == MAX_FAILED_LOGINS  # only five passwords were checked
    assert locked_until is not None
    right = app.test_client().post(
        "/api/v1/auth/staff", json={"username": staff.username, "password": staff.password}
    )
    assert right.status_code == 401
    assert right.get_json()["error"]["code"] == "INVALID_CREDENTIALS"


@pytest.mark.postgres
def test_forty_parallel_wrong_console_logins_lock_the_account_after_five(app, make_staff, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")
    staff = make_staff()
    statuses: list[int] = []
    barrier = threading.Barrier(40)

    def guess(i):
        racer = app.test_client()
        form = _console_form(racer, staff.username, f"wrong-{i}")
        barrier.wait()
        statuses.append(racer.post("/console/login", data=form).status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [401] * 40
    failed_logins, locked_until = _staff_row(app, staff.id)
    assert failed_logins == MAX_FAILED_LOGINS
    assert _checked_passwords(app, staff.id) == MAX_FAILED_LOGINS
    assert locked_until is not None
    racer = app.test_client()
    right = racer.post("/console/login", data=_console_form(racer, staff.username, staff.password))
    assert right.status_code == 401  # still locked: no session, the form again


def test_a_lock_runs_out_and_gives_five_fresh_tries(app, client, clock, make_staff):
    staff = make_staff()
    for _ in range(MAX_FAILED_LOGINS):
        client.post("/api/v1/auth/staff", json={"username": staff.username, "password": "x"})
    assert _staff_row(app, staff.id)[1] is not None
    clock.now = clock.now + timedelta(minutes=16)
    wrong = client.post("/api/v1/auth/staff", json={"username": staff.username, "password": "x"})
    assert wrong.get_json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert _staff_row(app, staff.id) == (1, None)
    ok = client.post("/api/v1/auth/staff", json={"username": staff.username, "password": staff.password})
    assert ok.status_code == 200
    assert _staff_row(app, staff.id) == (0, None)


@pytest.mark.parametrize("first", ["console", "api"])
def test_console_and_api_logins_share_one_budget_per_username(app, make_staff, monkeypatch, first):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")
    staff = make_staff()

    def console_login(client, password):
        return client.post("/console/login", data=_console_form(client, staff.username, password)).status_code

    def api_login(client, password):
        return client.post(
            "/api/v1/auth/staff", json={"username": staff.username, "password": password}
        ).status_code

    spend, other = (console_login, api_login) if first == "console" else (api_login, console_login)
    assert [spend(app.test_client(), "wrong") for _ in range(3)] == [401, 401, 401]
    assert other(app.test_client(), staff.password) == 429
    assert spend(app.test_client(), staff.password) == 429
    assert _staff_row(app, staff.id)[0] == 3  # the refused ones checked no password


def test_console_and_api_logins_share_one_budget_per_address(app, make_staff, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_PER_ADDRESS", "2 per minute")
    one, two, three = make_staff(), make_staff(), make_staff()
    client = app.test_client()
    assert client.post("/console/login", data=_console_form(client, one.username, "x")).status_code == 401
    assert (
        client.post("/api/v1/auth/staff", json={"username": two.username, "password": "x"}).status_code == 401
    )
    assert (
        client.post(
            "/api/v1/auth/staff", json={"username": three.username, "password": three.password}
        ).status_code
        == 429
    )
    assert (
        client.post("/console/login", data=_console_form(client, three.username, three.password)).status_code
        == 429
    )
