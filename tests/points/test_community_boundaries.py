"""Communities stay apart (F3): a transaction is undone only by staff of the community it was booked to,
and a member's points are adjusted only by staff of where the member is now."""

import re

import pytest
from sqlalchemy import select

from points import services
from points.models import LedgerEntry, LedgerTransaction
from server.db import db
from server.errors import NotFound
from server.users.models import User
from store.models import Redemption
from tests.conftest import bearer, points_of
from tests.store.flows import redeem


def _move(app, user_id, community_id):
    """The member lives in another community now (set in the database, not through a move)."""
    with app.app_context():
        db.session.get_one(User, user_id).community_id = community_id
        db.session.commit()


def _ledger(app):
    """Every transaction and entry, to show that nothing moved."""
    with app.app_context():
        transactions = db.session.execute(
            select(
                LedgerTransaction.id,
                LedgerTransaction.kind,
                LedgerTransaction.amount,
                LedgerTransaction.community_id,
                LedgerTransaction.reverses_id,
            ).order_by(LedgerTransaction.id)
        ).all()
        entries = db.session.execute(
            select(LedgerEntry.transaction_id, LedgerEntry.account_id, LedgerEntry.amount).order_by(
                LedgerEntry.id
            )
        ).all()
        return [tuple(t) for t in transactions], [tuple(e) for e in entries]


def _transaction_of(app, user_id, kind):
    with app.app_context():
        found = db.session.scalars(
            select(LedgerTransaction.id).where(
                LedgerTransaction.user_id == user_id, LedgerTransaction.kind == kind
            )
        ).all()
        assert len(found) == 1, found
        return found[0]


def _reverse(client, transaction_id, headers):
    return client.post(
        f"/api/v1/points/transactions/{transaction_id}/reverse", json={"reason": "refund"}, headers=headers
    )


@pytest.mark.postgres
def test_staff_of_the_community_a_member_moved_to_cannot_reverse_the_old_communitys_capture(
    app, client, member, item, make_staff, login_staff, org_tree
):
    """The attack of F3: redeemed and picked up in C01, the member moves to C02, C02's staff refund it."""
    c1_staff = bearer(login_staff(make_staff(org="C1")))
    c2_staff = bearer(login_staff(make_staff(org="C2")))
    tokens = member(30)  # opened with 30 points by C1's staff
    user_id = tokens["user"]["id"]
    item_id = item("C1", points_price=20)
    redemption = redeem(client, tokens, item_id)
    approved = client.post(f"/api/v1/redemptions/{redemption['id']}/approve", headers=c1_staff).get_json()
    picked = client.post(
        "/api/v1/redemptions/pickup", json={"pickup_code": approved["pickup_code"]}, headers=c1_staff
    )
    assert picked.get_json()["status"] == "picked_up"
    capture_id = _transaction_of(app, user_id, "capture")
    opening_id = _transaction_of(app, user_id, "adjust")
    _move(app, user_id, org_tree["C2"].id)
    before = (points_of(client, tokens), _ledger(app))
    assert before[0] == {"available": 10, "held": 0, "earned_total": 30, "spent_total": 20}

    for transaction_id in (capture_id, opening_id):
        refused = _reverse(client, transaction_id, c2_staff)
        # As if there were no such transaction: C02's staff learn nothing about C01's ledger.
        assert (refused.status_code, refused.get_json().get("error", {}).get("code")) == (
            404,
            "TRANSACTION_NOT_FOUND",
        ), refused.get_json()
    unknown = _reverse(client, 999_999, c2_staff)
    assert (unknown.status_code, unknown.get_json()["error"]["code"]) == (404, "TRANSACTION_NOT_FOUND")
    assert (points_of(client, tokens), _ledger(app)) == before

    # C01's staff still can: the transaction is on C01's ledger, wherever the member lives now.
    reversed_ = _reverse(client, capture_id, c1_staff)
    assert reversed_.status_code == 201, reversed_.get_json()
    assert (reversed_.get_json()["kind"], reversed_.get_json()["amount"]) == ("reverse", 20)
    assert points_of(client, tokens) == {"available": 30, "held": 0, "earned_total": 30, "spent_total": 0}
    with app.app_context():
        reversal = db.session.scalars(
            select(LedgerTransaction).where(LedgerTransaction.reverses_id == capture_id)
        ).one()
        assert reversal.community_id == org_tree["C1"].id
        assert db.session.get_one(Redemption, redemption["id"]).status == "picked_up"


