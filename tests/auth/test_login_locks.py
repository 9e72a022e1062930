"""F15: one answer for unknown, wrong and locked; locks per (account, address); unlock codes after many."""

import re
import threading
from collections import Counter

import pytest

from server.audit import services as audit
from server.auth.services import MAX_FAILED_LOGINS
from server.db import db
from server.users.models import StaffAccount
from tests.conftest import CSRF_TOKEN

STAFF_LOGIN = "/api/v1/auth/staff"


def _login(client, username, password, address="127.0.0.1", **extra):
    return client.post(
        STAFF_LOGIN,
        json={"username": username, "password": password, **extra},
        environ_overrides={"REMOTE_ADDR": address},
    )


@pytest.fixture(autouse=True)
def _no_rate_limit(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_PER_ADDRESS", "1000 per minute")


def test_unknown_wrong_and_locked_answer_the_same_body(client, make_staff):
    staff = make_staff()
    for _ in range(MAX_FAILED_LOGINS):
        _login(client, staff.username, "wrong-one", address="10.0.0.9")
    unknown = _login(client, "ghost", "wrong-one")
    wrong = _login(client, staff.username, "wrong-one")
    locked = _login(client, staff.username, staff.password, address="10.0.0.9")  # even the right one
    assert unknown.status_code == wrong.status_code == locked.status_code == 401
    assert unknown.get_json() == wrong.get_json() == locked.get_json()
    assert locked.get_json()["error"]["code"] == "INVALID_CREDENTIALS"


def test_a_lock_from_one_address_does_not_stop_the_right_password_from_another(client, make_staff):
    staff = make_staff(role="admin", org="D1")
    for _ in range(MAX_FAILED_LOGINS):
        assert _login(client, staff.username, "guess", address="203.0.113.7").status_code == 401
    assert _login(client, staff.username, staff.password, address="203.0.113.7").status_code == 401
    assert _login(client, staff.username, staff.password, address="198.51.100.2").status_code == 200


@pytest.mark.postgres
def test_forty_parallel_wrong_passwords_from_one_address_take_exactly_five_tries(app, make_staff):
    staff = make_staff()
    codes: list[str] = []
    barrier = threading.Barrier(40)

    def guess(i):
        racer = app.test_client()
        barrier.wait()
        codes.append(
            _login(racer, staff.username, f"wrong-{i}", address="192.0.2.1").get_json()["error"]["code"]
        )

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(codes) == {"INVALID_CREDENTIALS": 40}
    with app.app_context():
        assert db.session.get_one(StaffAccount, staff.id).failed_logins == MAX_FAILED_LOGINS  # five checked
    assert _login(app.test_client(), staff.username, staff.password, address="192.0.2.1").status_code == 401


def _fail_from_many_addresses(client, username, count):
    for i in range(count):
        assert _login(client, username, "guess", address=f"10.1.{i // 4}.{i % 4}").status_code == 401


def test_many_failures_from_many_addresses_ask_the_right_password_for_an_unlock_code(app, client, make_staff):
    staff = make_staff()
    _fail_from_many_addresses(client, staff.username, app.config["STAFF_UNLOCK_CODE_AFTER"])
    right = _login(client, staff.username, staff.password, address="198.51.100.20")
    assert right.status_code == 401
    assert right.get_json()["error"]["code"] == "UNLOCK_CODE_REQUIRED"
    wrong = _login(client, staff.username, "still-guessing", address="198.51.100.21")
    assert wrong.get_json()["error"]["code"] == "INVALID_CREDENTIALS"  # a guesser learns nothing
    with app.app_context():
        assert [e.actor_kind for e in audit.entries_about("staff", staff.id, "staff.locked")] == ["system"]


def _make_code(app, console, admin, staff_id):
    page = console(admin).post(f"/console/staff/{staff_id}/unlock-code")
    assert page.status_code == 200
    found = re.search(r'id="unlock-code">([A-Z0-9]{8})<', page.get_data(as_text=True))
    assert found is not None
    return found[1]


def test_an_admins_code_lets_the_right_password_in_once(app, client, make_staff, console):
    staff, admin = make_staff(org="C1"), make_staff(role="admin", org="S1")
    _fail_from_many_addresses(client, staff.username, app.config["STAFF_UNLOCK_CODE_AFTER"])
    code = _make_code(app, console, admin, staff.id)
    wrong_password = _login(client, staff.username, "guess", unlock_code=code, address="198.51.100.30")
    assert wrong_password.get_json()["error"]["code"] == "INVALID_CREDENTIALS"  # a code needs the password
    assert (
        _login(client, staff.username, staff.password, unlock_code=code, address="198.51.100.30").status_code
        == 200
    )
    with app.app_context():
        row = db.session.get_one(StaffAccount, staff.id)
        assert row.unlock_required is False
        assert audit.entries_about("staff", staff.id, "staff.unlocked")
        assert audit.entries_about("staff", staff.id, "staff.unlock_requested")[0].actor_id == admin.id
    # Locked again: the spent code does not open it a second time.
    _fail_from_many_addresses(client, staff.username, app.config["STAFF_UNLOCK_CODE_AFTER"])
    reused = _login(client, staff.username, staff.password, unlock_code=code, address="198.51.100.31")
    assert reused.get_json()["error"]["code"] == "UNLOCK_CODE_REQUIRED"


def test_the_console_login_form_takes_the_unlock_code(app, client, make_staff, console):
    staff, admin = make_staff(org="C1"), make_staff(role="admin", org="D1")
    _fail_from_many_addresses(client, staff.username, app.config["STAFF_UNLOCK_CODE_AFTER"])
    browser = app.test_client()
    found = CSRF_TOKEN.search(browser.get("/console/login").get_data(as_text=True))
    assert found is not None
    token = found[1]
    form = {"username": staff.username, "password": staff.password, "csrf_token": token}
    asked = browser.post("/console/login", data=form)
    assert asked.status_code == 401
    assert 'name="unlock_code"' in asked.get_data(as_text=True)
    code = _make_code(app, console, admin, staff.id)
    assert browser.post("/console/login", data={**form, "unlock_code": code}).status_code == 302


def test_staff_cannot_make_unlock_codes_and_admins_only_for_their_subtree(app, make_staff, console):
    staff, other = make_staff(org="C1"), make_staff(org="C3")
    assert console(staff).get("/console/staff").status_code == 403
    admin = console(make_staff(role="admin", org="S1"))
    listed = admin.get("/console/staff").get_data(as_text=True)
    assert staff.username in listed and other.username not in listed
    admin.post(f"/console/staff/{other.id}/unlock-code")
    with app.app_context():
        assert audit.entries_about("staff", other.id, "staff.unlock_requested") == []


def test_flask_staff_unlock_prints_a_code_that_works_once(app, client, make_staff):
    staff = make_staff()
    _fail_from_many_addresses(client, staff.username, app.config["STAFF_UNLOCK_CODE_AFTER"])
    result = app.test_cli_runner().invoke(args=["staff", "unlock", staff.username])
    assert result.exit_code == 0, result.output
    code = result.output.split(": ", 1)[1].split()[0]
    assert (
        _login(client, staff.username, staff.password, unlock_code=code, address="198.51.100.40").status_code
        == 200
    )
    assert _login(client, staff.username, staff.password, address="198.51.100.41").status_code == 200
