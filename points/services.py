"""The rules of points: awarding by rule with caps, holds for redemptions, reversals, adjustments, expiry.

Other packages move points only through the functions here. Each returns a ``LedgerResult`` saying
what happened (points moved, or why not) and flushes; the caller's boundary commits.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, delete, func, select, true
from sqlalchemy.orm import aliased, joinedload

from points import policy  # noqa: F401  (registers the rules "points.*")
from points.ledger import (
    LedgerAccount,
    LedgerResult,
    Plan,
    Refused,
    core_connection,
    expired_account,
    issuing_account,
    issuing_key,
    post,
    redeemed_account,
)
from points.models import Account, LedgerEntry, LedgerTransaction, PointsEarning, PointsRule
from server import clock
from server.audit import services as audit
from server.auth.policy import Principal, allowed, authorize
from server.db import db, paginate_newest_first
from server.errors import AppError, Conflict, NotFound, register_messages
from server.idempotency import fingerprint
from server.notifications.services import publish
from server.orgs.models import OrgUnit
from server.users.models import User, mask_name

register_messages(
    {
        "RULE_NOT_FOUND": ("积分规则不存在", "No such points rule"),
        "RULE_CODE_TAKEN": ("积分规则编码已存在", "That rule code is taken"),
        "RULE_INACTIVE": ("该积分规则已停用", "That points rule is inactive"),
        "CAP_REACHED": ("已达到该类积分的上限", "The cap for these points has been reached"),
        "INSUFFICIENT_POINTS": ("积分不足", "Not enough points"),
        "INVALID_QUANTITY": ("数量不正确", "The quantity is invalid"),
        "INVALID_AMOUNT": ("积分数必须是非零整数", "The amount must be a non-zero whole number"),
        "ZERO_POINTS": ("时长不足，未产生积分", "Too short to earn points"),
        "NO_COMMUNITY": ("该用户尚未加入社区", "The user has not joined a community"),
        "USER_NOT_FOUND": ("用户不存在", "No such user"),
        "IDEMPOTENCY_KEY_REUSED": (
            "该幂等键已用于不同的请求",
            "This Idempotency-Key was already used for a different request",
        ),
        "TRANSACTION_NOT_FOUND": ("积分记录不存在", "No such points transaction"),
        "ALREADY_SETTLED": ("该冻结积分已处理", "This hold was already settled"),
        "ALREADY_REVERSED": ("该记录已撤销", "This transaction was already reversed"),
        "NOT_REVERSIBLE": ("该记录不能撤销", "This transaction cannot be reversed"),
        "POINTS_NOT_EARNED_HERE": (
            "该商品只能用在本社区获得的积分兑换，您在本社区获得的积分不足",
            "This item takes only points earned in its community, and not enough of yours were earned there",
        ),
    }
)

CATEGORY_LABELS = {
    "party_day": "主题党日",
    "volunteer": "志愿服务",
    "activity": "活动签到",
    "wish": "微心愿",
    "duty": "驿站值班",
    "adjustment": "人工调整",
    "redemption": "积分兑换",
    "expiry": "积分过期",
}


# --- rules ----------------------------------------------------------------------------------------


def get_rule(code: str) -> PointsRule:
    """The rule with this code, or RULE_NOT_FOUND."""
    rule = db.session.scalars(select(PointsRule).where(PointsRule.code == code)).first()
    if rule is None:
        raise NotFound("RULE_NOT_FOUND", details={"code": code})
    return rule


def list_rules(include_inactive: bool = True) -> list[PointsRule]:
    """Every rule, by code."""
    query = select(PointsRule).order_by(PointsRule.code)
    if not include_inactive:
        query = query.where(PointsRule.active.is_(True))
    return list(db.session.scalars(query))


def create_rule(principal: Principal, values: dict[str, Any]) -> PointsRule:
    """Add a rule (admins of a whole deployment's root)."""
    authorize(principal, "points.rules.manage")
    if db.session.scalars(select(PointsRule.id).where(PointsRule.code == values["code"])).first():
        raise Conflict("RULE_CODE_TAKEN", details={"code": values["code"]})
    rule = PointsRule(**values)
    db.session.add(rule)
    db.session.flush()
    return rule


def update_rule(principal: Principal, code: str, values: dict[str, Any]) -> PointsRule:
    """Change a rule's name, points, unit, caps, multiplier or active flag (not its code)."""
    authorize(principal, "points.rules.manage")
    rule = get_rule(code)
    for name, value in values.items():
        setattr(rule, name, value)
    db.session.flush()
    return rule


def points_for(rule: PointsRule | AwardTerms, quantity: Decimal, party_member: bool) -> int:
    """Points of ``quantity`` events or hours (hours rounded down to the quarter hour)."""
    if rule.unit == "hour":
        quarters = int((quantity * 4).to_integral_value(rounding=ROUND_FLOOR))
        raw = rule.points * quarters // 4
    else:
        raw = rule.points * int(quantity)
    if party_member and rule.party_member_multiplier:
        raw = math.floor(raw * rule.party_member_multiplier)
    return raw


def _quantity(rule: PointsRule | AwardTerms, quantity: Any) -> Decimal:
    try:
        value = Decimal(str(quantity))
    except (InvalidOperation, ValueError) as exc:
        raise AppError("INVALID_QUANTITY", status=422, details={"quantity": str(quantity)}) from exc
    if not value.is_finite() or value <= 0 or (rule.unit == "event" and value != value.to_integral_value()):
        raise AppError("INVALID_QUANTITY", status=422, details={"quantity": str(quantity), "unit": rule.unit})
    return value


# --- awarding ---------------------------------------------------------------------------------------


_reversal = aliased(LedgerTransaction, name="reversal")
_transactions = LedgerTransaction.__table__
_reversals = _transactions.alias("reversal")
_accounts = Account.__table__
_rules = PointsRule.__table__
_users = User.__table__

# Awards are on the path of every check-in and fulfilled wish: their reads are two prepared Core statements
# (the rule and the user; then, under the lock, the caps and the issuing account), not ORM loads.
_AWARD_FACTS = (
    select(
        _rules.c.code,
        _rules.c.name,
        _rules.c.category,
        _rules.c.points,
        _rules.c.unit,
        _rules.c.daily_cap,
        _rules.c.yearly_cap,
        _rules.c.party_member_multiplier,
        _rules.c.active,
        _users.c.community_id,
        _users.c.party_community_id,
    )
    .select_from(_rules.join(_users, true()))
    .where(_rules.c.code == bindparam("code"), _users.c.id == bindparam("user_id"))
)
_AWARDED_BY_RULE = (
    select(
        func.coalesce(
            func.sum(_transactions.c.amount).filter(_transactions.c.local_date == bindparam("today")), 0
        ).label("today"),
        func.coalesce(func.sum(_transactions.c.amount), 0).label("this_year"),
        select(_accounts.c.id)
        .where(_accounts.c.key == bindparam("issuing_key"))
        .scalar_subquery()
        .label("issuing_id"),
    )
    .select_from(_transactions.outerjoin(_reversals, _reversals.c.reverses_id == _transactions.c.id))
    .where(
        _transactions.c.user_id == bindparam("user_id"),
        _transactions.c.rule_code == bindparam("rule_code"),
        _transactions.c.kind == "award",
        _transactions.c.local_date.between(bindparam("year_start"), bindparam("year_end")),
        _reversals.c.id.is_(None),
    )
)


@dataclass(frozen=True)
class AwardTerms:
    """What an award reads of its rule and its user."""

    code: str
    name: str
    category: str
    points: int
    unit: str
    daily_cap: int | None
    yearly_cap: int | None
    party_member_multiplier: Decimal | None
    active: bool
    community_id: int | None
    party_community_id: int | None


def _award_terms(rule_code: str, user_id: int) -> AwardTerms:
    row = core_connection().execute(_AWARD_FACTS, {"code": rule_code, "user_id": user_id}).first()
    if row is None:  # which one is missing says the error
        get_rule(rule_code)
        _user(user_id)
        raise AssertionError("unreachable: both the rule and the user exist")
    return AwardTerms(**row._mapping)


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("USER_NOT_FOUND", details={"user_id": user_id})
    return user


def award(
    user_id: int,
    rule_code: str,
    quantity: Any,
    source: tuple[str, str | int],
    idempotency_key: str,
    community_id: int | None = None,
    actor_staff_id: int | None = None,
) -> LedgerResult:
    """Award a user the points of ``quantity`` events or hours under a rule, within its caps, once per key.

    ``source`` names what earned them (e.g. ``("checkin", 42)``); the community defaults to the user's;
    ``actor_staff_id`` is the staff account that recorded it (a staff scan, an offline batch).
    """
    terms = _award_terms(rule_code, user_id)
    amount_of = _quantity(terms, quantity)
    if not terms.active:
        return LedgerResult("refused", code="RULE_INACTIVE")
    community = community_id or terms.community_id or terms.party_community_id
    if community is None:
        return LedgerResult("refused", code="NO_COMMUNITY")
    raw = points_for(terms, amount_of, terms.party_community_id is not None)
    if raw <= 0:
        return LedgerResult("refused", code="ZERO_POINTS")

    def plan(available: LedgerAccount, _held: LedgerAccount) -> Plan:
        today = clock.local_today()
        awarded = (
            core_connection()
            .execute(
                _AWARDED_BY_RULE,
                {
                    "today": today,
                    "user_id": user_id,
                    "rule_code": terms.code,
                    "year_start": today.replace(month=1, day=1),
                    "year_end": today.replace(month=12, day=31),
                    "issuing_key": issuing_key(community, terms.category),
                },
            )
            .one()
        )
        allowed = raw
        if terms.daily_cap is not None:
            allowed = min(allowed, terms.daily_cap - int(awarded.today))
        if terms.yearly_cap is not None:
            allowed = min(allowed, terms.yearly_cap - int(awarded.this_year))
        if allowed <= 0:
            raise Refused("CAP_REACHED")
        issuing = (
            LedgerAccount(awarded.issuing_id, None)
            if awarded.issuing_id is not None
            else issuing_account(community, terms.category)
        )
        return Plan(
            legs=[(issuing, -allowed), (available, allowed)],
            amount=allowed,
            memo=f"{terms.name} +{allowed}",
            capped=allowed < raw,
            earning=allowed,
            earning_month=clock.month_start(today),
        )

    return post(
        "award",
        user_id,
        plan,
        idempotency_key=idempotency_key,
        request_hash=fingerprint(user=user_id, rule=terms.code, quantity=amount_of, community=community),
        community_id=community,
        category=terms.category,
        rule_code=terms.code,
        quantity=amount_of,
        ref_type=source[0],
        ref_id=str(source[1]),
        actor_staff_id=actor_staff_id,
    )


# --- holds for redemptions ----------------------------------------------------------------------------


def _positive_amount(amount: Any) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise AppError("INVALID_AMOUNT", status=422, details={"amount": str(amount)})
    return amount


def hold(
    user_id: int,
    amount: int,
    idempotency_key: str,
    source: tuple[str, str | int],
    community_id: int | None = None,
    earned_in: int | None = None,
) -> LedgerResult:
    """Move points from available to held while a redemption waits for a decision.

    With ``earned_in`` (a community's id) the points must also have been earned there: what
    ``balance_earned_in`` leaves must cover them, read under the same lock as the balance, so racing holds
    cannot both spend what was earned there once (POINTS_NOT_EARNED_HERE, with the figures).
    """
    points = _positive_amount(amount)
    user = _user(user_id)
    community = community_id or user.community_id or user.party_community_id

    def plan(available: LedgerAccount, held: LedgerAccount) -> Plan:
        if (available.balance or 0) < points:
            raise Refused("INSUFFICIENT_POINTS")
        if earned_in is not None:
            here = balance_earned_in(user_id, earned_in)
            if here.left < points:
                raise Refused(
                    "POINTS_NOT_EARNED_HERE",
                    {
                        "needed": points,
                        "earned_here": here.earned,
                        "used_here": here.used,
                        "left_here": here.left,
                    },
                )
        return Plan(
            legs=[(available, -points), (held, points)], amount=points, memo=f"积分兑换冻结 -{points}"
        )

    return post(
        "hold",
        user_id,
        plan,
        idempotency_key=idempotency_key,
        request_hash=fingerprint(user=user_id, amount=points, source=source),
        community_id=community,
        category="redemption",
        ref_type=source[0],
        ref_id=str(source[1]),
    )


def _hold_of(hold_id: int) -> LedgerTransaction:
    txn = db.session.get(LedgerTransaction, hold_id)
    if txn is None or txn.kind != "hold":
        raise NotFound("TRANSACTION_NOT_FOUND", details={"id": hold_id})
    return txn


def _settlement_of(hold_id: int) -> LedgerTransaction | None:
    return db.session.scalars(
        select(LedgerTransaction).where(LedgerTransaction.settles_id == hold_id)
    ).first()


def _settle(hold_id: int, kind: str, reason: str | None) -> LedgerResult:
    held_txn = _hold_of(hold_id)
    points = held_txn.amount

    def plan(available: LedgerAccount, held: LedgerAccount) -> Plan:
        if _settlement_of(hold_id) is not None:
            raise Refused("ALREADY_SETTLED")
        if kind == "capture":
            target, memo = redeemed_account(held_txn.community_id), f"积分兑换 -{points}"
        else:
            target, memo = available, f"兑换未完成，积分退回 +{points}"
        return Plan(legs=[(held, -points), (target, points)], amount=points, memo=memo)

    return post(
        kind,
        held_txn.user_id,
        plan,
        idempotency_key=f"{kind}:{hold_id}",
        community_id=held_txn.community_id,
        category="redemption",
        ref_type=held_txn.ref_type,
        ref_id=held_txn.ref_id,
        settles_id=hold_id,
        reason=reason,
    )


def capture_of(hold_id: int) -> int | None:
    """The id of the capture that spent a hold, or None while it is not captured."""
    settlement = _settlement_of(hold_id)
    return settlement.id if settlement is not None and settlement.kind == "capture" else None


def capture(hold_id: int) -> LedgerResult:
    """Spend held points (a redemption approved): held → redeemed. At most once per hold."""
    return _settle(hold_id, "capture", None)


def release(hold_id: int, reason: str | None = None) -> LedgerResult:
    """Give held points back (rejected, cancelled, expired): held → available. At most once per hold."""
    return _settle(hold_id, "release", reason)


# --- reversal and adjustment ------------------------------------------------------------------------


def reverse(transaction_id: int, reason: str, actor_staff_id: int | None = None) -> LedgerResult:
    """Undo a transaction with one that negates its entries (a capture's points go back to available)."""
    if not reason or not reason.strip():
        raise AppError("REASON_REQUIRED", status=422)
    original = db.session.get(LedgerTransaction, transaction_id)
    if original is None:
        raise NotFound("TRANSACTION_NOT_FOUND", details={"id": transaction_id})
    if original.kind not in ("award", "adjust", "capture", "expire"):
        return LedgerResult("refused", code="NOT_REVERSIBLE")
    entries = list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.transaction_id == original.id)))

    def plan(available: LedgerAccount, held: LedgerAccount) -> Plan:
        reversed_before = db.session.scalars(
            select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == original.id)
        ).first()
        if reversed_before is not None:
            raise Refused("ALREADY_REVERSED")
        legs = []
        for entry in entries:
            # A user's leg comes back to available (a capture's held points too); a system account's as is.
            if entry.account_id in (available.id, held.id):
                legs.append((available, -entry.amount))
            else:
                legs.append((LedgerAccount(entry.account_id, None), -entry.amount))
        into_available = sum(e.amount for e in entries if e.account_id == available.id)
        return Plan(
            legs=legs,
            amount=original.amount,
            memo=f"撤销：{original.memo}",
            earning=-into_available if original.kind in ("award", "adjust") else 0,
            earning_month=clock.month_start(original.local_date),
        )

    return post(
        "reverse",
        original.user_id,
        plan,
        idempotency_key=f"reverse:{original.id}",
        community_id=original.community_id,
        category=original.category,
        rule_code=original.rule_code,
        reverses_id=original.id,
        reason=reason.strip(),
        actor_staff_id=actor_staff_id,
    )


