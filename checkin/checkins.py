"""Checking in and out: tokens, windows, geo-fences, capacity, one check-in per member, points once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from checkin.models import Activity, CheckIn, Signup, Station
from checkin.services import get_activity, get_station, take_place
from checkin.tokens import parse_printed, verify_token
from points.services import award
from server import clock
from server.auth.policy import Principal, authorize
from server.clock import SERVER_ZONE
from server.db import db, paginate
from server.errors import Conflict, Forbidden, NotFound, register_messages
from server.users.models import User

register_messages(
    {
        "ALREADY_CHECKED_IN": ("您已签到过了", "You have already checked in"),
        "OUTSIDE_WINDOW": ("不在签到时间内", "Check-in is not open at this time"),
        "OUT_OF_RANGE": ("您不在签到范围内，请到现场签到", "You are not close enough; check in on site"),
        "NOT_SIGNED_UP": ("该活动需要先报名", "This activity needs a sign-up first"),
        "CHECKIN_NOT_FOUND": ("签到记录不存在", "No such check-in"),
    }
)
EARTH_RADIUS_M = 6_371_000


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class CheckInResult:
    """A check-in and whether this request made it (False: a repeated nonce)."""

    checkin: CheckIn
    created: bool


def _replay(user_id: int, nonce: str) -> CheckIn | None:
    return db.session.scalars(
        select(CheckIn).where(CheckIn.user_id == user_id, CheckIn.nonce == nonce)
    ).first()


def _target(token: str, now: datetime) -> tuple[str, int]:
    if token.startswith("p"):
        printed = parse_printed(token)  # a printed code proves only where; the window still applies
        return printed.kind, printed.target_id
    verified = verify_token(token, ("activity", "station"), now=now.timestamp())
    return verified.kind, verified.target_id


def station_open_span(station: Station, now: datetime) -> tuple[datetime, datetime] | None:
    """The opening span of the station that contains ``now`` (local time), if any."""
    local = now.astimezone(SERVER_ZONE)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    for opens, closes in station.opening_hours.get(day, []):
        start = local.replace(hour=int(opens[:2]), minute=int(opens[3:]), second=0, microsecond=0)
        end = local.replace(hour=int(closes[:2]), minute=int(closes[3:]), second=0, microsecond=0)
        if start <= local <= end:
            return start, end
    return None


def _check_range(
    lat: float | None, lng: float | None, centre: tuple[Decimal | None, Decimal | None], radius_m: int | None
) -> None:
    if centre[0] is None or centre[1] is None or not radius_m:
        return
    if lat is None or lng is None:
        raise Forbidden("OUT_OF_RANGE", details={"reason": "location required"})
    away = distance_m(lat, lng, float(centre[0]), float(centre[1]))
    if away > radius_m:
        raise Forbidden("OUT_OF_RANGE", details={"distance_m": round(away), "radius_m": radius_m})


BURST = (5, timedelta(minutes=10))  # this many check-ins by one account within this long


def fraud_flags(
    user_id: int,
    now: datetime,
    lat: float | None,
    lng: float | None,
    centre: tuple[Decimal | None, Decimal | None],
    radius_m: int | None,
    device_id: str | None = None,
) -> list[str]:
    """Signals for staff to review; they never refuse a check-in on their own."""
    flags = []
    if device_id:
        others = db.session.scalar(
            select(func.count(func.distinct(CheckIn.user_id))).where(
                CheckIn.device_id == device_id,
                CheckIn.user_id != user_id,
                CheckIn.checked_in_at >= now - BURST[1],
            )
        )
        if others:
            flags.append("shared_device")
    recent = db.session.scalar(
        select(func.count()).where(CheckIn.user_id == user_id, CheckIn.checked_in_at >= now - BURST[1])
    )
    if (recent or 0) >= BURST[0]:
        flags.append("burst")
    located = lat is not None and lng is not None and centre[0] is not None and centre[1] is not None
    if located and radius_m and distance_m(lat, lng, float(centre[0]), float(centre[1])) > 3 * radius_m:  # type: ignore[arg-type]
        flags.append("far_away")
    return flags


def check_in(
    user_id: int, token: str, nonce: str, lat: float | None, lng: float | None, device_id: str | None = None
) -> CheckInResult:
    """Check a member in by a scanned code; a repeated nonce returns the first check-in."""
    existing = _replay(user_id, nonce)
    if existing is not None:
        return CheckInResult(existing, False)
    now = clock.now()
    kind, target_id = _target(token, now)
    if kind == "activity":
        return check_in_activity(user_id, get_activity(target_id), nonce, lat, lng, now, device_id=device_id)
    return _check_in_station(user_id, get_station(target_id), nonce, lat, lng, now, device_id=device_id)


def _new_checkin(
    place: Activity | Station,
    user_id: int,
    nonce: str,
    lat: float | None,
    lng: float | None,
    now: datetime,
    device_id: str | None,
    source: str,
) -> CheckIn:
    """An open check-in at an activity or a station, with its fraud signals."""
    return CheckIn(
        user_id=user_id,
        activity_id=place.id if isinstance(place, Activity) else None,
        station_id=place.id if isinstance(place, Station) else None,
        nonce=nonce,
        checked_in_at=now,
        lat=lat,
        lng=lng,
        status="open",
        points_awarded=0,
        flags=fraud_flags(user_id, now, lat, lng, (place.lat, place.lng), place.radius_m, device_id),
        source=source,
        device_id=device_id,
    )


def _insert(checkin: CheckIn, user_id: int, nonce: str) -> CheckInResult | None:
    """Insert under a savepoint; None when a unique constraint refused it (the caller says which)."""
    try:
        with db.session.begin_nested():
            db.session.add(checkin)
            db.session.flush()
    except IntegrityError:
        return None
    return CheckInResult(checkin, True)


def check_in_activity(
    user_id: int,
    activity: Activity,
    nonce: str,
    lat: float | None,
    lng: float | None,
    now: datetime,
    source: str = "scan",
    device_id: str | None = None,
) -> CheckInResult:
    """Check a member in at an activity, as of ``now``: the checks in order (cancelled, window, range
    for a scan, sign-up), then the insert, where the unique constraint decides, then the points.

    ``source`` is "scan" (the member's phone), "staff" (a staff scan on site) or "batch" (offline)."""
    if activity.cancelled_at is not None:
        raise Conflict("ACTIVITY_CANCELLED")
    if not activity.checkin_opens_at <= now <= activity.checkin_closes_at:
        raise Conflict(
            "OUTSIDE_WINDOW",
            details={
                "opens_at": activity.checkin_opens_at.isoformat(),
                "closes_at": activity.checkin_closes_at.isoformat(),
            },
        )
    if activity.geofence and source == "scan":  # a staff scan happens on site
        _check_range(lat, lng, (activity.lat, activity.lng), activity.radius_m)
    if activity.signup_required:
        signed = db.session.scalar(
            select(Signup.id).where(Signup.activity_id == activity.id, Signup.user_id == user_id)
        )
        if signed is None:
            raise Forbidden("NOT_SIGNED_UP")
    checkin = _new_checkin(activity, user_id, nonce, lat, lng, now, device_id, source)
    result = _insert_taking_place(checkin, activity, user_id, nonce)
    if result.created and not activity.hours_count:
        # Points per event at check-in; the check-in is the idempotency key, caps are the ledger's.
        outcome = award(
            user_id,
            activity.points_rule,
            1,
            ("checkin", checkin.id),
            f"checkin:{checkin.id}",
            activity.community_id,
        )
        checkin.points_awarded = outcome.points if outcome.status != "refused" else 0
        db.session.flush()
    return result


def _insert_taking_place(checkin: CheckIn, activity: Activity, user_id: int, nonce: str) -> CheckInResult:
    try:
        with db.session.begin_nested():
            if not activity.signup_required and not take_place(activity.id):
                raise Conflict("ACTIVITY_FULL", details={"capacity": activity.capacity})
            db.session.add(checkin)
            db.session.flush()
    except IntegrityError:
        # The unique constraint decides, not a query before the insert: the same nonce (a racing twin)
        # replays, another nonce of the same member is a second check-in, refused with the first one's id.
        replay = _replay(user_id, nonce)
        if replay is not None:
            return CheckInResult(replay, False)
        first = db.session.scalar(
            select(CheckIn.id).where(CheckIn.activity_id == activity.id, CheckIn.user_id == user_id)
        )
        raise Conflict("ALREADY_CHECKED_IN", details={"checkin_id": first}) from None
    return CheckInResult(checkin, True)


def _check_in_station(
    user_id: int,
    station: Station,
    nonce: str,
    lat: float | None,
    lng: float | None,
    now: datetime,
    device_id: str | None = None,
) -> CheckInResult:
    if not station.active or station_open_span(station, now) is None:
        raise Conflict("OUTSIDE_WINDOW", details={"opening_hours": station.opening_hours})
    _check_range(lat, lng, (station.lat, station.lng), station.radius_m)
    checkin = _new_checkin(station, user_id, nonce, lat, lng, now, device_id, "scan")
    result = _insert(checkin, user_id, nonce)
    if result is None:
        replay = _replay(user_id, nonce)
        if replay is not None:
            return CheckInResult(replay, False)
        raise Conflict("ALREADY_CHECKED_IN", details={"reason": "an open visit at this station"})
    return result


def _window(checkin: CheckIn) -> tuple[datetime, datetime]:
    if checkin.activity_id is not None:
        activity = get_activity(checkin.activity_id)
        return activity.checkin_opens_at, activity.checkin_closes_at
    station = get_station(checkin.station_id or 0)
    span = station_open_span(station, checkin.checked_in_at)
    return span if span is not None else (checkin.checked_in_at, checkin.checked_in_at)


def check_out(user_id: int, checkin_id: int, status: str = "closed", at: datetime | None = None) -> CheckIn:
    """Close a check-in once: minutes clamped to the window, hours awarded by the rule (once)."""
    checkin = db.session.get(CheckIn, checkin_id)
    if checkin is None or checkin.user_id != user_id:
        raise NotFound("CHECKIN_NOT_FOUND", details={"id": checkin_id})
    if checkin.status != "open":
        return checkin
    opens, closes = _window(checkin)
    now = at or clock.now()
    start, end = max(checkin.checked_in_at, opens), min(now, closes)
    minutes = max(0, int((end - start) / timedelta(minutes=1)))
    # One conditional update decides who closes it (a member's check-out or the closing job).
    closed = db.session.execute(
        update(CheckIn)
        .where(CheckIn.id == checkin.id, CheckIn.status == "open")
        .values(status=status, checked_out_at=now, minutes=minutes)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(checkin)
    if not closed.rowcount:  # type: ignore[attr-defined]
        return checkin
    rule, community = _hour_rule(checkin)
    if rule is not None and minutes > 0:
        outcome = award(
            user_id,
            rule,
            Decimal(minutes) / 60,
            ("checkout", checkin.id),
            f"checkout:{checkin.id}",
            community,
        )
        if outcome.status != "refused":
            checkin.points_awarded += outcome.points
    db.session.flush()
    return checkin


def _hour_rule(checkin: CheckIn) -> tuple[str | None, int]:
    if checkin.activity_id is not None:
        activity = get_activity(checkin.activity_id)
        return (activity.points_rule if activity.hours_count else None), activity.community_id
    station = get_station(checkin.station_id or 0)
    return station.points_rule, station.community_id


# --- closing what was left open -------------------------------------------------------------------------


def checkins_to_close(now: datetime) -> dict[int, datetime]:
    """Open check-ins whose window is over, each with the end of its window (where its hours stop)."""
    rows = db.session.execute(
        select(CheckIn.id, Activity.checkin_closes_at)
        .join(Activity, Activity.id == CheckIn.activity_id)
        .where(CheckIn.status == "open", Activity.checkin_closes_at < now)
    ).all()
    due = dict(rows)
    visits = db.session.scalars(
        select(CheckIn).where(CheckIn.status == "open", CheckIn.station_id.is_not(None))
    )
    for checkin in visits:
        station = db.session.get(Station, checkin.station_id)
        span = station_open_span(station, checkin.checked_in_at) if station else None
        end = span[1] if span else checkin.checked_in_at
        if end < now:
            due[checkin.id] = end
    return due


def close_left_open(checkin_id: int, at: datetime) -> bool:
    """Close a check-in left open, with hours up to ``at``, and flag it; False when the member was first."""
    checkin = db.session.get(CheckIn, checkin_id)
    if checkin is None or checkin.status != "open":
        return False
    result = check_out(checkin.user_id, checkin.id, status="auto_closed", at=at)
    if result.status != "auto_closed" or "left_open" in result.flags:
        return False  # the member checked out first, or an overlapping sweep closed it
    result.flags = [*result.flags, "left_open"]
    db.session.flush()
    return True


def my_checkins(user_id: int, page: int, page_size: int) -> tuple[list[CheckIn], int]:
    """A member's check-ins, newest first."""
    query = select(CheckIn).where(CheckIn.user_id == user_id)
    return paginate(query.order_by(CheckIn.id.desc()), page, page_size)


def staff_scan(principal: Principal, activity_id: int, member_token: str, nonce: str) -> tuple[CheckIn, str]:
    """Staff of the activity's community scan a member's own code: check them in, or out when their
    check-in is open; returns (check-in, "in" | "out")."""
    activity = get_activity(activity_id)
    authorize(principal, "checkin.manage", activity.community)
    now = clock.now()
    member = verify_token(member_token, ("member",), now=now.timestamp())
    if db.session.get(User, member.target_id) is None:
        raise NotFound("USER_NOT_FOUND", details={"user_id": member.target_id})
    replay = _replay(member.target_id, nonce)
    if replay is not None:
        return replay, "in" if replay.status == "open" else "out"
    open_checkin = db.session.scalars(
        select(CheckIn).where(
            CheckIn.activity_id == activity.id, CheckIn.user_id == member.target_id, CheckIn.status == "open"
        )
    ).first()
    if open_checkin is not None:
        return check_out(member.target_id, open_checkin.id), "out"
    result = check_in_activity(member.target_id, activity, nonce, None, None, now, source="staff")
    return result.checkin, "in"
