"""Stations, activities and sign-ups: the rules (services flush; the request boundary commits)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from checkin import policy  # noqa: F401  (registers the rule "checkin.manage")
from checkin.links import checkin_link
from checkin.models import Activity, CheckIn, Signup, Station
from checkin.tokens import IssuedToken, issue_token, printed_scene
from points.services import get_rule
from server import clock, qr
from server.auth.policy import Principal, authorize, staff_scope_ids
from server.db import db, paginate
from server.errors import AppError, Conflict, Forbidden, NotFound, register_messages
from server.notifications.services import publish
from server.orgs.services import get_community
from server.users.models import User
from server.wechat.errors import WeChatError
from server.wechat.factory import wechat_client, wechat_unavailable

register_messages(
    {
        "STATION_NOT_FOUND": ("服务站不存在", "No such station"),
        "ACTIVITY_NOT_FOUND": ("活动不存在", "No such activity"),
        "ACTIVITY_FULL": ("活动名额已满", "The activity is full"),
        "SIGNUP_CLOSED": ("活动已开始，报名已截止", "Sign-up has closed: the activity has started"),
        "CANCEL_CLOSED": (
            "活动已开始，不能再取消报名",
            "The activity has started: a sign-up can no longer be cancelled",
        ),
        "ACTIVITY_CANCELLED": ("活动已取消", "The activity was cancelled"),
        "CAPACITY_BELOW_TAKEN": ("名额不能少于已报名人数", "Capacity cannot go below the places taken"),
        "OPENING_HOURS_INVALID": (
            '开放时间格式不正确，例如 {"mon": [["08:30", "17:30"]]}',
            'Opening hours look like {"mon": [["08:30", "17:30"]]}',
        ),
        "OTHER_COMMUNITY": ("该活动仅限本社区居民参加", "This activity is for residents of its community"),
        "PRINTED_CODE_OFF": (
            "未开启纸质签到码，请在活动设置中开启",
            "Printed codes are off for this place; allow them first",
        ),
        "PRINTED_VERSION_CHANGED": (
            "签到码已被他人重新打印，请刷新页面",
            "The printed code was reprinted meanwhile; reload",
        ),
        "GEOFENCE_NEEDS_LOCATION": (
            "开启签到范围需要设置位置和半径",
            "A geo-fence needs a location and a radius",
        ),
    }
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
DEFAULT_OPENS_BEFORE = timedelta(minutes=30)
CHECKIN_PAGE = "pages/checkin/index"  # the mini program page a printed code opens, with query.scene


def _check_opening_hours(hours: dict[str, Any]) -> dict[str, list[list[str]]]:
    clean: dict[str, list[list[str]]] = {}
    for day, spans in hours.items():
        if day not in DAYS or not isinstance(spans, list):
            raise AppError("OPENING_HOURS_INVALID", status=422, details={"day": day})
        for span in spans:
            if (
                not isinstance(span, list)
                or len(span) != 2
                or not all(isinstance(t, str) and _HHMM.match(t) for t in span)
                or span[0] >= span[1]
            ):
                raise AppError("OPENING_HOURS_INVALID", status=422, details={"day": day, "span": span})
        clean[day] = sorted(spans)
    return clean


# --- stations -------------------------------------------------------------------------------------------


def get_station(station_id: int) -> Station:
    """The station, or STATION_NOT_FOUND."""
    station = db.session.get(Station, station_id)
    if station is None:
        raise NotFound("STATION_NOT_FOUND", details={"id": station_id})
    return station


def create_station(principal: Principal, values: dict[str, Any]) -> Station:
    """Add a station to a community the caller looks after."""
    community = get_community(values["community_id"])
    authorize(principal, "checkin.manage", community)
    get_rule(values.get("points_rule", "STATION_DUTY_HOUR"))
    values = {**values, "opening_hours": _check_opening_hours(values.get("opening_hours") or {})}
    station = Station(**values)
    db.session.add(station)
    db.session.flush()
    return station


def update_station(principal: Principal, station_id: int, values: dict[str, Any]) -> Station:
    """Change a station (not its community)."""
    station = get_station(station_id)
    authorize(principal, "checkin.manage", station.community)
    if "opening_hours" in values:
        values = {**values, "opening_hours": _check_opening_hours(values["opening_hours"] or {})}
    if "points_rule" in values:
        get_rule(values["points_rule"])
    for name, value in values.items():
        setattr(station, name, value)
    db.session.flush()
    return station


def staff_stations(
    principal: Principal, community_id: int | None = None, active_only: bool = False
) -> list[Station]:
    """Stations of the staff member's communities (or one of them): open ones first, by community."""
    query = select(Station).where(Station.community_id.in_(staff_scope_ids(principal)))
    if community_id:
        query = query.where(Station.community_id == community_id)
    if active_only:
        query = query.where(Station.active.is_(True))
    return list(db.session.scalars(query.order_by(Station.active.desc(), Station.community_id, Station.id)))


