"""Offline batches from a staff device: each item once by its nonce; earliest entry and latest exit win;
every item is kept with the staff account and device that sent it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from checkin.checkins import Recorder, check_in_activity, close_checkin
from checkin.models import Activity, BatchItem, CheckIn
from checkin.services import get_activity
from checkin.tokens import verify_token_seen_at
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
        "OFFLINE_TOO_OLD": (
            "离线记录超过24小时，不能再上传",
            "Offline scans must be uploaded within 24 hours",
        ),
        "CHECKIN_VOIDED": ("该签到已被作废", "This check-in was voided by staff"),
        "AT_IN_FUTURE": ("记录时间晚于当前时间，请校准设备时间", "The time given is in the future"),
    }
)
SETTLEMENT = timedelta(hours=24)
OFFLINE_WINDOW = timedelta(hours=24)  # an offline scan must reach the server within this long
CLOCK_SKEW = timedelta(minutes=2)  # how far a staff device's clock may be off


def _clamp(at: datetime, activity: Activity) -> datetime:
    return min(max(at, activity.checkin_opens_at), activity.checkin_closes_at)


def _member_id(item: dict[str, Any], at: datetime) -> int:
    if item.get("member_token"):
        # The code was shown when the device scanned it, offline: that moment must lie within the code's
        # own life, so back-dating ``at`` cannot revive a code from long ago (at most OFFLINE_WINDOW).
        verified = verify_token_seen_at(
            item["member_token"], ("member",), at.timestamp(), CLOCK_SKEW.total_seconds()
        )
        return verified.target_id
    user_id = item.get("user_id")
    if not isinstance(user_id, int) or db.session.get(User, user_id) is None:
        raise AppError("USER_NOT_FOUND", status=404)
    return user_id


def _apply(principal: Principal, device_id: str, item: dict[str, Any]) -> tuple[str, str | None, int | None]:
    activity = get_activity(item["activity_id"])
    if not allowed(principal, "checkin.manage", activity.community):
        return "refused", "FORBIDDEN", None
    now = clock.now()
    if now > activity.ends_at + SETTLEMENT:
        return "refused", "SETTLED", None
    at = item["at"]
    if at < now - OFFLINE_WINDOW:
        return "refused", "OFFLINE_TOO_OLD", None
    if at > now + CLOCK_SKEW:
        return "refused", "AT_IN_FUTURE", None
    user_id = _member_id(item, at)
    recorder = Recorder(principal.staff.id if principal.staff else None, device_id)
    existing = db.session.scalars(
        select(CheckIn).where(CheckIn.activity_id == activity.id, CheckIn.user_id == user_id)
    ).first()
    if existing is not None and existing.status == "voided":
        return "refused", "CHECKIN_VOIDED", existing.id
    when = _clamp(at, activity)
    if item["kind"] == "in":
        if existing is None:
            result = check_in_activity(
                user_id, activity, item["nonce"], None, None, when, source="batch", recorder=recorder
            )
            return "accepted", None, result.checkin.id
        if when < existing.checked_in_at:  # the earliest entry wins
            existing.checked_in_at = when
            return "accepted", None, existing.id
        return "duplicate", None, existing.id
    if existing is None:
        return "refused", "NOT_CHECKED_IN", None
    if existing.status == "open":
        closed = close_checkin(existing, when, actor_staff_id=recorder.staff_id)
        return "accepted", None, closed.id
    # The latest exit wins; one left open and closed by the job counted only to its last proof, so a
    # staff device that saw the member leave later tops its hours up.
    unproven = existing.status == "auto_closed" and when > (existing.proven_at or existing.checked_in_at)
    if unproven or (existing.checked_out_at is not None and when > existing.checked_out_at):
        old_minutes = existing.minutes or 0
        existing.checked_out_at = existing.proven_at = when
        existing.status = "closed"
        start = max(existing.checked_in_at, activity.checkin_opens_at)
        existing.minutes = max(old_minutes, int((when - start) / timedelta(minutes=1)))
        if activity.hours_count and existing.minutes > old_minutes:
            outcome = award(
                user_id,
                activity.points_rule,
                Decimal(existing.minutes - old_minutes) / 60,
                ("checkout", existing.id),
                f"checkout:{existing.id}:{existing.minutes}",
                activity.community_id,
                actor_staff_id=recorder.staff_id,
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
                outcome, code, checkin_id = _apply(principal, device_id, item)
                if outcome == "refused":
                    raise _Refused(code or "CONFLICT")
        except _Refused as refused:
            outcome, code, checkin_id = "refused", refused.code, None
        except AppError as error:
            outcome, code, checkin_id = "refused", error.code, None
        db.session.add(
            BatchItem(
                nonce=item["nonce"],
                device_id=device_id,
                staff_id=principal.staff.id if principal.staff else None,
                checkin_id=checkin_id,
                result=outcome,
                code=code,
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
