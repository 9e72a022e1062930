"""Offline batches: nonces, earliest entry and latest exit, settlement, a result per item."""

from datetime import timedelta

import pytest

from tests.checkin.conftest import START
from tests.conftest import bearer


@pytest.fixture
def setup(client, login_staff, make_staff, org_tree, login_user):
    staff = bearer(login_staff(make_staff(org="C1")))
    body = {
        "community_id": org_tree["C1"].id,
        "title": "志愿服务",
        "kind": "volunteer",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "points_rule": "VOLUNTEER_HOUR",
        "hours_count": True,
        "capacity": 2,
    }
    activity_id = client.post("/api/v1/activities", json=body, headers=staff).get_json()["id"]
    members = [login_user(f"offline{i}")["user"]["id"] for i in range(3)]
    return staff, activity_id, members


def _item(activity_id, user_id, kind, minutes, nonce):
    return {
        "user_id": user_id,
        "activity_id": activity_id,
        "kind": kind,
        "at": (START + timedelta(minutes=minutes)).isoformat(),
        "nonce": nonce,
    }


def _send(client, staff, items, device="pad-1"):
    response = client.post(
        "/api/v1/checkins/batch", json={"device_id": device, "items": items}, headers=staff
    )
    assert response.status_code == 200, response.get_json()
    return [(r["result"], r.get("code")) for r in response.get_json()["items"]]


def test_a_batch_with_duplicates_and_conflicts(client, clock, setup):
    staff, activity_id, (a, b, c) = setup
    clock.now = START + timedelta(hours=3)
    results = _send(
        client,
        staff,
        [
            _item(activity_id, a, "in", 10, "batch-item-01"),
            _item(activity_id, a, "in", 5, "batch-item-02"),  # earlier: the entry moves back
            _item(activity_id, a, "in", 20, "batch-item-03"),  # later: a duplicate
            _item(activity_id, b, "out", 30, "batch-item-04"),  # never came in
            _item(activity_id, b, "in", 0, "batch-item-05"),
            _item(activity_id, c, "in", 0, "batch-item-06"),  # over capacity (2)
            _item(activity_id, a, "out", 65, "batch-item-07"),
            _item(activity_id, a, "out", 95, "batch-item-08"),  # later exit: wins, hours topped up
            _item(activity_id, a, "out", 70, "batch-item-09"),  # earlier exit: a duplicate
            _item(activity_id, a, "in", 10, "batch-item-01"),  # the same nonce again
        ],
    )
    assert results == [
        ("accepted", None),
        ("accepted", None),
        ("duplicate", None),
        ("refused", "NOT_CHECKED_IN"),
        ("accepted", None),
        ("refused", "ACTIVITY_FULL"),
        ("accepted", None),
        ("accepted", None),
        ("duplicate", None),
        ("duplicate", None),
    ]
    resent = _send(client, staff, [_item(activity_id, a, "out", 95, "batch-item-08")])
    assert resent == [("duplicate", None)]


def test_hours_follow_the_earliest_entry_and_the_latest_exit(app, client, clock, setup, login_user):
    staff, activity_id, (a, _, _) = setup
    clock.now = START + timedelta(hours=5, minutes=1)  # uploaded after the last scan (no time ahead of now)
    _send(
        client,
        staff,
        [
            _item(activity_id, a, "in", -60, "hours-item-1"),  # clamped to the window's opening
            _item(activity_id, a, "out", 60, "hours-item-2"),
            _item(activity_id, a, "out", 300, "hours-item-3"),
        ],
    )  # clamped to the end
    from points.services import balance_of

    with app.app_context():
        # 30 min before the start to the end: 150 minutes at 2 points an hour (90 minutes, then 60 more)
        assert balance_of(a).available == 5


def test_items_after_settlement_are_refused(client, clock, setup):
    staff, activity_id, (a, _, _) = setup
    clock.now = START + timedelta(hours=2) + timedelta(hours=24, minutes=1)
    assert _send(client, staff, [_item(activity_id, a, "in", 10, "late-item-01")]) == [("refused", "SETTLED")]