def station_visits(station_ids: list[int], at: datetime | None = None) -> dict[int, int]:
    """Visits per station on the local day of ``at`` (today)."""
    if not station_ids:
        return {}
    since, until = clock.today_bounds(at)
    rows = db.session.execute(
        select(CheckIn.station_id, func.count())
        .where(
            CheckIn.station_id.in_(station_ids),
            CheckIn.checked_in_at >= since,
            CheckIn.checked_in_at < until,
            CheckIn.status != "voided",
        )
        .group_by(CheckIn.station_id)
    )
    return {int(station_id): int(count) for station_id, count in rows if station_id is not None}


def list_stations(community_id: int) -> list[Station]:
    """The active stations of a community."""
    get_community(community_id)
    return list(
        db.session.scalars(
            select(Station)
            .where(Station.community_id == community_id, Station.active.is_(True))
            .order_by(Station.id)
        )
    )


# --- activities -----------------------------------------------------------------------------------------


def get_activity(activity_id: int) -> Activity:
    """The activity, or ACTIVITY_NOT_FOUND."""
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        raise NotFound("ACTIVITY_NOT_FOUND", details={"id": activity_id})
    return activity


def _check_activity(activity: Activity) -> None:
    if activity.ends_at <= activity.starts_at:
        raise AppError(
            "VALIDATION_ERROR", status=422, details={"fields": {"ends_at": ["must be after starts_at"]}}
        )
    if activity.checkin_closes_at <= activity.checkin_opens_at:
        raise AppError(
            "VALIDATION_ERROR", status=422, details={"fields": {"checkin_closes_at": ["must be after opens"]}}
        )
    if activity.geofence and (activity.lat is None or activity.lng is None or not activity.radius_m):
        raise AppError("GEOFENCE_NEEDS_LOCATION", status=422)
    if activity.capacity is not None and activity.capacity < (activity.taken or 0):
        raise Conflict("CAPACITY_BELOW_TAKEN", details={"taken": activity.taken})


def create_activity(principal: Principal, values: dict[str, Any]) -> Activity:
    """Add an activity; the check-in window defaults to 30 minutes before the start until the end."""
    community = get_community(values["community_id"])
    authorize(principal, "checkin.manage", community)
    get_rule(values["points_rule"])
    station_id = values.get("station_id")
    station = get_station(station_id) if station_id else None
    if station is not None and station.community_id != community.id:
        raise AppError(
            "STATION_NOT_FOUND", status=422, details={"id": station_id, "reason": "another community"}
        )
    activity = Activity(**values, taken=0, created_by_id=principal.staff.id if principal.staff else None)
    activity.checkin_opens_at = values.get("checkin_opens_at") or activity.starts_at - DEFAULT_OPENS_BEFORE
    activity.checkin_closes_at = values.get("checkin_closes_at") or activity.ends_at
    if activity.geofence and station is not None and activity.lat is None:
        activity.lat, activity.lng = station.lat, station.lng
        activity.radius_m = activity.radius_m or station.radius_m
    _check_activity(activity)
    db.session.add(activity)
    db.session.flush()
    return activity


def update_activity(principal: Principal, activity_id: int, values: dict[str, Any]) -> Activity:
    """Change an activity; the capacity never drops below the places taken."""
    query = select(Activity).where(Activity.id == activity_id).with_for_update()
    activity = db.session.scalars(query).first()
    if activity is None:
        raise NotFound("ACTIVITY_NOT_FOUND", details={"id": activity_id})
    authorize(principal, "checkin.manage", activity.community)
    if "points_rule" in values:
        get_rule(values["points_rule"])
    for name, value in values.items():
        setattr(activity, name, value)
    _check_activity(activity)
    db.session.flush()
    return activity


