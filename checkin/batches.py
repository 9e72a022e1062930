"""Offline batches from a staff device: each item once by its nonce; earliest entry and latest exit win."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from checkin.checkins import check_in_activity, check_out
from checkin.models import Activity, BatchItem, CheckIn
from checkin.services import get_activity
from checkin.tokens import verify_token
from points.services import award
from server import clock
from server.auth.policy import Principal, allowed
from server.db import db
from server.errors import AppError, register_messages
from server.users.models import User

register_messages(
    {
        "SETTLED": ("活动已结算，不再接受补录", "The activity is settled; late items are not accepted"),
        "NOT_CHECKED_IN": ("没有对应的签到记录", "There is no check-in to close"),
    }
)
SETTLEMENT = timedelta(hours=24)


def _clamp(at: datetime, activity: Activity) -> datetime:
    return min(max(at, activity.checkin_opens_at), activity.checkin_closes_at)


def _member_id(item: dict[str, Any], at: datetime) -> int:
    if item.get("member_token"):
        # The code was valid when the device scanned it, offline: judge it at that moment.
        return verify_token(item["member_token"], ("member",), now=at.timestamp()).target_id
    user_id = item.get("user_id")
    if not isinstance(user_id, int) or db.session.get(User, user_id) is None:
        raise AppError("USER_NOT_FOUND", status=404)
    return user_id


def _apply(principal: Principal, item: dict[str, Any]) -> tuple[str, str | None, int | None]:
    activity = get_activity(item["activity_id"])
    if not allowed(principal, "checkin.manage", activity.community):
        return "refused", "FORBIDDEN", None
    if clock.now() > activity.ends_at + SETTLEMENT:
        return "refused", "SETTLED", None
    at = item["at"]
    user_id = _member_id(item, at)
    existing = db.session.scalars(
        select(CheckIn).where(CheckIn.activity_id == activity.id, CheckIn.user_id == user_id)
    ).first()
    when = _clamp(at, activity)
    if item["kind"] == "in":
        if existing is None:
            result = check_in_activity(user_id, activity, item["nonce"], None, None, when, source="batch")
            return "accepted", None, result.checkin.id
        if when < existing.checked_in_at:  # the earliest entry wins
            existing.checked_in_at = when
            return "accepted", None, existing.id
        return "duplicate", None, existing.id
    if existing is None:
        return "refused", "NOT_CHECKED_IN", None
    if existing.status == "open":
        closed = check_out(user_id, existing.id, at=when)
        return "accepted", None, closed.id
    if existing.checked_out_at is not None and when > existing.checked_out_at:  # the latest exit wins
        old_minutes = existing.minutes or 0
        existing.checked_out_at = when
        existing.minutes = max(0, int((when - existing.checked_in_at) / timedelta(minutes=1)))
        if activity.hours_count and existing.minutes > old_minutes:
            outcome = award(
                user_id,
                activity.points_rule,
                Decimal(existing.minutes - old_minutes) / 60,
                ("checkout", existing.id),
                f"checkout:{existing.id}:{existing.minutes}",
                activity.community_id,
            )
            existing.points_awarded += outcome.points if outcome.status != "refused" else 0
        return "accepted", None, existing.id
    return "duplicate", None, existing.id


def apply_batch(principal: Principal, device_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply each item in its own savepoint; a refused item never spoils the others."""
    results = []
    for item in items:
        seen = db.session.scalars(select(BatchItem).where(BatchItem.nonce == item["nonce"])).first()
        if seen is not None:
            results.append({"nonce": item["nonce"], "result": "duplicate", "checkin_id": seen.checkin_id})
            continue
        try:
            with db.session.begin_nested():
                outcome, code, checkin_id = _apply(principal, item)
                if outcome == "refused":
                    raise _Refused(code or "CONFLICT")
        except _Refused as refused:
            outcome, code, checkin_id = "refused", refused.code, None
        except AppError as error:
            outcome, code, checkin_id = "refused", error.code, None
        db.session.add(
            BatchItem(
                nonce=item["nonce"], device_id=device_id, checkin_id=checkin_id, result=outcome, code=code
            )
        )
        db.session.flush()
        entry: dict[str, Any] = {"nonce": item["nonce"], "result": outcome, "checkin_id": checkin_id}
        if code:
            entry["code"] = code
        results.append(entry)
    return results


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
