"""Console pages of check-in: activities and stations, the door screen's rotating code, posters, today."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import qrcode
from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError
from qrcode.image.svg import SvgPathImage
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from checkin import services
from checkin.checkins import station_open_span
from checkin.models import ACTIVITY_KINDS, Activity, CheckIn, Signup, Station
from checkin.schemas import ActivitySchema, ActivityUpdateSchema, StationSchema, StationUpdateSchema
from checkin.tokens import WINDOW_SECONDS, issue_token
from points.services import list_rules
from server.auth.policy import Principal, authorize, staff_scope_ids
from server.console import MenuEntry, Panel, current_staff, register_pages
from server.db import db, utcnow
from server.errors import AppError, message_for
from server.orgs.models import OrgUnit
from server.orgs.services import list_communities
from server.schemas import SERVER_ZONE
from server.users.models import User

bp = Blueprint("console_checkin", __name__, url_prefix="/console", template_folder="templates")

T = TypeVar("T")
PAGE_SIZE = 50
# The door screen asks for its code at least this often, and just after each window turns.
SCREEN_POLL_MAX_SECONDS = 4
KIND_LABELS = {
    "party_day": "主题党日",
    "volunteer": "志愿服务",
    "meeting": "会议",
    "training": "培训",
    "other": "其他",
}
FLAG_LABELS = {
    "burst": "短时多次签到",
    "far_away": "距离现场过远",
    "shared_device": "同一手机多个账号",
    "left_open": "未签退，已自动关闭",
}
STATUS_LABELS = {"open": "已签到", "closed": "已签退", "auto_closed": "自动签退"}
SOURCE_LABELS = {"scan": "扫码", "staff": "工作人员扫码", "batch": "离线补录"}
DAY_LABELS = {
    "mon": "周一",
    "tue": "周二",
    "wed": "周三",
    "thu": "周四",
    "fri": "周五",
    "sat": "周六",
    "sun": "周日",
}
FIELD_LABELS = {
    "community_id": "社区",
    "station_id": "服务站",
    "title": "活动名称",
    "kind": "类型",
    "description": "简介",
    "place": "地点",
    "starts_at": "开始时间",
    "ends_at": "结束时间",
    "checkin_opens_at": "签到开始",
    "checkin_closes_at": "签到截止",
    "capacity": "名额",
    "points_rule": "积分规则",
    "lat": "纬度",
    "lng": "经度",
    "radius_m": "半径",
    "name": "名称",
    "address": "地址",
    "opening_hours": "开放时间",
}
SERVICE_FIELD_MESSAGES = {
    "ends_at": "结束时间须晚于开始时间",
    "checkin_closes_at": "签到截止须晚于签到开始",
}
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–—~至]\s*(\d{1,2}):(\d{2})$")


def init_app(app: Flask) -> None:
    """Hang the activity and station pages and the today panel of check-ins on the console."""
    register_pages(
        app,
        bp,
        menu=[
            MenuEntry("活动签到", "console_checkin.activities", order=30),
            MenuEntry("服务站", "console_checkin.stations", order=31),
        ],
        panels=[Panel("今日活动签到", "console_checkin.today_panel", order=20, refresh_seconds=10)],
    )


# --- helpers shared by the pages ---------------------------------------------------------------------


def _local(moment: datetime) -> datetime:
    """A UTC time in the server's zone (Asia/Shanghai)."""
    return moment.astimezone(SERVER_ZONE)


def _span(start: datetime, end: datetime) -> str:
    """``12月1日（周二）10:00–12:00``, or both dates when the span crosses midnight."""
    first, last = _local(start), _local(end)
    day = f"{first.month}月{first.day}日（{DAY_LABELS[services.DAYS[first.weekday()]]}）"
    if first.date() == last.date():
        return f"{day}{first:%H:%M}–{last:%H:%M}"
    return f"{day}{first:%H:%M} – {last.month}月{last.day}日 {last:%H:%M}"


def _minutes(minutes: int | None) -> str:
    """Minutes of service as staff read them: ``1 小时 30 分``."""
    if minutes is None:
        return "—"
    hours, rest = divmod(minutes, 60)
    return f"{hours} 小时 {rest} 分" if hours else f"{rest} 分钟"


