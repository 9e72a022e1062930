"""A member's own volunteer summary (我的志愿服务): hours, check-ins, wishes fulfilled and points earned, for
this calendar year (the server's zone) and all time.

It reads across check-ins, wishes and the ledger, which only reports may do (tests/test_architecture.py).
Three aggregate queries, each counting the year and all time at once:

- hours: the minutes of non-voided check-ins that count hours (an hour-rule activity, a station visit),
  rounded half up to a tenth; checkins: every non-voided check-in. The year is that of ``checked_in_at``.
- wishes_fulfilled: wishes the member claimed that reached ``completed`` (the year of ``completed_at``).
- points_earned: credits to the member's available account by an ``award`` or a positive ``adjust`` that
  was not reversed since. Not counted: ``release`` (a hold's points given back), ``reverse`` (of a capture:
  a refund of spending; of an expiry: points restored), and a reversed award (its check-in was voided).
  The year is the transaction's local date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import aliased

from checkin.models import Activity, CheckIn
from points.models import Account, LedgerEntry, LedgerTransaction
from reports.services import hours_of
from server import clock
from server.db import db
from wishes.models import Wish

EARNING_KINDS = ("award", "adjust")  # what pays a member for what they did (a reversed one is left out)


@dataclass(frozen=True)
class Totals:
    """One column of the summary: this year, or all time."""

    minutes: int
    checkins: int
    wishes_fulfilled: int
    points_earned: int

    @property
    def hours(self) -> Decimal:
        """The minutes as hours, to a tenth."""
        return hours_of(self.minutes)


@dataclass(frozen=True)
class VolunteerSummary:
    """What /me/volunteer-summary shows."""

    year: int
    this_year: Totals
    all_time: Totals


def _sum(value: Any, when: Any = None) -> Any:
    """SUM(value), or SUM over the rows where ``when`` holds; 0 when there are none."""
    return func.coalesce(func.sum(value if when is None else case((when, value), else_=0)), 0)


def volunteer_summary(user_id: int) -> VolunteerSummary:
    """The member's hours, check-ins, fulfilled wishes and earned points, this year and all time."""
    year = clock.local_today().year
    year_start = clock.local_midnight(date(year, 1, 1)).astimezone(UTC)
    year_end = clock.local_midnight(date(year + 1, 1, 1)).astimezone(UTC)

    counted = case(
        (
            or_(Activity.hours_count.is_(True), CheckIn.station_id.is_not(None)),
            func.coalesce(CheckIn.minutes, 0),
        ),
        else_=0,
    )
    in_year = and_(CheckIn.checked_in_at >= year_start, CheckIn.checked_in_at < year_end)
    checkins = db.session.execute(
        select(_sum(counted, in_year), _sum(1, in_year), _sum(counted), func.count())
        .select_from(CheckIn)
        .outerjoin(Activity, Activity.id == CheckIn.activity_id)
        .where(CheckIn.user_id == user_id, CheckIn.status != "voided")
    ).one()

    completed_in_year = and_(Wish.completed_at >= year_start, Wish.completed_at < year_end)
    wishes = db.session.execute(
        select(_sum(1, completed_in_year), func.count()).where(
            Wish.claimer_id == user_id, Wish.status == "completed"
        )
    ).one()

    reversal = aliased(LedgerTransaction)
    earned_in_year = and_(
        LedgerTransaction.local_date >= date(year, 1, 1), LedgerTransaction.local_date <= date(year, 12, 31)
    )
    points = db.session.execute(
        select(_sum(LedgerEntry.amount, earned_in_year), _sum(LedgerEntry.amount))
        .select_from(LedgerEntry)
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .outerjoin(reversal, reversal.reverses_id == LedgerTransaction.id)
        .where(
            Account.user_id == user_id,
            Account.kind == "available",
            LedgerEntry.amount > 0,
            LedgerTransaction.kind.in_(EARNING_KINDS),
            reversal.id.is_(None),
        )
    ).one()

    return VolunteerSummary(
        year=year,
        this_year=Totals(int(checkins[0]), int(checkins[1]), int(wishes[0]), int(points[0])),
        all_time=Totals(int(checkins[2]), int(checkins[3]), int(wishes[1]), int(points[1])),
    )