def test_staff_above_the_community_reverse_and_staff_beside_it_do_not(
    app, in_app, make_member, staff_principal, org_tree
):
    user_id = make_member("C1")
    with in_app():
        opened = services.adjust(staff_principal(org="C1"), user_id, 10, "开户").transaction_id
    assert opened is not None
    _move(app, user_id, org_tree["C3"].id)  # under another street
    with in_app():
        for outsider in (staff_principal(org="C3"), staff_principal(role="admin", org="S2")):
            with pytest.raises(NotFound) as refused:
                services.reverse_as_staff(outsider, opened, "x")
            assert refused.value.code == "TRANSACTION_NOT_FOUND"
        street = staff_principal(role="admin", org="S1")
        assert services.reverse_as_staff(street, opened, "录错了").status == "done"


def test_adjusting_takes_staff_of_the_members_community_now(
    app, client, member, make_staff, login_staff, org_tree
):
    tokens = member(30)
    user_id = tokens["user"]["id"]
    c1_staff = bearer(login_staff(make_staff(org="C1")))
    c2_staff = bearer(login_staff(make_staff(org="C2")))
    _move(app, user_id, org_tree["C2"].id)
    before = (points_of(client, tokens), _ledger(app))
    body = {"user_id": user_id, "amount": -10, "reason": "扣回"}
    refused = client.post("/api/v1/points/adjustments", json=body, headers=c1_staff)
    assert refused.status_code == 403
    assert (points_of(client, tokens), _ledger(app)) == before
    done = client.post(
        "/api/v1/points/adjustments", json=body | {"amount": 5, "reason": "补录"}, headers=c2_staff
    )
    assert done.status_code == 201, done.get_json()
    with app.app_context():
        booked = db.session.get_one(LedgerTransaction, done.get_json()["transaction_id"])
        assert booked.community_id == org_tree["C2"].id


def test_the_console_adjusts_members_of_the_staff_members_community_now(
    app, client, console, member, make_staff, org_tree
):
    tokens = member(30)
    user_id = tokens["user"]["id"]
    old = console(make_staff(org="C1"))
    token = re.search(
        r'name="adjust_token" value="([0-9a-f]{32})"',
        old.get(f"/console/members/{user_id}").get_data(as_text=True),
    )
    assert token is not None
    _move(app, user_id, org_tree["C2"].id)
    before = (points_of(client, tokens), _ledger(app))
    assert old.get(f"/console/members/{user_id}").status_code == 403
    form = {"adjust_token": token[1], "amount": "-30", "reason": "扣回"}
    page = old.post(f"/console/members/{user_id}/adjust", form, follow_redirects=True)
    assert page.status_code == 403
    assert "没有权限执行此操作（FORBIDDEN）" in page.get_data(as_text=True)
    assert (points_of(client, tokens), _ledger(app)) == before
    new = console(make_staff(org="C2"))
    token = re.search(
        r'name="adjust_token" value="([0-9a-f]{32})"',
        new.get(f"/console/members/{user_id}").get_data(as_text=True),
    )
    assert token is not None
    form = {"adjust_token": token[1], "amount": "+5", "reason": "补录"}
    done = new.post(f"/console/members/{user_id}/adjust", form, follow_redirects=True).get_data(as_text=True)
    assert "已调整 +5 积分" in done
    assert points_of(client, tokens)["available"] == 35