def reverse_awards_of(
    ref_types: tuple[str, ...], ref_id: int, reason: str, actor_staff_id: int | None
) -> int:
    """Reverse every award a source earned (e.g. a voided check-in's, by its ``ref_type`` and id), each
    once; returns the points taken back. Refused (409 with the ledger's code, e.g. INSUFFICIENT_POINTS
    when they were spent) unless every award is reversed now or was before; the caller's transaction
    then rolls back whatever was reversed."""
    awards = db.session.scalars(
        select(LedgerTransaction.id)
        .where(
            LedgerTransaction.kind == "award",
            LedgerTransaction.ref_type.in_(ref_types),
            LedgerTransaction.ref_id == str(ref_id),
        )
        .order_by(LedgerTransaction.id)
    ).all()
    taken = 0
    for transaction_id in awards:
        result = reverse(transaction_id, reason, actor_staff_id)
        if result.status == "refused" and result.code != "ALREADY_REVERSED":
            raise Conflict(result.code or "NOT_REVERSIBLE", details={"transaction_id": transaction_id})
        if result.moved:
            taken += result.points
    return taken


def transaction_for_staff(principal: Principal, transaction_id: int) -> LedgerTransaction:
    """A transaction booked to a community the staff member looks after; any other is TRANSACTION_NOT_FOUND
    (404, as one that does not exist: ids are sequential, and another community's ledger is not theirs to
    probe). The transaction's own community decides, not the member's community now (F3)."""
    original = db.session.get(LedgerTransaction, transaction_id)
    community = db.session.get(OrgUnit, original.community_id) if original and original.community_id else None
    if original is None or not allowed(principal, "points.reverse", community):
        raise NotFound("TRANSACTION_NOT_FOUND", details={"id": transaction_id})
    return original


