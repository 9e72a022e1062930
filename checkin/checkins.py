"""Checking in and out: proof of presence (codes, windows, geo-fences), who may attend, capacity, one
check-in per member, points once; voiding what staff find false."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from checkin.geo import accuracy_slack_m, as_gcj02
from checkin.links import code_from_scan, short_code_matches
from checkin.models import Activity, CheckIn, Signup, Station
from checkin.services import check_community, get_activity, get_station, take_place
from checkin.tokens import parse_printed, verify_token
from points.services import award, reverse_awards_of
from server import clock
from server.audit import services as audit
from server.auth.policy import Principal, authorize
from server.clock import SERVER_ZONE
from server.db import db, paginate_newest_first
from server.errors import AppError, Conflict, Forbidden, NotFound, register_messages
from server.users.models import User

register_messages(
    {
        "ALREADY_CHECKED_IN": ("您已签到过了", "You have already checked in"),
        "OUTSIDE_WINDOW": ("不在签到时间内", "Check-in is not open at this time"),
        "OUT_OF_RANGE": ("您不在签到范围内，请到现场签到", "You are not close enough; check in on site"),
        "LOCATION_REQUIRED": (
            "此处签到需要您的位置，请在微信中允许小程序获取位置后重试",
            "Checking in here needs your location: allow the mini program to use it and try again",
        ),
        "NOT_SIGNED_UP": ("该活动需要先报名", "This activity needs a sign-up first"),
        "SHORT_CODE_INVALID": (
            "签到码不正确或已过期，请核对现场屏幕上的 6 位数字",
            "The sign-in code is wrong or expired: check the 6 digits on the screen",
        ),
        "CHECKIN_NOT_FOUND": ("签到记录不存在", "No such check-in"),
        "TOKEN_REQUIRED": (
            "签退请扫描现场的签到码",
            "Checking out needs the current code on site: scan it",
        ),
        "NOT_A_MEMBER": (
            "该活动仅限本社区党员和已报名的居民参加",
            "This activity is for the community's party members and those signed up",
        ),
    }
)
# Kinds of activity only the community's party members (and those signed up) attend, whatever staff set.
MEMBERS_ONLY_KINDS = ("party_day",)
SELF_SOURCES = ("scan", "printed")  # the member's own phone: its location is the only one there is
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


@dataclass(frozen=True)
class ScannedCode:
    """What a scanned code names, and whether it was a printed poster (which version) or a screen."""

    kind: str
    target_id: int
    printed_version: int | None = None


def _scanned(scanned: str, now: datetime) -> ScannedCode:
    token = code_from_scan(scanned)
    if token.startswith("p"):
        printed = parse_printed(token)
        return ScannedCode(printed.kind, printed.target_id, printed.version)
    verified = verify_token(token, ("activity", "station"), now=now.timestamp())
    return ScannedCode(verified.kind, verified.target_id)


def _check_printed(place: Activity | Station, code: ScannedCode) -> None:
    """A printed code counts only where staff allow printed codes, and only the current poster's."""
    if code.printed_version is None:
        return
    if not place.printed_code_allowed:
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "printed codes are off here"})
    if code.printed_version != place.printed_version:
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "an old poster"})


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
    lat: float | None,
    lng: float | None,
    centre: tuple[Decimal | None, Decimal | None],
    radius_m: int | None,
    accuracy_m: float | None = None,
) -> None:
    """The GCJ-02 fix within the fence, allowing ``min(accuracy, 100)`` m for the fix's own error."""
    if centre[0] is None or centre[1] is None or not radius_m:
        return
    if lat is None or lng is None:
        raise Forbidden("LOCATION_REQUIRED")
    away = distance_m(lat, lng, float(centre[0]), float(centre[1]))
    if away > radius_m + accuracy_slack_m(accuracy_m):
        # No distance back: with it, three refusals would locate the fence's centre for a script.
        raise Forbidden("OUT_OF_RANGE", details={"reason": "too far"})


BURST = (5, timedelta(minutes=10))  # this many check-ins by one account within this long


