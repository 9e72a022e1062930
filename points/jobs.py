"""Jobs of points, taking ids or dates and safe to run twice."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import aliased

from points.ledger import month_start
from points.models import Account, LedgerEntry, LedgerTransaction, PointsEarning, Redemption
from points.services import expire_user_points, users_with_points
from server.db import db, utcnow
from server.jobs import job, periodic


def expire_points(as_of: date | None = None) -> dict[str, int]:
    """Apply the expiry policy to every user with points, one transaction per user."""
    counts = {"users": 0, "expired_points": 0}
    for user_id in users_with_points():
        result = expire_user_points(user_id, as_of)
        if result.status == "refused" and result.code == "EXPIRY_DISABLED":
            db.session.rollback()
            break
        db.session.commit()
        if result.moved:
            counts["users"] += 1
            counts["expired_points"] += result.points
    return counts


def rebuild_earnings() -> int:
    """Recompute the leaderboard summary from the ledger (a repair tool); returns the rows written."""
    original = aliased(LedgerTransaction)
    rows = db.session.execute(
        select(
            LedgerTransaction.user_id,
            LedgerTransaction.community_id,
            LedgerTransaction.kind,
            LedgerTransaction.local_date,
            original.local_date,
            LedgerEntry.amount,
        )
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(Account, (Account.id == LedgerEntry.account_id) & (Account.kind == "available"))
        .outerjoin(original, original.id == LedgerTransaction.reverses_id)
        .where(
            (LedgerTransaction.kind.in_(["award", "adjust"]))
            | ((LedgerTransaction.kind == "reverse") & original.kind.in_(["award", "adjust"]))
        )
    ).all()
    totals: dict[tuple[int, int | None, date], int] = defaultdict(int)
    for user_id, community_id, kind, day, original_day, amount in rows:
        # A reversal counts against the month of what it reverses.
        totals[(user_id, community_id, month_start(original_day if kind == "reverse" else day))] += amount
    db.session.execute(delete(PointsEarning))
    db.session.add_all(
        PointsEarning(user_id=u, community_id=c, month=m, points=p) for (u, c, m), p in totals.items() if c
    )
    db.session.flush()
    return len(totals)


@periodic("expire_redemptions", every=timedelta(hours=1))
@job("low")
def expire_redemptions() -> dict[str, int]:
    """Expire requests left undecided and approvals never picked up, warn a day before (each alone)."""
    from points import store

    now = utcnow()
    request_days = int(current_app.config["STORE_REQUEST_DAYS"])
    pickup_days = int(current_app.config["STORE_PICKUP_DAYS"])
    stale_requests = list(
        db.session.scalars(
            select(Redemption.id).where(
                Redemption.status == "requested", Redemption.created_at < now - timedelta(days=request_days)
            )
        )
    )
    stale_approvals = list(
        db.session.scalars(
            select(Redemption.id).where(
                Redemption.status == "approved", Redemption.decided_at < now - timedelta(days=pickup_days)
            )
        )
    )
    to_warn = list(
        db.session.scalars(
            select(Redemption.id).where(
                Redemption.status == "approved",
                Redemption.expiry_warned_at.is_(None),
                Redemption.decided_at < now - timedelta(days=pickup_days - 1),
            )
        )
    )
    db.session.commit()
    counts = {"requests": 0, "approvals": 0, "warned": 0}
    for redemption_id in stale_requests:
        counts["requests"] += store.expire_request(redemption_id)
        db.session.commit()
    for redemption_id in stale_approvals:
        counts["approvals"] += store.expire_approval(redemption_id)
        db.session.commit()
    for redemption_id in to_warn:
        counts["warned"] += store.warn_expiring(redemption_id)
        db.session.commit()
    return counts