def reverse_as_staff(principal: Principal, transaction_id: int, reason: str) -> LedgerResult:
    """Staff undo a transaction booked to a community they look after (an already reversed one is
    ALREADY_REVERSED; another community's is TRANSACTION_NOT_FOUND and nothing moves)."""
    original = transaction_for_staff(principal, transaction_id)
    result = reverse(transaction_id, reason, principal.staff.id if principal.staff else None)
    if result.status == "already_done":
        raise Conflict("ALREADY_REVERSED")
    if result.moved:
        audit.record(
            "points.reversed",
            principal,
            "transaction",
            transaction_id,
            original.community_id,
            {"reason": reason.strip(), "reversal_id": result.transaction_id},
        )
    return result


def adjust(
    principal: Principal, user_id: int, amount: Any, reason: str, idempotency_key: str | None = None
) -> LedgerResult:
    """A staff member corrects a user's points (signed, with a reason); never below zero."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise AppError("INVALID_AMOUNT", status=422, details={"amount": str(amount)})
    if not reason or not reason.strip():
        raise AppError("REASON_REQUIRED", status=422)
    user = _user(user_id)
    authorize(principal, "points.adjust", user)
    # Booked to the community of the user that this staff member looks after.
    community = user.community_id if principal.covers(user.community) else user.party_community_id
    assert community is not None  # noqa: S101  (the policy refuses users outside every community)

    def plan(available: LedgerAccount, _held: LedgerAccount) -> Plan:
        return Plan(
            legs=[(issuing_account(community, "adjustment"), -amount), (available, amount)],
            amount=abs(amount),
            memo=f"人工调整：{reason.strip()} {amount:+d}",
            earning=amount,
            earning_month=clock.month_start(clock.local_today()),
        )

    result = post(
        "adjust",
        user_id,
        plan,
        idempotency_key=idempotency_key,
        request_hash=fingerprint(user=user_id, amount=amount, reason=reason.strip()),
        community_id=community,
        category="adjustment",
        reason=reason.strip(),
        actor_staff_id=principal.staff.id if principal.staff else None,
    )
    if result.moved:
        audit.record(
            "points.adjusted",
            principal,
            "user",
            user_id,
            community,
            {"amount": amount, "reason": reason.strip(), "transaction_id": result.transaction_id},
        )
        publish(
            "points.adjusted",
            [user_id],
            {
                "transaction_id": result.transaction_id,
                "amount": f"{amount:+d}",
                "reason": reason.strip(),
                "memo": f"人工调整：{reason.strip()} {amount:+d}",
                "available": balance_of(user_id).available,
            },
        )
    return result


# --- expiry -----------------------------------------------------------------------------------------


def expiry_policy() -> str:
    """The deployment's expiry policy."""
    return str(current_app.config.get("POINTS_EXPIRY_POLICY", "none"))


