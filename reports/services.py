"""The figures a community reports upward for a period, from the feature tables by SQL aggregates.

Periods are local dates in Asia/Shanghai, both ends included. Timestamps (stored in UTC) are compared with
the UTC instants of local midnights; months are bucketed in SQL by a CASE over the months' first instants,
which is portable (PostgreSQL and SQLite) and exact at every local midnight. No table of its own: reports
read what check-in, points and wishes recorded, so a closed period's figures never change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import case, distinct, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from checkin.models import Activity, CheckIn, Station
from points.models import Account, LedgerEntry, LedgerTransaction
from reports import policy  # noqa: F401  (registers the rule "reports.view")
from server import clock
from server.auth.policy import Principal, authorize
from server.clock import SERVER_ZONE
from server.db import db
from server.errors import AppError, Forbidden, register_messages
from server.orgs.models import OrgUnit
from server.orgs.services import communities_under, get_org_by_code
from server.users.models import User, mask_name
from wishes.models import Wish, WishClaim

register_messages(
    {
        "PERIOD_INVALID": ("统计时段不正确：开始日期不能晚于结束日期", "The period starts after it ends"),
        "PERIOD_TOO_LONG": ("统计时段最长 36 个月", "A period spans at most 36 months"),
        "REPORT_ORG_INVALID": ("请选择区、街道或社区", "Choose a district, a street or a community"),
    }
)

MAX_MONTHS = 36
TOP_LIMIT = 10
REPORT_KINDS = ("district", "street", "community")
ORG_KIND_LABELS = {"district": "区", "street": "街道", "community": "社区", "grid": "网格"}

# (attribute of Figures, label, unit, what it counts): the cards of the page and the rows of the workbook.
FIGURES = [
    ("activities", "开展活动", "场", "期间开始、未取消的活动"),
    ("checkins", "签到", "人次", "在活动和服务驿站的签到"),
    ("volunteer_hours", "志愿服务时长", "小时", "计时活动和驿站值班签到的时长之和"),
    ("distinct_members", "参与居民", "人", "期间签到过的不同居民"),
    ("points_issued", "发放积分", "分", "奖励与人工调整，扣除撤销"),
    ("points_redeemed", "兑换积分", "分", "兑换超市扣除的积分，扣除撤销"),
    ("wishes_posted", "发布微心愿", "个", "居民提交的微心愿"),
    ("wishes_claimed", "认领微心愿", "个", "期间被认领的微心愿，每个计一次"),
    ("wishes_completed", "认领兑现微心愿", "个", "期间完成的微心愿"),
    ("residents_served", "服务居民", "人次", "完成的微心愿，每个计一人次"),
    ("residents_distinct", "服务居民人数", "人", "心愿被完成的不同居民"),
]


def hours_of(minutes: int) -> Decimal:
    """Minutes as hours, rounded half up to a tenth."""
    return (Decimal(minutes) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def format_hours(minutes: int) -> str:
    """Hours as people write them: 4.5, 12 (no trailing .0)."""
    value = hours_of(minutes)
    return str(value.to_integral_value()) if value == value.to_integral_value() else str(value)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SERVER_ZONE).astimezone(UTC)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """Local dates from ``start`` to ``end``, both included."""

    start: date
    end: date

    @property
    def months(self) -> list[date]:
        """The first day of every month the period touches."""
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = _next_month(month)
        return months

    @property
    def utc_start(self) -> datetime:
        """The first instant of the period."""
        return _local_midnight(self.start)

    @property
    def utc_end(self) -> datetime:
        """The first instant after the period."""
        return _local_midnight(date.fromordinal(self.end.toordinal() + 1))


def months_spanned(start: date, end: date) -> int:
    """How many calendar months a period touches."""
    return (end.year - start.year) * 12 + end.month - start.month + 1


@dataclass(frozen=True)
class Figures:
    """The totals of a period (see the README's "Reports" for what each one counts)."""

    activities: int
    checkins: int
    volunteer_minutes: int
    distinct_members: int
    points_issued: int
    points_redeemed: int
    wishes_posted: int
    wishes_claimed: int
    wishes_completed: int
    residents_served: int
    residents_distinct: int

    @property
    def volunteer_hours(self) -> Decimal:
        """Volunteer hours, to a tenth."""
        return hours_of(self.volunteer_minutes)


@dataclass
class MonthRow:
    """One month of the series."""

    month: date
    activities: int = 0
    checkins: int = 0
    volunteer_minutes: int = 0
    points_issued: int = 0
    points_redeemed: int = 0
    wishes_posted: int = 0
    wishes_claimed: int = 0
    wishes_completed: int = 0

    @property
    def label(self) -> str:
        """2026-01."""
        return self.month.strftime("%Y-%m")

    @property
    def volunteer_hours(self) -> Decimal:
        """Volunteer hours of the month, to a tenth."""
        return hours_of(self.volunteer_minutes)


@dataclass(frozen=True)
class TopVolunteer:
    """One place among the period's top volunteers."""

    rank: int
    user_id: int
    name_masked: str
    points: int
    volunteer_minutes: int
    checkins: int

    @property
    def volunteer_hours(self) -> Decimal:
        """Their volunteer hours in the period, to a tenth."""
        return hours_of(self.volunteer_minutes)


@dataclass(frozen=True)
class Report:
    """Everything a report shows: the org, the period, the totals, the months and the top volunteers."""

    org: OrgUnit
    period: Period
    communities: int
    figures: Figures
    months: list[MonthRow]
    top_volunteers: list[TopVolunteer] = field(default_factory=list)

    @property
    def date_from(self) -> date:
        """The first day of the period."""
        return self.period.start

    @property
    def date_to(self) -> date:
        """The last day of the period."""
        return self.period.end

    @property
    def summary_text(self) -> str:
        """The sentence a community reports upward."""
        return sentence(self.figures)


def sentence(figures: Figures) -> str:
    """本期开展活动 N 场，签到 N 人次… as it goes into a report to the street or the district."""
    f = figures
    return (
        f"本期开展活动{f.activities}场，签到{f.checkins}人次，志愿服务{format_hours(f.volunteer_minutes)}小时；"
        f"认领兑现微心愿{f.wishes_completed}个，服务居民{f.residents_served}人次；"
        f"发放积分{f.points_issued}分，兑换积分{f.points_redeemed}分。"
    )


# --- choosing what to report ---------------------------------------------------------------------------


def reportable_units(principal: Principal) -> list[OrgUnit]:
    """The district, streets and communities of a staff member's subtree, tree order."""
    if principal.staff is None:
        return []
    return list(
        db.session.scalars(
            select(OrgUnit)
            .where(OrgUnit.path.startswith(principal.staff.org.path), OrgUnit.kind.in_(REPORT_KINDS))
            .order_by(OrgUnit.path)
        )
    )


def resolve(
    principal: Principal, org_code: str | None, date_from: date | None, date_to: date | None
) -> tuple[OrgUnit, Period]:
    """The org unit (default: the staff member's own) and the period (default: this year up to today).

    404 ORG_NOT_FOUND, 403 outside the staff member's subtree, 422 REPORT_ORG_INVALID for a grid,
    422 PERIOD_INVALID when it starts after it ends, 422 PERIOD_TOO_LONG beyond 36 months.
    """
    if principal.staff is None:
        raise Forbidden(details={"requires": "staff"})
    org = get_org_by_code(org_code) if org_code else principal.staff.org
    authorize(principal, "reports.view", org)
    if org.kind not in REPORT_KINDS:
        raise AppError("REPORT_ORG_INVALID", status=422, details={"org": org.code, "kind": org.kind})
    end = date_to or clock.local_today()
    start = date_from or date(end.year, 1, 1)
    if start > end:
        raise AppError(
            "PERIOD_INVALID", status=422, details={"from": start.isoformat(), "to": end.isoformat()}
        )
    if months_spanned(start, end) > MAX_MONTHS:
        raise AppError(
            "PERIOD_TOO_LONG",
            status=422,
            details={"from": start.isoformat(), "to": end.isoformat(), "max_months": MAX_MONTHS},
        )
    return org, Period(start, end)


def summary(
    principal: Principal, org_code: str | None, date_from: date | None, date_to: date | None
) -> Report:
    """The report of every community under an org unit (in the caller's subtree) for a period."""
    org, period = resolve(principal, org_code, date_from, date_to)
    return build_report(org, period)


# --- the figures ---------------------------------------------------------------------------------------


def _bucket(column: Any, firsts: list[Any]) -> ColumnElement[Any]:
    """The index of the month a value falls in; the query's WHERE keeps values inside the period."""
    if len(firsts) == 1:
        return literal(0)
    whens = [(column < first, index) for index, first in enumerate(firsts[1:])]
    return case(*whens, else_=len(firsts) - 1)


def build_report(org: OrgUnit, period: Period) -> Report:
    """Compute the report of ``org``'s communities for ``period`` (no authorization: see ``summary``)."""
    ids = communities_under(org)
    months = [MonthRow(month) for month in period.months]
    instants = [period.utc_start] + [_local_midnight(m.month) for m in months[1:]]
    days = [m.month for m in months]
    activities = _activities(ids, period, instants, months)
    checkins, minutes, members = _checkins(ids, period, instants, months)
    issued, redeemed = _points(ids, period, days, months)
    posted, claimed = (
        _wishes_posted(ids, period, instants, months),
        _wishes_claimed(ids, period, instants, months),
    )
    completed, residents = _wishes_completed(ids, period, instants, months)
    figures = Figures(
        activities=activities,
        checkins=checkins,
        volunteer_minutes=minutes,
        distinct_members=members,
        points_issued=issued,
        points_redeemed=redeemed,
        wishes_posted=posted,
        wishes_claimed=claimed,
        wishes_completed=completed,
        residents_served=completed,
        residents_distinct=residents,
    )
    return Report(org, period, len(ids), figures, months, _top_volunteers(ids, period))


def _in_period(column: Any, period: Period) -> list[ColumnElement[bool]]:
    return [column >= period.utc_start, column < period.utc_end]


def _activities(ids: list[int], period: Period, instants: list[datetime], months: list[MonthRow]) -> int:
    """Activities starting in the period, not cancelled."""
    inner = (
        select(_bucket(Activity.starts_at, instants).label("m"))
        .where(Activity.community_id.in_(ids), Activity.cancelled_at.is_(None))
        .where(*_in_period(Activity.starts_at, period))
        .subquery()
    )
    for index, count in db.session.execute(select(inner.c.m, func.count()).group_by(inner.c.m)).all():
        months[index].activities = int(count)
    return sum(m.activities for m in months)


def _checkin_rows(ids: list[int], period: Period, instants: list[datetime]) -> Any:
    """Check-ins at the communities' activities and stations in the period, with the minutes that count."""
    counted = case(
        (
            or_(Activity.hours_count.is_(True), CheckIn.station_id.is_not(None)),
            func.coalesce(CheckIn.minutes, 0),
        ),
        else_=0,
    )
    return (
        select(
            _bucket(CheckIn.checked_in_at, instants).label("m"),
            CheckIn.user_id.label("user_id"),
            counted.label("minutes"),
        )
        .select_from(CheckIn)
        .outerjoin(Activity, Activity.id == CheckIn.activity_id)
        .outerjoin(Station, Station.id == CheckIn.station_id)
        .where(or_(Activity.community_id.in_(ids), Station.community_id.in_(ids)))
        .where(*_in_period(CheckIn.checked_in_at, period))
        .where(CheckIn.status != "voided")  # staff found it false: not attendance
        .subquery()
    )


def _checkins(
    ids: list[int], period: Period, instants: list[datetime], months: list[MonthRow]
) -> tuple[int, int, int]:
    """(check-ins, volunteer minutes, distinct members) and the months' check-ins and minutes."""
    inner = _checkin_rows(ids, period, instants)
    rows = db.session.execute(
        select(inner.c.m, func.count(), func.coalesce(func.sum(inner.c.minutes), 0)).group_by(inner.c.m)
    ).all()
    for index, count, minutes in rows:
        months[index].checkins, months[index].volunteer_minutes = int(count), int(minutes)
    members = db.session.scalar(select(func.count(distinct(inner.c.user_id))))
    return (
        sum(m.checkins for m in months),
        sum(m.volunteer_minutes for m in months),
        int(members or 0),
    )


def _points(ids: list[int], period: Period, days: list[date], months: list[MonthRow]) -> tuple[int, int]:
    """Points issued (out of the communities' issuing accounts) and redeemed (into their redeemed account).

    Net of reversals by construction: a reversal's entries negate the original's on the same accounts, and
    it counts on the day it was posted.
    """
    inner = (
        select(
            _bucket(LedgerTransaction.local_date, days).label("m"),
            Account.kind.label("kind"),
            LedgerEntry.amount.label("amount"),
        )
        .select_from(LedgerEntry)
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(Account.kind.in_(["issuing", "redeemed"]), Account.community_id.in_(ids))
        .where(LedgerTransaction.local_date >= period.start, LedgerTransaction.local_date <= period.end)
        .subquery()
    )
    rows = db.session.execute(
        select(inner.c.m, inner.c.kind, func.sum(inner.c.amount)).group_by(inner.c.m, inner.c.kind)
    ).all()
    for index, kind, amount in rows:
        if kind == "issuing":
            months[index].points_issued = -int(amount)
        else:
            months[index].points_redeemed = int(amount)
    return sum(m.points_issued for m in months), sum(m.points_redeemed for m in months)


def _wishes_posted(ids: list[int], period: Period, instants: list[datetime], months: list[MonthRow]) -> int:
    """Wishes residents submitted in the period (whatever became of them)."""
    inner = (
        select(_bucket(Wish.created_at, instants).label("m"))
        .where(Wish.community_id.in_(ids))
        .where(*_in_period(Wish.created_at, period))
        .subquery()
    )
    for index, count in db.session.execute(select(inner.c.m, func.count()).group_by(inner.c.m)).all():
        months[index].wishes_posted = int(count)
    return sum(m.wishes_posted for m in months)


def _wishes_claimed(ids: list[int], period: Period, instants: list[datetime], months: list[MonthRow]) -> int:
    """Wishes claimed in the period, each once (in the month of its first claim in the period)."""
    first = (
        select(WishClaim.wish_id, func.min(WishClaim.created_at).label("at"))
        .join(Wish, Wish.id == WishClaim.wish_id)
        .where(Wish.community_id.in_(ids))
        .where(*_in_period(WishClaim.created_at, period))
        .group_by(WishClaim.wish_id)
        .subquery()
    )
    inner = select(_bucket(first.c.at, instants).label("m")).select_from(first).subquery()
    for index, count in db.session.execute(select(inner.c.m, func.count()).group_by(inner.c.m)).all():
        months[index].wishes_claimed = int(count)
    return sum(m.wishes_claimed for m in months)


def _wishes_completed(
    ids: list[int], period: Period, instants: list[datetime], months: list[MonthRow]
) -> tuple[int, int]:
    """(wishes completed in the period, distinct residents whose wishes they were)."""
    inner = (
        select(_bucket(Wish.completed_at, instants).label("m"), Wish.user_id.label("user_id"))
        .where(Wish.community_id.in_(ids), Wish.status == "completed")
        .where(*_in_period(Wish.completed_at, period))
        .subquery()
    )
    for index, count in db.session.execute(select(inner.c.m, func.count()).group_by(inner.c.m)).all():
        months[index].wishes_completed = int(count)
    residents = db.session.scalar(select(func.count(distinct(inner.c.user_id))))
    return sum(m.wishes_completed for m in months), int(residents or 0)


def _top_volunteers(ids: list[int], period: Period) -> list[TopVolunteer]:
    """Members by points earned in the communities in the period (net), with their hours and check-ins."""
    earned = -func.sum(LedgerEntry.amount)
    rows = db.session.execute(
        select(LedgerTransaction.user_id, earned.label("points"))
        .select_from(LedgerEntry)
        .join(Account, Account.id == LedgerEntry.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(Account.kind == "issuing", Account.community_id.in_(ids))
        .where(LedgerTransaction.local_date >= period.start, LedgerTransaction.local_date <= period.end)
        .group_by(LedgerTransaction.user_id)
        .having(earned > 0)
        .order_by(earned.desc(), LedgerTransaction.user_id)
        .limit(TOP_LIMIT)
    ).all()
    if not rows:
        return []
    user_ids = [row.user_id for row in rows]
    inner = _checkin_rows(ids, period, [period.utc_start])
    activity = {
        user_id: (int(count), int(minutes))
        for user_id, count, minutes in db.session.execute(
            select(inner.c.user_id, func.count(), func.coalesce(func.sum(inner.c.minutes), 0))
            .where(inner.c.user_id.in_(user_ids))
            .group_by(inner.c.user_id)
        ).all()
    }
    names = dict(db.session.execute(select(User.id, User.nickname).where(User.id.in_(user_ids))).all())
    ordered = sorted(
        ((int(r.points), activity.get(r.user_id, (0, 0)), r.user_id) for r in rows),
        key=lambda item: (-item[0], -item[1][1], item[2]),
    )
    ranked: list[TopVolunteer] = []
    for position, (points, (checkins, minutes), user_id) in enumerate(ordered, start=1):
        rank = ranked[-1].rank if ranked and ranked[-1].points == points else position
        ranked.append(TopVolunteer(rank, user_id, mask_name(names.get(user_id)), points, minutes, checkins))
    return ranked