def test_staff_of_another_community_are_refused_per_item(client, clock, setup, make_staff, login_staff):
    _, activity_id, (a, _, _) = setup
    other = bearer(login_staff(make_staff(org="C2")))
    assert _send(client, other, [_item(activity_id, a, "in", 10, "other-item-01")]) == [
        ("refused", "FORBIDDEN")
    ]


def test_an_item_names_its_member_once(client, clock, setup):
    staff, activity_id, (a, _, _) = setup
    bad = {**_item(activity_id, a, "in", 10, "both-item-01"), "member_token": "x"}
    response = client.post("/api/v1/checkins/batch", json={"device_id": "pad", "items": [bad]}, headers=staff)
    assert response.status_code == 422


# --- attribution and the offline window (security review F12) ---------------------------------------


def test_each_item_and_its_check_in_and_award_record_the_staff_account_and_device(
    app, client, clock, setup, make_staff, login_staff
):
    from checkin.models import BatchItem, CheckIn
    from points.models import LedgerTransaction
    from server.db import db
    from server.users.models import StaffAccount

    staff, activity_id, (a, _, _) = setup
    clock.now = START + timedelta(hours=3)
    _send(
        client,
        staff,
        [_item(activity_id, a, "in", 0, "who-item-01"), _item(activity_id, a, "out", 90, "who-item-02")],
        device="pad-7",
    )
    with app.app_context():
        staff_ids = set(db.session.scalars(db.select(StaffAccount.id)))
        items = db.session.scalars(db.select(BatchItem).order_by(BatchItem.id)).all()
        assert [(i.staff_id in staff_ids, i.device_id) for i in items] == [(True, "pad-7"), (True, "pad-7")]
        checkin = db.session.scalars(db.select(CheckIn)).one()
        assert (checkin.source, checkin.staff_id, checkin.device_id) == ("batch", items[0].staff_id, "pad-7")
        awards = db.select(LedgerTransaction).where(LedgerTransaction.kind == "award")
        award = db.session.scalars(awards).one()
        assert award.actor_staff_id == items[0].staff_id


def test_a_member_code_counts_only_at_a_moment_within_its_own_life(app, client, clock, setup):
    from checkin.tokens import issue_token

    staff, activity_id, (a, b, _) = setup
    shown = START + timedelta(minutes=10)
    with app.app_context():
        code = issue_token("member", a, now=shown.timestamp()).token
        other = issue_token("member", b, now=shown.timestamp()).token
    clock.now = START + timedelta(hours=3)

    def scanned(token, at, nonce):
        item = {"member_token": token, "activity_id": activity_id, "kind": "in", "at": at.isoformat()}
        return {**item, "nonce": nonce}

    results = _send(
        client,
        staff,
        [
            # back-dating the scan long after the code was shown does not revive it
            scanned(code, START + timedelta(minutes=40), "life-item-01"),
            scanned(code, shown + timedelta(seconds=30), "life-item-02"),  # scanned while it was shown
            scanned(other, shown - timedelta(minutes=5), "life-item-03"),  # before it was issued
        ],
    )
    assert results == [("refused", "TOKEN_EXPIRED"), ("accepted", None), ("refused", "TOKEN_EXPIRED")]


def test_items_older_than_a_day_or_ahead_of_the_clock_are_refused(client, clock, setup):
    staff, activity_id, (a, b, _) = setup
    clock.now = START + timedelta(hours=26)  # within the settlement (ends + 24 h) but the scan is 26 h old
    assert _send(client, staff, [_item(activity_id, a, "in", 0, "old-item-001")]) == [
        ("refused", "OFFLINE_TOO_OLD")
    ]
    clock.now = START + timedelta(minutes=30)
    assert _send(client, staff, [_item(activity_id, b, "in", 40, "ahead-item-01")]) == [
        ("refused", "AT_IN_FUTURE")
    ]
