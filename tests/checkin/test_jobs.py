"""The closing job and the reminders."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from checkin import checkins
from checkin.jobs import close_open_checkins, remind_signed_up
from checkin.models import CheckIn
from points.services import balance_of
from server.db import db
from server.notifications.models import OutboxMessage
from tests.checkin.conftest import START
from tests.checkin.test_checkins import _checkout, _scan
from tests.conftest import bearer


@pytest.fixture
def volunteering(client, make_staff, login_staff, org_tree):
    staff = bearer(login_staff(make_staff(org="C1")))
    body = {
        "community_id": org_tree["C1"].id,
        "title": "清洁家园",
        "kind": "volunteer",
        "place": "小区东门",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "points_rule": "VOLUNTEER_HOUR",
        "hours_count": True,
    }
    return client.post("/api/v1/activities", json=body, headers=staff).get_json()["id"]


def test_a_check_in_left_open_is_closed_at_the_end_and_flagged(app, client, clock, volunteering, login_user):
    member = login_user()
    checkin_id = _scan(client, member, volunteering, clock, "nonce-left-open").get_json()["id"]
    clock.now = START + timedelta(hours=1)
    with app.app_context():
        assert close_open_checkins() == 0  # still inside the window
    clock.now = START + timedelta(hours=6)
    with app.app_context():
        assert close_open_checkins() == 1
        assert close_open_checkins() == 0
        checkin = db.session.get_one(CheckIn, checkin_id)
        # Presence was proven only at the check-in: no hours without a check-out by the place's code.
        assert (checkin.status, checkin.minutes, checkin.flags) == ("auto_closed", 0, ["left_open"])
        assert (checkin.points_awarded, balance_of(member["user"]["id"]).available) == (0, 0)


def test_staff_can_still_record_the_exit_of_one_left_open(
    app, client, clock, volunteering, login_user, staff
):
    member = login_user()
    checkin_id = _scan(client, member, volunteering, clock, "nonce-left-fixed").get_json()["id"]
    clock.now = START + timedelta(hours=6)
    with app.app_context():
        assert close_open_checkins() == 1
    item = {
        "user_id": member["user"]["id"],
        "activity_id": volunteering,
        "kind": "out",
        "at": (START + timedelta(hours=1, minutes=30)).isoformat(),
        "nonce": "fix-exit-0001",
    }
    sent = client.post("/api/v1/checkins/batch", json={"device_id": "desk", "items": [item]}, headers=staff)
    assert sent.get_json()["items"][0]["result"] == "accepted"
    with app.app_context():
        checkin = db.session.get_one(CheckIn, checkin_id)
        # a staff device saw them leave at 11:30: 90 minutes proven, at 2 points an hour
        assert (checkin.status, checkin.minutes, checkin.points_awarded) == ("closed", 90, 3)
        assert balance_of(member["user"]["id"]).available == 3


def test_a_check_in_that_fails_to_close_does_not_stop_the_sweep(
    app, client, clock, volunteering, login_user, monkeypatch, caplog
):
    members = [login_user(f"sweeper{i}") for i in range(3)]
    ids = [
        _scan(client, m, volunteering, clock, f"nonce-sweep-{i}").get_json()["id"]
        for i, m in enumerate(members)
    ]
    unlucky = members[1]["user"]["id"]

    close = checkins.close_checkin

    def close_failing_for_one_member(checkin, *args, **kwargs):
        if checkin.user_id == unlucky:
            raise RuntimeError("the ledger failed for this member")
        return close(checkin, *args, **kwargs)

    monkeypatch.setattr(checkins, "close_checkin", close_failing_for_one_member)
    clock.now = START + timedelta(hours=6)
    with app.app_context():
        assert close_open_checkins() == 2  # the others are closed all the same
        statuses = [db.session.get_one(CheckIn, checkin_id).status for checkin_id in ids]
        assert statuses == ["auto_closed", "open", "auto_closed"]
    assert f"auto-close of check-in {ids[1]} failed; it stays due for the next run" in caplog.text
    monkeypatch.setattr(checkins, "close_checkin", close)
    with app.app_context():
        assert close_open_checkins() == 1  # it stayed due, and closes on the next run
        checkin = db.session.get_one(CheckIn, ids[1])
        assert (checkin.status, checkin.minutes, checkin.flags) == ("auto_closed", 0, ["left_open"])


def test_a_sweep_that_overlaps_another_closes_each_check_in_once(
    app, client, clock, volunteering, login_user
):
    member = login_user("overlapped")
    checkin_id = _scan(client, member, volunteering, clock, "nonce-overlap").get_json()["id"]
    clock.now = START + timedelta(hours=6)
    with app.app_context():
        due = checkins.checkins_to_close(clock.now)  # what a second, overlapping sweep read
        assert close_open_checkins() == 1
        assert [checkins.close_left_open(i, at) for i, at in due.items()] == [False]
        db.session.commit()
        checkin = db.session.get_one(CheckIn, checkin_id)
        assert (checkin.status, checkin.flags) == ("auto_closed", ["left_open"])


@pytest.mark.postgres
def test_a_check_out_racing_the_closing_job_counts_hours_once(app, client, clock, volunteering, login_user):
    members = [login_user(f"racer{i}") for i in range(5)]
    ids = [
        _scan(client, m, volunteering, clock, f"nonce-race-{i}").get_json()["id"]
        for i, m in enumerate(members)
    ]
    clock.now = START + timedelta(hours=3)
    codes = [("activity", volunteering)] * len(members)
    barrier = threading.Barrier(len(members) + 1)
    errors: list[BaseException] = []

    def member_leaves(i):
        racer = app.test_client()
        barrier.wait()
        response = _checkout(racer, members[i], ids[i], f"out-nonce-{i}", code=codes[i])
        if response.status_code != 200:
            errors.append(AssertionError(response.get_json()))

    def job_runs():
        barrier.wait()
        try:
            with app.app_context():
                close_open_checkins()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=member_leaves, args=(i,)) for i in range(len(members))]
    threads.append(threading.Thread(target=job_runs))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with app.app_context():
        # Whoever won closed it once, and the row says what the ledger did: a member's check-out (with
        # the code) two hours and 4 points; the job, which has no proof past the check-in, nothing.
        seen = set()
        for member, checkin_id in zip(members, ids, strict=True):
            checkin = db.session.get_one(CheckIn, checkin_id)
            row = (checkin.status, checkin.minutes, checkin.points_awarded)
            assert row in {("closed", 120, 4), ("auto_closed", 0, 0)}
            assert balance_of(member["user"]["id"]).available == checkin.points_awarded
            seen.add(checkin.status)
        assert seen <= {"closed", "auto_closed"}


def test_signed_up_members_are_reminded_an_hour_before_once(app, client, clock, volunteering, login_user):
    member = login_user()
    clock.now = START - timedelta(days=1)
    assert client.post(f"/api/v1/activities/{volunteering}/signup", headers=bearer(member)).status_code == 201
    with app.app_context():
        assert remind_signed_up() == 0  # a day before: not yet
    clock.now = START - timedelta(minutes=50)
    with app.app_context():
        assert remind_signed_up() == 1
        assert remind_signed_up() == 0
        [message] = db.session.scalars(select(OutboxMessage)).all()
        assert (message.event, message.user_id) == ("activity.reminder", member["user"]["id"])
        assert message.payload["place"] == "小区东门"