def fraud_flags(
    user_id: int,
    now: datetime,
    lat: float | None,
    lng: float | None,
    centre: tuple[Decimal | None, Decimal | None],
    radius_m: int | None,
    device_id: str | None = None,
    self_scan: bool = True,
) -> list[str]:
    """Signals for staff to review; they never refuse a check-in on their own. A staff scan or an
    offline batch has no location of the member's phone, so only a member's own scan can miss one."""
    flags = []
    has_centre = centre[0] is not None and centre[1] is not None
    if self_scan and has_centre and (lat is None or lng is None):
        flags.append("no_location")
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
    user_id: int,
    token: str,
    nonce: str,
    lat: float | None,
    lng: float | None,
    device_id: str | None = None,
    coord_type: str = "gcj02",
    accuracy_m: float | None = None,
) -> CheckInResult:
    """Check a member in by a scanned code; a repeated nonce returns the first check-in (before the code
    is judged, so a resend after the code went stale still gets the first answer). A WGS-84 fix is
    turned into GCJ-02 first, so the fence, the fraud signals and the stored fix all use one datum."""
    existing = _replay(user_id, nonce)
    if existing is not None:
        return CheckInResult(existing, False)
    lat, lng = as_gcj02(lat, lng, coord_type)
    now = clock.now()
    code = _scanned(token, now)
    source = "scan" if code.printed_version is None else "printed"
    if code.kind == "activity":
        activity = get_activity(code.target_id)
        _check_printed(activity, code)
        return check_in_activity(
            user_id, activity, nonce, lat, lng, now, source=source, device_id=device_id, accuracy_m=accuracy_m
        )
    station = get_station(code.target_id)
    _check_printed(station, code)
    return _check_in_station(
        user_id, station, nonce, lat, lng, now, source, device_id=device_id, accuracy_m=accuracy_m
    )


def check_in_by_short_code(
    user_id: int,
    activity_id: int,
    typed: str,
    nonce: str,
    lat: float | None,
    lng: float | None,
    device_id: str | None = None,
    coord_type: str = "gcj02",
    accuracy_m: float | None = None,
) -> CheckInResult:
    """Check a member in by the 6-digit code typed from the door screen: the screen code's proof of
    presence, the same checks after it; a repeated nonce returns the first check-in."""
    existing = _replay(user_id, nonce)
    if existing is not None:
        return CheckInResult(existing, False)
    lat, lng = as_gcj02(lat, lng, coord_type)
    now = clock.now()
    activity = get_activity(activity_id)
    if not short_code_matches(activity.id, typed, now.timestamp()):
        raise AppError("SHORT_CODE_INVALID", status=400)
    return check_in_activity(
        user_id, activity, nonce, lat, lng, now, source="scan", device_id=device_id, accuracy_m=accuracy_m
    )


@dataclass(frozen=True)
class Recorder:
    """The staff account and device that recorded a check-in for a member (a staff scan, a batch)."""

    staff_id: int | None
    device_id: str | None = None


def _new_checkin(
    place: Activity | Station,
    user_id: int,
    nonce: str,
    lat: float | None,
    lng: float | None,
    now: datetime,
    device_id: str | None,
    source: str,
    recorder: Recorder | None = None,
) -> CheckIn:
    """An open check-in at an activity or a station, with its fraud signals and who recorded it."""
    self_scan = source in SELF_SOURCES
    flags = fraud_flags(
        user_id,
        now,
        lat,
        lng,
        (place.lat, place.lng),
        place.radius_m,
        device_id if self_scan else None,
        self_scan,
    )
    if source == "printed" and not _fenced(place):
        flags.append("printed_no_fence")
    return CheckIn(
        user_id=user_id,
        activity_id=place.id if isinstance(place, Activity) else None,
        station_id=place.id if isinstance(place, Station) else None,
        nonce=nonce,
        checked_in_at=now,
        proven_at=now,
        lat=lat,
        lng=lng,
        status="open",
        points_awarded=0,
        flags=flags,
        source=source,
        device_id=device_id if self_scan else (recorder.device_id if recorder else None),
        staff_id=recorder.staff_id if recorder else None,
    )


def _fenced(place: Activity | Station) -> bool:
    """Whether a member's own scan must come from within the place's fence."""
    located = place.lat is not None and place.lng is not None and bool(place.radius_m)
    return located and (place.geofence if isinstance(place, Activity) else True)