def list_activities(
    community_id: int | None, since: datetime | None, until: datetime | None, page: int, page_size: int
) -> tuple[list[Activity], int]:
    """Activities (not cancelled) overlapping a period, soonest first."""
    query = select(Activity).where(Activity.cancelled_at.is_(None))
    if community_id is not None:
        query = query.where(Activity.community_id == community_id)
    if since is not None:
        query = query.where(Activity.ends_at >= since)
    if until is not None:
        query = query.where(Activity.starts_at <= until)
    return paginate(query.order_by(Activity.starts_at, Activity.id), page, page_size)


def staff_activities(
    principal: Principal, when: str, community_id: int | None, page: int, page_size: int
) -> tuple[list[Activity], int]:
    """Activities of the staff member's communities, cancelled ones too: "upcoming" (and under way)
    soonest first, or "past" latest first."""
    now = clock.now()
    query = select(Activity).where(Activity.community_id.in_(staff_scope_ids(principal)))
    if community_id:
        query = query.where(Activity.community_id == community_id)
    if when == "past":
        query = query.where(Activity.ends_at < now).order_by(Activity.starts_at.desc(), Activity.id.desc())
    else:
        query = query.where(Activity.ends_at >= now).order_by(Activity.starts_at, Activity.id)
    return paginate(query, page, page_size)


def activities_of_today(principal: Principal) -> list[Activity]:
    """Activities (not cancelled) of the staff member's communities that take place today, soonest first."""
    since, until = clock.today_bounds()
    return list(
        db.session.scalars(
            select(Activity)
            .where(
                Activity.community_id.in_(staff_scope_ids(principal)),
                Activity.cancelled_at.is_(None),
                Activity.ends_at >= since,
                Activity.starts_at < until,
            )
            .order_by(Activity.starts_at, Activity.id)
        )
    )


def checkin_counts(activity_ids: list[int], open_only: bool = False) -> dict[int, int]:
    """Check-ins so far per activity, voided ones not counted (only those still open, with ``open_only``)."""
    if not activity_ids:
        return {}
    query = select(CheckIn.activity_id, func.count()).where(
        CheckIn.activity_id.in_(activity_ids), CheckIn.status != "voided"
    )
    if open_only:
        query = query.where(CheckIn.status == "open")
    rows = db.session.execute(query.group_by(CheckIn.activity_id))
    return {int(activity_id): int(count) for activity_id, count in rows if activity_id is not None}


def activity_checkins(activity_id: int) -> list[tuple[CheckIn, User]]:
    """An activity's check-ins in the order they came, each with its member."""
    rows = db.session.execute(
        select(CheckIn, User)
        .join(User, User.id == CheckIn.user_id)
        .where(CheckIn.activity_id == activity_id)
        .order_by(CheckIn.checked_in_at, CheckIn.id)
    ).all()
    return [(checkin, user) for checkin, user in rows]


def signup_count(activity_id: int) -> int:
    """How many members signed up for an activity."""
    return int(db.session.scalar(select(func.count()).where(Signup.activity_id == activity_id)) or 0)


# --- sign-ups -------------------------------------------------------------------------------------------


