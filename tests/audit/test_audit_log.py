"""The audit log: sensitive writes leave one row each, nobody rewrites a row, old rows go, admins read it."""

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from server.audit import services as audit
from server.audit.models import AuditEntry
from server.db import db, is_postgres
from tests.conftest import bearer


def _entries(app, action):
    with app.app_context():
        return [
            (e.actor_kind, e.actor_id, e.subject_kind, e.subject_id, e.community_id, e.detail)
            for e in db.session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        ]


def test_an_adjustment_and_its_reversal_are_audited_once_each(
    app, client, member, make_staff, login_staff, org_tree
):
    tokens = member(0, nickname="王阿姨")
    user_id = tokens["user"]["id"]
    staff = make_staff(org="C1")
    staff_tokens = login_staff(staff)
    body = {"user_id": user_id, "amount": 7, "reason": "补录"}
    headers = {**bearer(staff_tokens), "Idempotency-Key": "adj-1"}
    first = client.post("/api/v1/points/adjustments", json=body, headers=headers)
    assert first.status_code == 201, first.get_json()
    resend = client.post("/api/v1/points/adjustments", json=body, headers=headers)
    assert resend.get_json() == first.get_json()
    transaction_id = first.get_json()["transaction_id"]
    assert _entries(app, "points.adjusted") == [
        (
            "staff",
            staff.id,
            "user",
            user_id,
            org_tree["C1"].id,
            {"amount": 7, "reason": "补录", "transaction_id": transaction_id},
        )
    ]
    reversed_ = client.post(
        f"/api/v1/points/transactions/{transaction_id}/reverse",
        json={"reason": "错发"},
        headers=bearer(staff_tokens),
    )
    assert reversed_.status_code in (200, 201), reversed_.get_json()
    again = client.post(
        f"/api/v1/points/transactions/{transaction_id}/reverse",
        json={"reason": "错发"},
        headers=bearer(staff_tokens),
    )
    assert again.status_code == 409
    [(kind, actor, subject_kind, subject_id, community, detail)] = _entries(app, "points.reversed")
    assert (kind, actor, subject_kind, subject_id, community) == (
        "staff",
        staff.id,
        "transaction",
        transaction_id,
        org_tree["C1"].id,
    )
    assert detail["reason"] == "错发"


def test_a_refused_adjustment_leaves_no_audit_row(app, client, member, make_staff, login_staff):
    tokens = member(0)
    staff_tokens = login_staff(make_staff(org="C1"))
    refused = client.post(
        "/api/v1/points/adjustments",
        json={"user_id": tokens["user"]["id"], "amount": -5, "reason": "扣分"},
        headers=bearer(staff_tokens),
    )
    assert refused.status_code == 409
    assert _entries(app, "points.adjusted") == []


def test_unknown_actions_are_refused(app):
    with app.test_request_context(), pytest.raises(ValueError, match="unknown audit action"):
        audit.record("points.gifted", None)


def test_an_entry_cannot_be_rewritten_on_postgresql(app):
    with app.app_context():
        if not is_postgres():
            pytest.skip("the append-only trigger is PostgreSQL's")
        entry = audit.record("member.search", None, detail={"query": "王"})
        db.session.commit()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(
                update(AuditEntry).where(AuditEntry.id == entry.id).values(detail={"query": "李"})
            )
        db.session.rollback()
        assert (
            db.session.scalar(text("SELECT detail->>'query' FROM audit_log WHERE id = :id"), {"id": entry.id})
            == "王"
        )


def test_entries_older_than_the_retention_are_purged_daily(app, clock):
    from server.audit.jobs import purge_audit_log

    with app.app_context():
        audit.record("member.search", None, detail={"query": "old"})
        db.session.commit()
    clock.now += timedelta(days=app.config["AUDIT_RETENTION_DAYS"] - 1)
    with app.app_context():
        audit.record("member.search", None, detail={"query": "recent"})
        db.session.commit()
        assert purge_audit_log() == "purged 0"
    clock.now += timedelta(days=2)
    with app.app_context():
        assert purge_audit_log() == "purged 1"
        db.session.commit()
        kept = [e.detail["query"] for e in db.session.scalars(select(AuditEntry))]
    assert kept == ["recent"]


def test_admins_read_their_subtree_of_the_log_and_staff_cannot(
    app, client, console, member, make_staff, login_staff, org_tree
):
    c1 = member(0, name="c1", community="C1")
    c3 = member(0, name="c3", community="C3")
    for tokens, org in ((c1, "C1"), (c3, "C3")):
        staff_tokens = login_staff(make_staff(org=org))
        done = client.post(
            "/api/v1/points/adjustments",
            json={"user_id": tokens["user"]["id"], "amount": 3, "reason": f"补录{org}"},
            headers=bearer(staff_tokens),
        )
        assert done.status_code == 201
    street_admin = console(make_staff(role="admin", org="S1"))
    page = street_admin.get("/console/audit").get_data(as_text=True)
    assert "补录C1" in page and "补录C3" not in page
    assert "积分调整" in page
    filtered = street_admin.get("/console/audit?action=member.search").get_data(as_text=True)
    assert "补录C1" not in filtered
    district_admin = console(make_staff(role="admin", org="D1"))
    everything = district_admin.get("/console/audit").get_data(as_text=True)
    assert "补录C1" in everything and "补录C3" in everything
    assert "审计日志" in district_admin.get("/console/").get_data(as_text=True)
    plain = console(make_staff(role="staff", org="D1"))
    assert plain.get("/console/audit").status_code == 403
    assert "审计日志" not in plain.get("/console/").get_data(as_text=True)