def _check_attendee(user_id: int, activity: Activity) -> None:
    """Who may attend: residents (or party members) of the activity's community, unless it is open to
    all; for party days and members-only activities, its party members and those signed up."""
    user = check_community(user_id, activity)
    if activity.members_only or activity.kind in MEMBERS_ONLY_KINDS:
        party_here = user.party_community_id == activity.community_id
        if not party_here and not _signed_up(activity.id, user_id):
            raise Forbidden("NOT_A_MEMBER")


def _signed_up(activity_id: int, user_id: int) -> bool:
    found = db.session.scalar(
        select(Signup.id).where(Signup.activity_id == activity_id, Signup.user_id == user_id)
    )
    return found is not None


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
    recorder: Recorder | None = None,
    accuracy_m: float | None = None,
) -> CheckInResult:
    """Check a member in at an activity, as of ``now``: the checks in order (cancelled, window, who may
    attend, range for the member's own scan, sign-up), then the insert, where the unique constraint
    decides, then the points.

    ``source`` is "scan" (a screen's rotating code), "printed" (a signed poster), "staff" (a staff scan
    on site) or "batch" (offline); ``recorder`` is the staff account and device of the last two."""
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
    _check_attendee(user_id, activity)
    if activity.geofence and source in SELF_SOURCES:  # a staff scan happens on site
        _check_range(lat, lng, (activity.lat, activity.lng), activity.radius_m, accuracy_m)
    if activity.signup_required and not _signed_up(activity.id, user_id):
        raise Forbidden("NOT_SIGNED_UP")
    checkin = _new_checkin(activity, user_id, nonce, lat, lng, now, device_id, source, recorder)
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
            actor_staff_id=recorder.staff_id if recorder else None,
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
    source: str,
    device_id: str | None = None,
    accuracy_m: float | None = None,
) -> CheckInResult:
    if not station.active or station_open_span(station, now) is None:
        raise Conflict("OUTSIDE_WINDOW", details={"opening_hours": station.opening_hours})
    _check_range(lat, lng, (station.lat, station.lng), station.radius_m, accuracy_m)
    checkin = _new_checkin(station, user_id, nonce, lat, lng, now, device_id, source)
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


def _own_checkin(user_id: int, checkin_id: int) -> CheckIn:
    checkin = db.session.get(CheckIn, checkin_id)
    if checkin is None or checkin.user_id != user_id:
        raise NotFound("CHECKIN_NOT_FOUND", details={"id": checkin_id})
    return checkin


def check_out(user_id: int, checkin_id: int, token: str | None = None) -> CheckIn:
    """A member closes their check-in; where the check-out pays hours it needs the place's current code
    (TOKEN_REQUIRED without one), since only that proves the member is still there. A closed check-in
    answers as it is, whatever is sent (a resend)."""
    checkin = _own_checkin(user_id, checkin_id)
    if checkin.status != "open":
        return checkin
    now = clock.now()
    if _hour_rule(checkin)[0] is not None:
        if not token:
            raise AppError("TOKEN_REQUIRED", status=400)
        _check_place_code(checkin, token, now)
    return close_checkin(checkin, now, proven=True)


def _check_place_code(checkin: CheckIn, token: str, now: datetime) -> None:
    """The code scanned at check-out must be the current one of the check-in's own place."""
    code = _scanned(token, now)
    place: Activity | Station
    if code.kind == "activity" and code.target_id == checkin.activity_id:
        place = get_activity(code.target_id)
    elif code.kind == "station" and code.target_id == checkin.station_id:
        place = get_station(code.target_id)
    else:
        raise AppError("TOKEN_INVALID", status=400, details={"reason": "the code of another place"})
    _check_printed(place, code)