def last_expired_year(as_of: date, policy_name: str) -> int | None:
    """The latest earning year whose points have expired by ``as_of`` (None when nothing expires)."""
    if policy_name != "end_of_next_year":
        return None
    # Points of year Y live until 31 December of Y+1 and are gone from 1 January of Y+2.
    return as_of.year - 2


def expire_user_points(user_id: int, as_of: date | None = None) -> LedgerResult:
    """Expire a user's points that outlived the policy, oldest first. Running it twice moves nothing twice."""
    day = as_of or clock.local_today()
    year = last_expired_year(day, expiry_policy())
    if year is None:
        return LedgerResult("refused", code="EXPIRY_DISABLED")
    user = _user(user_id)

    def plan(available: LedgerAccount, _held: LedgerAccount) -> Plan:
        earned_by_then, earned_ever = _earned_through(user_id, year)
        # Whatever left the available balance (spent, held for a redemption, expired, adjusted away)
        # took the oldest points first, so the old points still there are what newer earnings don't explain.
        gone = earned_ever - (available.balance or 0)
        expiring = min(max(0, earned_by_then - gone), available.balance or 0)
        if expiring <= 0:
            raise Refused("NOTHING_TO_EXPIRE")
        return Plan(
            legs=[(available, -expiring), (expired_account(user.community_id), expiring)],
            amount=expiring,
            memo=f"{year}年积分过期 -{expiring}",
        )

    return post(
        "expire",
        user_id,
        plan,
        idempotency_key=f"expire:{user_id}:{year}",
        community_id=user.community_id,
        category="expiry",
    )