def _hours_text(hours: dict[str, Any]) -> dict[str, str]:
    """Opening hours per weekday as the form's text: ``08:30-12:00, 14:00-17:30``."""
    return {day: ", ".join(f"{a}-{b}" for a, b in hours.get(day, [])) for day in services.DAYS}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    """Labels and formatters the check-in templates share."""
    return {
        "kind_labels": KIND_LABELS,
        "flag_labels": FLAG_LABELS,
        "status_labels": STATUS_LABELS,
        "source_labels": SOURCE_LABELS,
        "day_labels": DAY_LABELS,
        "span": _span,
        "duration": _minutes,
        "hours_text": _hours_text,
    }


def _today_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Midnight to midnight of today in the server's zone, as UTC."""
    start = _local(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def _managed_activity(activity_id: int) -> Activity:
    """The activity, when the logged-in staff member looks after its community (403 otherwise)."""
    activity = services.get_activity(activity_id)
    authorize(current_staff(), "checkin.manage", activity.community)
    return activity


def _managed_station(station_id: int) -> Station:
    """The station, when the logged-in staff member looks after its community (403 otherwise)."""
    station = services.get_station(station_id)
    authorize(current_staff(), "checkin.manage", station.community)
    return station


def _communities(principal: Principal) -> list[OrgUnit]:
    """The communities in the staff member's subtree, by code."""
    return list_communities(under=principal.staff.org) if principal.staff else []


def _checkin_counts(activity_ids: list[int]) -> dict[int, int]:
    """Check-ins so far per activity."""
    if not activity_ids:
        return {}
    rows = db.session.execute(
        select(CheckIn.activity_id, func.count())
        .where(CheckIn.activity_id.in_(activity_ids))
        .group_by(CheckIn.activity_id)
    )
    return {int(activity_id): int(count) for activity_id, count in rows if activity_id is not None}


def _activity_count(activity_id: int) -> int:
    """Check-ins so far of one activity."""
    return int(db.session.scalar(select(func.count()).where(CheckIn.activity_id == activity_id)) or 0)


def _station_count(station_id: int, now: datetime) -> int:
    """Visits to a station today."""
    since, until = _today_bounds(now)
    query = select(func.count()).where(
        CheckIn.station_id == station_id, CheckIn.checked_in_at >= since, CheckIn.checked_in_at < until
    )
    return int(db.session.scalar(query) or 0)


def _submit(action: Callable[[], T]) -> tuple[T | None, AppError | None]:
    """Run a service in a savepoint; a refusal changes nothing and is flashed (like ``attempt``)."""
    try:
        with db.session.begin_nested():
            return action(), None
    except AppError as error:
        flash(f"{message_for(error.code)}（{error.code}）", "error")
        return None, error


def _status(error: AppError | None) -> int:
    """The status a re-rendered form answers with: the refusal's own (403, 409, 422 …)."""
    return error.status_code if error is not None else 422


def _service_field_errors(error: AppError | None) -> dict[str, str]:
    """A service's field complaints (VALIDATION_ERROR details) as messages beside the fields."""
    fields = ((error.details or {}).get("fields") or {}) if error is not None else {}
    return {name: SERVICE_FIELD_MESSAGES.get(name, "取值不正确") for name in fields}


def _load(schema: Schema, payload: dict[str, Any], errors: dict[str, str]) -> dict[str, Any] | None:
    """Validate by the API's own schema; its complaints become Chinese messages beside the fields."""
    try:
        loaded: dict[str, Any] = schema.load(payload)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        for name, problems in messages.items():
            missing = any("Missing data" in str(p) for p in (problems if isinstance(problems, list) else []))
            errors.setdefault(name, "必填" if missing else "取值不正确")
        return None
    return loaded if not errors else None


def _int(form: dict[str, str], name: str, payload: dict[str, Any], errors: dict[str, str]) -> None:
    """An optional whole number of the form into the payload (blank: None)."""
    raw = form.get(name, "").strip()
    if not raw:
        payload[name] = None
        return
    try:
        payload[name] = int(raw)
    except ValueError:
        errors[name] = "请输入整数"


def _number(form: dict[str, str], name: str, payload: dict[str, Any], errors: dict[str, str]) -> None:
    """An optional decimal of the form (a coordinate) into the payload, as text for the schema."""
    raw = form.get(name, "").strip()
    if not raw:
        payload[name] = None
        return
    try:
        float(raw)
    except ValueError:
        errors[name] = "请输入数字，例如 31.2304"
        return
    payload[name] = raw


# --- activities ------------------------------------------------------------------------------------------


@bp.route("/activities")
def activities() -> str:
    """Activities of my communities: upcoming (and under way) soonest first, or past ones latest first."""
    principal = current_staff()
    when = "past" if request.args.get("when") == "past" else "upcoming"
    community_id = request.args.get("community_id", type=int)
    page = max(1, request.args.get("page", 1, type=int))
    now = utcnow()
    query = select(Activity).where(Activity.community_id.in_(staff_scope_ids(principal)))
    if community_id:
        query = query.where(Activity.community_id == community_id)
    if when == "past":
        query = query.where(Activity.ends_at < now).order_by(Activity.starts_at.desc(), Activity.id.desc())
    else:
        query = query.where(Activity.ends_at >= now).order_by(Activity.starts_at, Activity.id)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(db.session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return render_template(
        "console/checkin/activities.html",
        activities=items,
        counts=_checkin_counts([a.id for a in items]),
        communities=_communities(principal),
        community_id=community_id,
        when=when,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        now=now,
    )


def _activity_form(activity: Activity | None) -> dict[str, str]:
    """The form's text values: blank for a new activity, the stored ones for an edit."""
    if activity is None:
        return {"kind": "party_day", "points_rule": "PARTY_DAY"}

    def stamp(moment: datetime) -> str:
        return _local(moment).strftime("%Y-%m-%dT%H:%M")

    form = {
        "title": activity.title,
        "kind": activity.kind,
        "description": activity.description or "",
        "place": activity.place or "",
        "starts_at": stamp(activity.starts_at),
        "ends_at": stamp(activity.ends_at),
        "checkin_opens_at": stamp(activity.checkin_opens_at),
        "checkin_closes_at": stamp(activity.checkin_closes_at),
        "capacity": "" if activity.capacity is None else str(activity.capacity),
        "points_rule": activity.points_rule,
        "lat": "" if activity.lat is None else str(activity.lat),
        "lng": "" if activity.lng is None else str(activity.lng),
        "radius_m": "" if activity.radius_m is None else str(activity.radius_m),
    }
    for flag in ("signup_required", "hours_count", "geofence"):
        if getattr(activity, flag):
            form[flag] = "on"
    return form


def _activity_payload(form: dict[str, str], creating: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Form text to the API's payload (times are local, as the schema reads them); errors by field."""
    errors: dict[str, str] = {}
    payload: dict[str, Any] = {
        name: form.get(name, "").strip() for name in ("title", "kind", "description", "place", "points_rule")
    }
    for name in ("starts_at", "ends_at", "checkin_opens_at", "checkin_closes_at"):
        value = form.get(name, "").strip()
        if value:
            payload[name] = value
        elif name in ("starts_at", "ends_at"):
            errors[name] = "必填"
    for name in ("capacity", "radius_m"):
        _int(form, name, payload, errors)
    for name in ("lat", "lng"):
        _number(form, name, payload, errors)
    for name in ("signup_required", "hours_count", "geofence"):
        payload[name] = name in form
    if creating:
        _int(form, "community_id", payload, errors)
        _int(form, "station_id", payload, errors)
        if payload.get("community_id") is None:
            errors.setdefault("community_id", "请选择社区")
    return payload, errors


def _render_activity_form(
    activity: Activity | None, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> tuple[str, int]:
    """The activity form with its choices (communities, stations, active points rules) and errors."""
    principal = current_staff()
    scope = staff_scope_ids(principal)
    stations = db.session.scalars(
        select(Station)
        .where(Station.community_id.in_(scope), Station.active.is_(True))
        .order_by(Station.community_id, Station.id)
    )
    page = render_template(
        "console/checkin/activity_form.html",
        activity=activity,
        form=form,
        errors=errors,
        communities=_communities(principal),
        stations=list(stations),
        rules=list_rules(include_inactive=False),
        kinds=ACTIVITY_KINDS,
        field_labels=FIELD_LABELS,
    )
    return page, status


@bp.route("/activities/new", methods=["GET", "POST"])
def new_activity() -> Any:
    """The form for a new activity; a refusal re-renders it with what was typed and why."""
    if request.method == "GET":
        form = _activity_form(None)
        if request.args.get("community_id"):
            form["community_id"] = request.args["community_id"]
        return _render_activity_form(None, form, {})
    form = request.form.to_dict()
    payload, errors = _activity_payload(form, creating=True)
    if payload.get("station_id") and not payload["place"]:
        station = db.session.get(Station, payload["station_id"])
        payload["place"] = station.name if station is not None else ""
    values = _load(ActivitySchema(), payload, errors)
    if values is None:
        flash("请检查标出的字段", "error")
        return _render_activity_form(None, form, errors, 422)
    principal = current_staff()
    created, error = _submit(lambda: services.create_activity(principal, values))
    if created is None:
        return _render_activity_form(None, form, _service_field_errors(error), _status(error))
    flash(f"已创建活动「{created.title}」", "ok")
    return redirect(url_for("console_checkin.activity_detail", activity_id=created.id))


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
def edit_activity(activity_id: int) -> Any:
    """Change an activity (not its community or station)."""
    activity = _managed_activity(activity_id)
    if request.method == "GET":
        return _render_activity_form(activity, _activity_form(activity), {})
    form = request.form.to_dict()
    payload, errors = _activity_payload(form, creating=False)
    values = _load(ActivityUpdateSchema(partial=True), payload, errors)
    if values is None:
        flash("请检查标出的字段", "error")
        return _render_activity_form(activity, form, errors, 422)
    principal = current_staff()
    updated, error = _submit(lambda: services.update_activity(principal, activity_id, values))
    if updated is None:
        db.session.refresh(activity)
        return _render_activity_form(activity, form, _service_field_errors(error), _status(error))
    flash("已保存活动", "ok")
    return redirect(url_for("console_checkin.activity_detail", activity_id=activity_id))


@bp.route("/activities/<int:activity_id>")
def activity_detail(activity_id: int) -> str:
    """An activity and its check-ins so far, with the signals staff review."""
    found = _managed_activity(activity_id)
    rows = db.session.execute(
        select(CheckIn, User)
        .join(User, User.id == CheckIn.user_id)
        .where(CheckIn.activity_id == activity_id)
        .order_by(CheckIn.checked_in_at, CheckIn.id)
    ).all()
    signups = db.session.scalar(select(func.count()).where(Signup.activity_id == activity_id)) or 0
    return render_template(
        "console/checkin/activity.html",
        activity=found,
        checkins=rows,
        signups=signups,
        flagged=sum(1 for checkin, _ in rows if checkin.flags),
        now=utcnow(),
    )


# --- the door screen and the poster -------------------------------------------------------------------


def _qr_data_url(text: str) -> str:
    """A QR code as an SVG data URL: sharp at any size on a projector."""
    svg = qrcode.make(text, image_factory=SvgPathImage, box_size=10, border=2).to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _window_state(opens: datetime | None, closes: datetime | None, now: datetime) -> tuple[str, str]:
    """Whether check-in is open now, and what the screen says about it."""
    if opens is None or closes is None:
        return "closed", "服务站当前不在开放时间"
    if now < opens:
        return "before", f"签到将于 {_local(opens):%H:%M} 开始"
    if now > closes:
        return "after", "签到已结束"
    return "open", f"签到进行中，{_local(closes):%H:%M} 截止"


def _screen_code(kind: str, target_id: int) -> dict[str, Any]:
    """The current rotating code of a screen, when it stops being accepted and when a fresher one exists."""
    now = utcnow()
    issued = issue_token(kind, target_id, now=now.timestamp())
    next_window = datetime.fromtimestamp((issued.window + 1) * WINDOW_SECONDS[kind], UTC)
    return {
        "token": issued.token,
        "scene": issued.token,
        "window": issued.window,
        "window_seconds": WINDOW_SECONDS[kind],
        "expires_at": issued.expires_at.isoformat(),
        "expires_in": round((issued.expires_at - now).total_seconds(), 3),
        "refresh_in": round(min((next_window - now).total_seconds(), SCREEN_POLL_MAX_SECONDS), 3),
        "image": _qr_data_url(issued.token),
        "now": now.isoformat(),
    }


def _activity_screen_state(activity: Activity) -> dict[str, Any]:
    """The door screen's JSON of an activity: its code, check-ins so far and whether check-in is open."""
    now = utcnow()
    state, text = _window_state(activity.checkin_opens_at, activity.checkin_closes_at, now)
    if activity.cancelled_at is not None:
        state, text = "after", "活动已取消"
    return {
        **_screen_code("activity", activity.id),
        "count": _activity_count(activity.id),
        "capacity": activity.capacity,
        "state": state,
        "state_text": text,
    }


def _station_screen_state(station: Station) -> dict[str, Any]:
    """The door screen's JSON of a station: its code, today's visits and whether it is open now."""
    now = utcnow()
    span = station_open_span(station, now) if station.active else None
    state, text = _window_state(span[0], span[1], now) if span else _window_state(None, None, now)
    return {
        **_screen_code("station", station.id),
        "count": _station_count(station.id, now),
        "capacity": None,
        "state": state,
        "state_text": text,
    }


@bp.route("/activities/<int:activity_id>/screen")
def activity_screen(activity_id: int) -> str:
    """The full-screen rotating code for a screen or projector at the door, with a live count."""
    found = _managed_activity(activity_id)
    return render_template(
        "console/checkin/screen.html",
        title=found.title,
        when=_span(found.starts_at, found.ends_at),
        where=found.place or (found.station.name if found.station else ""),
        code=_activity_screen_state(found),
        code_url=url_for("console_checkin.activity_code", activity_id=found.id),
        count_label="已签到",
        back_url=url_for("console_checkin.activity_detail", activity_id=found.id),
    )


@bp.route("/activities/<int:activity_id>/code")
def activity_code(activity_id: int) -> Response:
    """JSON for the door screen: the code (token, scene, image), its expiry, the next refresh, the count."""
    response = jsonify(_activity_screen_state(_managed_activity(activity_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/stations/<int:station_id>/screen")
def station_screen(station_id: int) -> str:
    """The full-screen rotating code of a station, with today's visits."""
    station = _managed_station(station_id)
    today = services.DAYS[_local(utcnow()).weekday()]
    spans = station.opening_hours.get(today, [])
    hours = ", ".join(f"{a}–{b}" for a, b in spans) or "今日不开放"
    return render_template(
        "console/checkin/screen.html",
        title=station.name,
        when=f"今日开放 {hours}",
        where=station.address,
        code=_station_screen_state(station),
        code_url=url_for("console_checkin.station_code", station_id=station.id),
        count_label="今日到访",
        back_url=url_for("console_checkin.stations"),
    )


@bp.route("/stations/<int:station_id>/code")
def station_code(station_id: int) -> Response:
    """JSON for a station's door screen (as for an activity; the count is today's visits)."""
    response = jsonify(_station_screen_state(_managed_station(station_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


def _png_response(image: bytes, source: str, filename: str) -> Response:
    """A PNG answer saying what made the code."""
    return Response(
        image,
        mimetype="image/png",
        headers={"X-Linli-Code": source, "Content-Disposition": f'inline; filename="{filename}"'},
    )


@bp.route("/activities/<int:activity_id>/poster")
def activity_poster(activity_id: int) -> str:
    """An A4 poster for the door: the printed code, the name, time and place, how to check in."""
    found = _managed_activity(activity_id)
    image, source = services.printed_code_png("activity", found.id)
    return render_template(
        "console/checkin/poster.html",
        activity=found,
        station=None,
        title=found.title,
        image="data:image/png;base64," + base64.b64encode(image).decode(),
        source=source,
        png_url=url_for("console_checkin.activity_printed_code", activity_id=found.id),
        back_url=url_for("console_checkin.activity_detail", activity_id=found.id),
    )


@bp.route("/activities/<int:activity_id>/printed-code.png")
def activity_printed_code(activity_id: int) -> Response:
    """The printed code of an activity as a PNG file, e.g. for a print shop."""
    found = _managed_activity(activity_id)
    image, source = services.printed_code_png("activity", found.id)
    return _png_response(image, source, f"activity-{found.id}.png")


@bp.route("/stations/<int:station_id>/poster")
def station_poster(station_id: int) -> str:
    """An A4 poster of a station: its printed code, name, address and opening hours."""
    station = _managed_station(station_id)
    image, source = services.printed_code_png("station", station.id)
    return render_template(
        "console/checkin/poster.html",
        activity=None,
        station=station,
        title=station.name,
        image="data:image/png;base64," + base64.b64encode(image).decode(),
        source=source,
        png_url=url_for("console_checkin.station_printed_code", station_id=station.id),
        back_url=url_for("console_checkin.stations"),
    )


@bp.route("/stations/<int:station_id>/printed-code.png")
def station_printed_code(station_id: int) -> Response:
    """The printed code of a station as a PNG file."""
    station = _managed_station(station_id)
    image, source = services.printed_code_png("station", station.id)
    return _png_response(image, source, f"station-{station.id}.png")


# --- stations ------------------------------------------------------------------------------------------


@bp.route("/stations")
def stations() -> str:
    """The stations of my communities (closed ones last), with today's visits."""
    principal = current_staff()
    community_id = request.args.get("community_id", type=int)
    query = select(Station).where(Station.community_id.in_(staff_scope_ids(principal)))
    if community_id:
        query = query.where(Station.community_id == community_id)
    found = list(db.session.scalars(query.order_by(Station.active.desc(), Station.community_id, Station.id)))
    now = utcnow()
    since, until = _today_bounds(now)
    visits = dict(
        db.session.execute(
            select(CheckIn.station_id, func.count())
            .where(
                CheckIn.station_id.in_([s.id for s in found]),
                CheckIn.checked_in_at >= since,
                CheckIn.checked_in_at < until,
            )
            .group_by(CheckIn.station_id)
        ).all()
    )
    return render_template(
        "console/checkin/stations.html",
        stations=found,
        visits=visits,
        communities=_communities(principal),
        community_id=community_id,
        today=services.DAYS[_local(now).weekday()],
    )


def _station_form(station: Station | None) -> dict[str, str]:
    """The station form's text values: defaults for a new station, the stored ones for an edit."""
    if station is None:
        form = {"radius_m": "200", "points_rule": "STATION_DUTY_HOUR", "active": "on"}
        form.update({f"hours_{day}": "" for day in services.DAYS})
        return form
    form = {
        "name": station.name,
        "address": station.address or "",
        "lat": "" if station.lat is None else str(station.lat),
        "lng": "" if station.lng is None else str(station.lng),
        "radius_m": str(station.radius_m),
        "points_rule": station.points_rule,
    }
    if station.active:
        form["active"] = "on"
    form.update({f"hours_{day}": text for day, text in _hours_text(station.opening_hours).items()})
    return form


def _opening_hours(form: dict[str, str], errors: dict[str, str]) -> dict[str, list[list[str]]]:
    """``08:30-12:00, 14:00-17:30`` per weekday to ``{"mon": [["08:30", "12:00"], ...]}``."""
    hours: dict[str, list[list[str]]] = {}
    for day in services.DAYS:
        text = form.get(f"hours_{day}", "").strip()
        if not text:
            continue
        spans = []
        for part in re.split(r"[,，;；、\s]+(?=\d)", text):
            match = _SPAN.match(part.strip())
            if match is None:
                errors[f"hours_{day}"] = "格式如 08:30-12:00, 14:00-17:30"
                break
            h1, m1, h2, m2 = match.groups()
            spans.append([f"{int(h1):02d}:{m1}", f"{int(h2):02d}:{m2}"])
        hours[day] = spans
    return hours


def _station_payload(form: dict[str, str], creating: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Station form text to the API's payload; errors by field."""
    errors: dict[str, str] = {}
    payload: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "address": form.get("address", "").strip(),
        "points_rule": form.get("points_rule", "").strip(),
        "active": "active" in form,
    }
    for name in ("lat", "lng"):
        _number(form, name, payload, errors)
    _int(form, "radius_m", payload, errors)
    if payload.get("radius_m") is None:
        errors.setdefault("radius_m", "必填")
    payload["opening_hours"] = _opening_hours(form, errors)
    if creating:
        _int(form, "community_id", payload, errors)
        if payload.get("community_id") is None:
            errors.setdefault("community_id", "请选择社区")
    return payload, errors


def _render_station_form(
    station: Station | None, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> tuple[str, int]:
    """The station form with its choices and errors."""
    page = render_template(
        "console/checkin/station_form.html",
        station=station,
        form=form,
        errors=errors,
        communities=_communities(current_staff()),
        rules=list_rules(include_inactive=False),
        days=services.DAYS,
    )
    return page, status


def _station_service_errors(error: AppError | None) -> dict[str, str]:
    """A refused station's complaints beside the fields (the weekday whose hours are wrong)."""
    if error is not None and error.code == "OPENING_HOURS_INVALID":
        day = (error.details or {}).get("day")
        return {f"hours_{day}": "开始时间须早于结束时间"} if day else {}
    return _service_field_errors(error)


@bp.route("/stations/new", methods=["GET", "POST"])
def new_station() -> Any:
    """The form for a new station."""
    if request.method == "GET":
        return _render_station_form(None, _station_form(None), {})
    form = request.form.to_dict()
    payload, errors = _station_payload(form, creating=True)
    values = _load(StationSchema(), payload, errors)
    if values is None:
        flash("请检查标出的字段", "error")
        return _render_station_form(None, form, errors, 422)
    principal = current_staff()
    created, error = _submit(lambda: services.create_station(principal, values))
    if created is None:
        return _render_station_form(None, form, _station_service_errors(error), _status(error))
    flash(f"已添加服务站「{created.name}」", "ok")
    return redirect(url_for("console_checkin.stations"))


@bp.route("/stations/<int:station_id>/edit", methods=["GET", "POST"])
def edit_station(station_id: int) -> Any:
    """Change a station (not its community); closing it keeps its history."""
    station = _managed_station(station_id)
    if request.method == "GET":
        return _render_station_form(station, _station_form(station), {})
    form = request.form.to_dict()
    payload, errors = _station_payload(form, creating=False)
    values = _load(StationUpdateSchema(partial=True), payload, errors)
    if values is None:
        flash("请检查标出的字段", "error")
        return _render_station_form(station, form, errors, 422)
    principal = current_staff()
    updated, error = _submit(lambda: services.update_station(principal, station_id, values))
    if updated is None:
        db.session.refresh(station)
        return _render_station_form(station, form, _station_service_errors(error), _status(error))
    flash("已保存服务站", "ok")
    return redirect(url_for("console_checkin.stations"))


# --- the today panel ------------------------------------------------------------------------------------


@bp.route("/today/checkins")
def today_panel() -> str:
    """Today's activities in my communities with their check-ins so far (an htmx fragment)."""
    principal = current_staff()
    now = utcnow()
    since, until = _today_bounds(now)
    found = list(
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
    counts = _checkin_counts([a.id for a in found])
    open_counts: dict[int, int] = {}
    if found:
        rows = db.session.execute(
            select(CheckIn.activity_id, func.count())
            .where(CheckIn.activity_id.in_([a.id for a in found]), CheckIn.status == "open")
            .group_by(CheckIn.activity_id)
        )
        open_counts = {int(activity_id): int(count) for activity_id, count in rows if activity_id is not None}
    return render_template(
        "console/checkin/today_panel.html",
        activities=found,
        counts=counts,
        open_counts=open_counts,
        now=now,
        updated=_local(now),
    )