def close_checkin(
    checkin: CheckIn,
    at: datetime,
    status: str = "closed",
    proven: bool = True,
    actor_staff_id: int | None = None,
) -> CheckIn:
    """Close a check-in once: minutes clamped to the window and, unless presence was proven at ``at``,
    to the last proven moment; hours awarded by the rule (once). One conditional update decides who
    closes it (a member's check-out, a staff scan or the closing job)."""
    opens, closes = _window(checkin)
    until = at if proven else min(at, checkin.proven_at or checkin.checked_in_at)
    start, end = max(checkin.checked_in_at, opens), min(until, closes)
    minutes = max(0, int((end - start) / timedelta(minutes=1)))
    values: dict[str, object] = {"status": status, "checked_out_at": at, "minutes": minutes}
    if proven:
        values["proven_at"] = at
    closed = db.session.execute(
        update(CheckIn)
        .where(CheckIn.id == checkin.id, CheckIn.status == "open")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(checkin)
    if not closed.rowcount:  # type: ignore[attr-defined]
        return checkin
    rule, community = _hour_rule(checkin)
    if rule is not None and minutes > 0:
        outcome = award(
            checkin.user_id,
            rule,
            Decimal(minutes) / 60,
            ("checkout", checkin.id),
            f"checkout:{checkin.id}",
            community,
            actor_staff_id=actor_staff_id,
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
    """Close a check-in left open at ``at`` (its window's end), with hours only up to the last proven
    moment (the check-in, when nothing later proved presence), and flag it; False when the member was
    first."""
    checkin = db.session.get(CheckIn, checkin_id)
    if checkin is None or checkin.status != "open":
        return False
    result = close_checkin(checkin, at, status="auto_closed", proven=False)
    if result.status != "auto_closed" or "left_open" in result.flags:
        return False  # the member checked out first, or an overlapping sweep closed it
    result.flags = [*result.flags, "left_open"]
    db.session.flush()
    return True


def my_checkins(
    user_id: int, page: int, page_size: int, before_id: int | None = None
) -> tuple[list[CheckIn], int, int | None]:
    """A member's check-ins, newest first; the total and the next page's before_id."""
    query = (
        select(CheckIn)
        .where(CheckIn.user_id == user_id)
        .options(selectinload(CheckIn.activity).selectinload(Activity.station), selectinload(CheckIn.station))
    )
    return paginate_newest_first(query, CheckIn.id, page, page_size, before_id)


def staff_scan(
    principal: Principal, activity_id: int, member_token: str, nonce: str, device_id: str | None = None
) -> tuple[CheckIn, str]:
    """Staff of the activity's community scan a member's own code on site: check them in, or out when
    their check-in is open (the scan proves presence); the staff account and device are recorded.
    Returns (check-in, "in" | "out")."""
    activity = get_activity(activity_id)
    authorize(principal, "checkin.manage", activity.community)
    recorder = Recorder(principal.staff.id if principal.staff else None, device_id)
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
        return close_checkin(open_checkin, now, actor_staff_id=recorder.staff_id), "out"
    result = check_in_activity(
        member.target_id, activity, nonce, None, None, now, source="staff", recorder=recorder
    )
    return result.checkin, "in"


# --- voiding what staff find false ------------------------------------------------------------------------


def void_checkin(principal: Principal, checkin_id: int, reason: str) -> CheckIn:
    """Staff of the place's community void a check-in they find false (a flagged one, say): its points
    go back through the ledger with the reason, once; a voided check-in answers as it is (a resend)."""
    if not reason or not reason.strip():
        raise AppError("REASON_REQUIRED", status=422)
    checkin = db.session.scalars(select(CheckIn).where(CheckIn.id == checkin_id).with_for_update()).first()
    if checkin is None:
        raise NotFound("CHECKIN_NOT_FOUND", details={"id": checkin_id})
    place = get_activity(checkin.activity_id) if checkin.activity_id else get_station(checkin.station_id or 0)
    authorize(principal, "checkin.manage", place.community)
    db.session.refresh(checkin)  # as it is now that the row is locked
    if checkin.status == "voided":
        return checkin
    staff_id = principal.staff.id if principal.staff else None
    reverse_awards_of(("checkin", "checkout"), checkin.id, f"签到作废：{reason.strip()}", staff_id)
    checkin.status = "voided"
    checkin.voided_at = clock.now()
    checkin.voided_by_id = staff_id
    checkin.void_reason = reason.strip()[:200]
    checkin.points_awarded = 0
    db.session.flush()
    audit.record(
        "checkin.voided", principal, "checkin", checkin.id, place.community_id, {"reason": reason.strip()}
    )
    return checkin