def _earned_through(user_id: int, year: int) -> tuple[int, int]:
    """(points earned up to the end of ``year``, points earned ever) from the earnings summary."""
    through, ever = db.session.execute(
        select(
            func.coalesce(func.sum(PointsEarning.points).filter(PointsEarning.month <= date(year, 12, 1)), 0),
            func.coalesce(func.sum(PointsEarning.points), 0),
        ).where(PointsEarning.user_id == user_id)
    ).one()
    return int(through), int(ever)


def users_with_points() -> list[int]:
    """Ids of users whose available balance is positive (candidates for expiry)."""
    return list(
        db.session.scalars(
            select(Account.user_id)
            .where(Account.kind == "available", Account.balance > 0)
            .order_by(Account.user_id)
        )
    )


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
        month = clock.month_start(original_day if kind == "reverse" else day)
        totals[(user_id, community_id, month)] += amount
    db.session.execute(delete(PointsEarning))
    db.session.add_all(
        PointsEarning(user_id=u, community_id=c, month=m, points=p) for (u, c, m), p in totals.items() if c
    )
    db.session.flush()
    return len(totals)


# --- reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    """What /me/points shows."""

    available: int
    held: int
    earned_total: int
    spent_total: int


def balance_of(user_id: int) -> Balance:
    """A user's balances and totals."""
    rows = dict(
        db.session.execute(
            select(Account.kind, Account.balance).where(
                Account.user_id == user_id, Account.kind.in_(["available", "held"])
            )
        ).all()
    )
    earned = db.session.scalar(
        select(func.coalesce(func.sum(PointsEarning.points), 0)).where(PointsEarning.user_id == user_id)
    )
    reversal = _reversal
    spent = db.session.scalar(
        select(func.coalesce(func.sum(LedgerTransaction.amount), 0))
        .outerjoin(reversal, reversal.reverses_id == LedgerTransaction.id)
        .where(
            LedgerTransaction.user_id == user_id, LedgerTransaction.kind == "capture", reversal.id.is_(None)
        )
    )
    return Balance(
        int(rows.get("available") or 0), int(rows.get("held") or 0), int(earned or 0), int(spent or 0)
    )


