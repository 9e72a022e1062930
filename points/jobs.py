"""Jobs of points, taking ids or dates and safe to run twice."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import aliased

from points.ledger import month_start
from points.models import Account, LedgerEntry, LedgerTransaction, PointsEarning
from points.services import expire_user_points, users_with_points
from server.db import db


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