def take_place(activity_id: int) -> bool:
    """Take one place by a single conditional update; False when the activity is full."""
    result = db.session.execute(
        update(Activity)
        .where(
            Activity.id == activity_id, (Activity.capacity.is_(None)) | (Activity.taken < Activity.capacity)
        )
        .values(taken=Activity.taken + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def check_community(user_id: int, activity: Activity) -> User:
    """The member, when a resident (or party member) of the activity's community or the activity is
    open to all; OTHER_COMMUNITY otherwise."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("USER_NOT_FOUND", details={"user_id": user_id})
    if not activity.open_to_all and activity.community_id not in (user.community_id, user.party_community_id):
        raise Forbidden("OTHER_COMMUNITY", details={"community_id": activity.community_id})
    return user


def signup(user_id: int, activity_id: int) -> tuple[Signup, bool]:
    """Sign a member up once, taking a place when sign-up is required; returns (signup, created)."""
    activity = get_activity(activity_id)
    if activity.cancelled_at is not None:
        raise Conflict("ACTIVITY_CANCELLED")
    existing = db.session.scalars(
        select(Signup).where(Signup.activity_id == activity_id, Signup.user_id == user_id)
    ).first()
    if existing is not None:
        return existing, False
    check_community(user_id, activity)
    if clock.now() >= activity.starts_at:
        raise Conflict("SIGNUP_CLOSED")
    try:
        with db.session.begin_nested():
            entry = Signup(activity_id=activity_id, user_id=user_id, holds_place=activity.signup_required)
            db.session.add(entry)
            db.session.flush()
            if activity.signup_required and not take_place(activity_id):
                raise Conflict("ACTIVITY_FULL", details={"capacity": activity.capacity})
    except IntegrityError:
        # A racing duplicate of the same member: the unique constraint decided; return the winner's row.
        found = db.session.scalars(
            select(Signup).where(Signup.activity_id == activity_id, Signup.user_id == user_id)
        ).one()
        return found, False
    return entry, True


def free_place(activity_id: int) -> None:
    """Give one place back by a single conditional update (never below none taken)."""
    db.session.execute(
        update(Activity)
        .where(Activity.id == activity_id, Activity.taken > 0)
        .values(taken=Activity.taken - 1)
        .execution_options(synchronize_session=False)
    )


def cancel_signup(user_id: int, activity_id: int) -> None:
    """Cancel a member's sign-up until the activity starts, freeing the place it took; without a sign-up
    (a resend, or none ever) it is the same success."""
    activity = get_activity(activity_id)
    entry = db.session.scalars(
        select(Signup).where(Signup.activity_id == activity_id, Signup.user_id == user_id).with_for_update()
    ).first()
    if entry is None:
        return
    if activity.cancelled_at is None and clock.now() >= activity.starts_at:
        raise Conflict("CANCEL_CLOSED", details={"activity_id": activity_id})
    checked_in = db.session.scalar(
        select(CheckIn.id).where(
            CheckIn.activity_id == activity_id, CheckIn.user_id == user_id, CheckIn.status != "voided"
        )
    )
    if checked_in is not None:
        raise Conflict("ALREADY_CHECKED_IN", details={"checkin_id": checked_in})
    held = entry.holds_place
    db.session.delete(entry)
    db.session.flush()
    if held:
        free_place(activity_id)


class ActivityForCaller:
    """An activity as one member sees it: its fields, and the member's own sign-up and check-in."""

    def __init__(self, activity: Activity, signup: Signup | None, checkin: CheckIn | None) -> None:
        self.activity = activity
        self.my_signup = {"status": "signed_up", "created_at": signup.created_at} if signup else None
        self.my_checkin = {"id": checkin.id, "status": checkin.status} if checkin else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.activity, name)


def for_caller(user_id: int | None, activities: list[Activity]) -> list[ActivityForCaller]:
    """The activities with the caller's sign-up and check-in on each (two queries; none for staff)."""
    ids = [activity.id for activity in activities]
    signups: dict[int, Signup] = {}
    checkins: dict[int, CheckIn] = {}
    if user_id is not None and ids:
        for entry in db.session.scalars(
            select(Signup).where(Signup.user_id == user_id, Signup.activity_id.in_(ids))
        ):
            signups[entry.activity_id] = entry
        for checkin in db.session.scalars(
            select(CheckIn).where(CheckIn.user_id == user_id, CheckIn.activity_id.in_(ids))
        ):
            if checkin.activity_id is not None:
                checkins[checkin.activity_id] = checkin
    return [ActivityForCaller(a, signups.get(a.id), checkins.get(a.id)) for a in activities]


def my_signups(user_id: int, when: str, page: int, page_size: int) -> tuple[list[Activity], int]:
    """The activities a member signed up for: "upcoming" (and under way) soonest first, or "past" latest
    first; cancelled activities stay listed (they carry ``cancelled_at``)."""
    now = clock.now()
    query = (
        select(Activity)
        .join(Signup, Signup.activity_id == Activity.id)
        .where(Signup.user_id == user_id)
        .options(selectinload(Activity.community))
    )
    if when == "past":
        query = query.where(Activity.ends_at < now).order_by(Activity.starts_at.desc(), Activity.id.desc())
    else:
        query = query.where(Activity.ends_at >= now).order_by(Activity.starts_at, Activity.id)
    return paginate(query, page, page_size)


# --- reminders ------------------------------------------------------------------------------------------

REMIND_BEFORE = timedelta(hours=1)


def activities_to_remind(now: datetime) -> list[Activity]:
    """Activities (not cancelled) starting within REMIND_BEFORE whose members were not reminded yet."""
    return list(
        db.session.scalars(
            select(Activity).where(
                Activity.reminded_at.is_(None),
                Activity.cancelled_at.is_(None),
                Activity.starts_at > now,
                Activity.starts_at <= now + REMIND_BEFORE,
            )
        )
    )


def remind_signups(activity: Activity, now: datetime) -> None:
    """Tell the members signed up for an activity that it starts soon, and mark it reminded (once)."""
    members = list(db.session.scalars(select(Signup.user_id).where(Signup.activity_id == activity.id)))
    if members:
        publish(
            "activity.reminder",
            members,
            {
                "activity_id": activity.id,
                "title": activity.title,
                "place": activity.place or (activity.station.name if activity.station else ""),
                "starts_at": clock.local(activity.starts_at).strftime("%Y-%m-%d %H:%M"),
            },
        )
    activity.reminded_at = now
    db.session.flush()


def _target(kind: str, target_id: int) -> Activity | Station:
    return get_activity(target_id) if kind == "activity" else get_station(target_id)


def activity_for_staff(principal: Principal, activity_id: int) -> Activity:
    """The activity, for staff of its community (403 otherwise)."""
    activity = get_activity(activity_id)
    authorize(principal, "checkin.manage", activity.community)
    return activity


def station_for_staff(principal: Principal, station_id: int) -> Station:
    """The station, for staff of its community (403 otherwise)."""
    station = get_station(station_id)
    authorize(principal, "checkin.manage", station.community)
    return station


def screen_code(principal: Principal, kind: str, target_id: int) -> IssuedToken:
    """A rotating code of an activity or station for its door screen, for staff of its community."""
    target = _target(kind, target_id)
    authorize(principal, "checkin.manage", target.community)
    return issue_token(kind, target.id, now=clock.now().timestamp())


def printed_code(principal: Principal, kind: str, target_id: int) -> tuple[bytes, str, str]:
    """The printed code of an activity or station, for staff of its community (see printed_code_png), and
    its scene (what the page receives as ``query.scene``)."""
    place = printable(principal, kind, target_id)
    image, source = printed_code_png(place)
    return image, source, printed_scene(kind, place.id, place.printed_version)


def printable(principal: Principal, kind: str, target_id: int) -> Activity | Station:
    """The place whose poster staff ask for: of their community, with printed codes allowed."""
    target = _target(kind, target_id)
    authorize(principal, "checkin.manage", target.community)
    if not target.printed_code_allowed:
        raise Conflict("PRINTED_CODE_OFF", details={"kind": kind, "id": target_id})
    return target


def reprint(principal: Principal, kind: str, target_id: int, from_version: int) -> Activity | Station:
    """Retire the printed code of an activity or station: the next version (every old poster stops).

    Said with the version it replaces, so a resend of the same reprint answers the same version
    instead of retiring the new poster too; another version is PRINTED_VERSION_CHANGED."""
    target = _target(kind, target_id)
    authorize(principal, "checkin.manage", target.community)
    db.session.refresh(target, with_for_update=True)  # two staff reprinting at once: one after the other
    if target.printed_version == from_version:
        target.printed_version = from_version + 1
        db.session.flush()
    elif target.printed_version != from_version + 1:
        raise Conflict("PRINTED_VERSION_CHANGED", details={"version": target.printed_version})
    return target


def printed_code_png(place: Activity | Station) -> tuple[bytes, str]:
    """The printed code of an activity or station as PNG, and what made it ("wxacode" or "qrcode").

    ``CHECKIN_PRINTED_CODE``: auto (a mini-program code, a plain QR when WeChat fails), wxacode, qrcode.
    """
    kind = "activity" if isinstance(place, Activity) else "station"
    scene = printed_scene(kind, place.id, place.printed_version)
    mode = current_app.config.get("CHECKIN_PRINTED_CODE", "auto")
    if mode != "qrcode":
        try:
            env_version = current_app.config.get("WECHAT_ENV_VERSION", "release")
            image = wechat_client().get_wxacode_unlimit(
                scene,
                page=CHECKIN_PAGE,
                # Trial and develop builds may not have the page published: check_path would refuse it.
                check_path=env_version == "release",
                env_version=env_version,
            )
            return image, "wxacode"
        except WeChatError as exc:
            if mode == "wxacode":
                raise wechat_unavailable(exc) from exc
    return qr.png(checkin_link(scene)), "qrcode"