@dataclass(frozen=True)
class EarnedHere:
    """A member's points as one community's ledger sees them (see ``balance_earned_in``)."""

    earned: int  # net points the community issued to the member: awards and adjustments, net of reversals
    used: int  # net points the member put into the community's supermarket: open holds and captures kept

    @property
    def left(self) -> int:
        """What of the points earned there the member may still spend there (never below zero)."""
        return max(0, self.earned - self.used)


_entries = LedgerEntry.__table__
# One pass over the member's own transactions. Every point enters a user's available account from an issuing
# account, and those are per community: the issuing legs say where points were earned. The supermarket's
# legs (category "redemption": hold, release, capture and a capture's reversal) are booked to the item's
# community, and their legs on the member's available account say what went into that community's goods.
_EARNED_AND_USED_IN = (
    select(
        func.coalesce(
            -func.sum(_entries.c.amount).filter(
                _accounts.c.kind == "issuing", _accounts.c.community_id == bindparam("community_id")
            ),
            0,
        ).label("earned"),
        func.coalesce(
            -func.sum(_entries.c.amount).filter(
                _accounts.c.kind == "available",
                _transactions.c.category == "redemption",
                _transactions.c.community_id == bindparam("community_id"),
            ),
            0,
        ).label("used"),
    )
    .select_from(
        _transactions.join(_entries, _entries.c.transaction_id == _transactions.c.id).join(
            _accounts, _accounts.c.id == _entries.c.account_id
        )
    )
    .where(_transactions.c.user_id == bindparam("user_id"))
)


def balance_earned_in(user_id: int, community_id: int) -> EarnedHere:
    """What a member earned in a community and what they already spent or hold in its supermarket.

    ``earned``: the net of every leg between the community's issuing accounts and the member (awards and
    staff adjustments booked to the community, less negative adjustments and reversals of them). ``used``:
    the net of the member's available-account legs in the community's supermarket transactions (holds
    less releases, a capture counting while it is not reversed). ``left`` = earned - used, at least 0.
    Points spent in other communities or expired are not charged to a community (they lower only the
    available balance, which must cover a price as well). An item of ``earned_here_only`` needs ``left``
    to cover its price; ``hold(..., earned_in=)`` reads this under the member's balance lock.
    """
    row = (
        core_connection()
        .execute(_EARNED_AND_USED_IN, {"user_id": user_id, "community_id": community_id})
        .one()
    )
    return EarnedHere(int(row.earned), int(row.used))


@dataclass(frozen=True)
class HistoryItem:
    """One line of a user's points history."""

    id: int
    amount: int
    kind: str
    category: str | None
    category_label: str | None
    memo: str
    reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class TransactionView:
    """A posted transaction as the member's side of it: signed on their available points."""

    transaction_id: int
    user_id: int | None
    kind: str
    amount: int
    memo: str
    reason: str | None
    created_at: datetime


def transaction_view(transaction_id: int) -> TransactionView:
    """A transaction with its signed amount on the member's available account."""
    txn = db.session.get(LedgerTransaction, transaction_id)
    if txn is None:
        raise NotFound("TRANSACTION_NOT_FOUND", details={"id": transaction_id})
    signed = db.session.scalar(
        select(LedgerEntry.amount)
        .join(Account, Account.id == LedgerEntry.account_id)
        .where(LedgerEntry.transaction_id == txn.id, Account.kind == "available")
    )
    return TransactionView(
        transaction_id=txn.id,
        user_id=txn.user_id,
        kind=txn.kind,
        amount=int(signed if signed is not None else txn.amount),
        memo=txn.memo,
        reason=txn.reason,
        created_at=txn.created_at,
    )


def member_for_staff(principal: Principal, user_id: int) -> User:
    """A member, for staff of their community or party community only (404 when there is none)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("USER_NOT_FOUND", details={"user_id": user_id})
    authorize(principal, "points.view_member", user)
    return user


def member_balances(user_ids: list[int]) -> dict[int, tuple[str, int]]:
    """(nickname, available points) of members, in one query, for staff lists."""
    rows = db.session.execute(
        select(User.id, User.nickname, Account.balance)
        .outerjoin(Account, (Account.user_id == User.id) & (Account.kind == "available"))
        .where(User.id.in_(user_ids))
    )
    return {user_id: (nickname, int(balance or 0)) for user_id, nickname, balance in rows}


def history_of(user_id: int, page: int, page_size: int) -> tuple[list[HistoryItem], int]:
    """Movements of a user's available points, newest first."""
    items, total, _ = history_page(user_id, page, page_size)
    return items, total


def history_page(
    user_id: int, page: int, page_size: int, before_id: int | None = None
) -> tuple[list[HistoryItem], int, int | None]:
    """Movements of a user's available points, newest first, the total and the next page's ``before_id``.

    A line is one entry on the available account and its id is the entry's id: the keyset runs on it (the
    index on account and id). A member's entries are written with their transaction while the member's
    accounts are locked, so their ids come in the order of the transactions, and one posted while a phone
    scrolls lands above its cursor: never a line twice, nor one skipped.
    """
    available_id = db.session.scalar(
        select(Account.id).where(Account.user_id == user_id, Account.kind == "available")
    )
    if available_id is None:
        return [], 0, None
    query = (
        select(LedgerEntry)
        .where(LedgerEntry.account_id == available_id)
        .options(joinedload(LedgerEntry.transaction, innerjoin=True))
    )
    entries, total, next_before_id = paginate_newest_first(query, LedgerEntry.id, page, page_size, before_id)
    items = [
        HistoryItem(
            id=entry.id,
            amount=entry.amount,
            kind=entry.transaction.kind,
            category=entry.transaction.category,
            category_label=CATEGORY_LABELS.get(entry.transaction.category or ""),
            memo=entry.transaction.memo,
            reason=entry.transaction.reason,
            created_at=entry.created_at,
        )
        for entry in entries
    ]
    return items, total, next_before_id


@dataclass(frozen=True)
class LeaderboardRow:
    """One place on a leaderboard."""

    rank: int
    user_id: int
    nickname_masked: str
    points: int


def period_months(period: str, today: date | None = None) -> tuple[date | None, date | None]:
    """The first and last month (inclusive) of a leaderboard period; (None, None) for all time."""
    day = today or clock.local_today()
    if period == "month":
        return clock.month_start(day), clock.month_start(day)
    if period == "year":
        return date(day.year, 1, 1), date(day.year, 12, 1)
    return None, None


def leaderboard(community_ids: list[int], period: str, limit: int = 50) -> list[LeaderboardRow]:
    """Users ranked by points earned in the period in these communities (ties share a rank)."""
    first, last = period_months(period)
    points = func.sum(PointsEarning.points).label("points")
    query = (
        select(PointsEarning.user_id, points)
        .where(PointsEarning.community_id.in_(community_ids))
        .group_by(PointsEarning.user_id)
        .having(func.sum(PointsEarning.points) > 0)
        .order_by(points.desc(), PointsEarning.user_id)
        .limit(limit)
    )
    if first is not None and last is not None:
        query = query.where(and_(PointsEarning.month >= first, PointsEarning.month <= last))
    rows = db.session.execute(query).all()
    nicknames = dict(
        db.session.execute(select(User.id, User.nickname).where(User.id.in_([r.user_id for r in rows]))).all()
    )
    ranked: list[LeaderboardRow] = []
    for position, row in enumerate(rows, start=1):
        rank = ranked[-1].rank if ranked and ranked[-1].points == row.points else position
        ranked.append(
            LeaderboardRow(rank, row.user_id, mask_name(nicknames.get(row.user_id)), int(row.points))
        )
    return ranked


@dataclass(frozen=True)
class LeaderboardPlace:
    """Where one user stands on a leaderboard: their rank (None when not on it) and points earned."""

    rank: int | None
    points: int


def leaderboard_place(user_id: int, community_ids: list[int], period: str) -> LeaderboardPlace:
    """The user's rank on that board (1 + how many earned more: its ties rule), in one query."""
    first, last = period_months(period)
    query = select(PointsEarning.user_id, func.sum(PointsEarning.points).label("points")).where(
        PointsEarning.community_id.in_(community_ids)
    )
    if first is not None and last is not None:
        query = query.where(and_(PointsEarning.month >= first, PointsEarning.month <= last))
    board = query.group_by(PointsEarning.user_id).having(func.sum(PointsEarning.points) > 0).cte("board")
    mine = board.alias("mine")
    ahead = select(func.count()).select_from(board).where(board.c.points > mine.c.points).scalar_subquery()
    row = db.session.execute(
        select(mine.c.points, (ahead + 1).label("rank")).where(mine.c.user_id == user_id)
    ).first()
    if row is None:
        return LeaderboardPlace(None, 0)
    return LeaderboardPlace(int(row.rank), int(row.points))
