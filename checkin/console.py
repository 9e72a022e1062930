"""Console pages of check-in: activities and stations, the door screen's rotating code, posters and their
reprint, reviewing and voiding check-ins, today."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from checkin import services
from checkin.checkins import station_open_span, void_checkin
from checkin.links import checkin_link, current_short_code
from checkin.models import ACTIVITY_KINDS, Activity, CheckIn, Station
from checkin.schemas import (
    ActivitySchema,
    ActivityUpdateSchema,
    ReprintSchema,
    StationSchema,
    StationUpdateSchema,
    VoidSchema,
)
from checkin.tokens import WINDOW_SECONDS, issue_token
from points.services import list_rules
from server import clock, qr
from server.console import MenuEntry, Panel, current_staff, register_pages, staff_communities
from server.console.actions import attempt_form, back
from server.console.args import int_arg, page_arg
from server.console.forms import load_form, local_input, refusal
from server.db import db, page_count
from server.errors import AppError, NotFound
from server.users import services as users

bp = Blueprint("console_checkin", __name__, url_prefix="/console", template_folder="templates")

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
    "no_location": "未提供位置",
    "printed_no_fence": "纸质码且未开签到范围",
}
STATUS_LABELS = {"open": "已签到", "closed": "已签退", "auto_closed": "自动签退", "voided": "已作废"}
SOURCE_LABELS = {"scan": "扫码", "printed": "纸质签到码", "staff": "工作人员扫码", "batch": "离线补录"}
# The switches of the activity form (checkboxes: "on" or absent) and of the station form.
ACTIVITY_SWITCHES = (
    "signup_required",
    "hours_count",
    "geofence",
    "printed_code_allowed",
    "members_only",
    "open_to_all",
)
STATION_SWITCHES = ("active", "printed_code_allowed")
VOID_LABELS = {"reason": "作废原因"}
# A refusal of a void, beside its form: what staff can do about it.
VOID_MESSAGES = {
    "INSUFFICIENT_POINTS": "该居民已用掉这次签到所得的积分，无法撤回；如确需处理，请在居民积分中调整",
    "REASON_REQUIRED": "请填写作废原因",
}
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


def _span(start: datetime, end: datetime) -> str:
    """``12月1日（周二）10:00–12:00``, or both dates when the span crosses midnight."""
    first, last = clock.local(start), clock.local(end)
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


def _managed_activity(activity_id: int) -> Activity:
    """The activity, when the logged-in staff member looks after its community (403 otherwise)."""
    return services.activity_for_staff(current_staff(), activity_id)


def _managed_station(station_id: int) -> Station:
    """The station, when the logged-in staff member looks after its community (403 otherwise)."""
    return services.station_for_staff(current_staff(), station_id)


def _activity_count(activity_id: int) -> int:
    """Check-ins so far of one activity."""
    return services.checkin_counts([activity_id]).get(activity_id, 0)


def _station_count(station_id: int, now: datetime) -> int:
    """Visits to a station today."""
    return services.station_visits([station_id], now).get(station_id, 0)


# --- activities ------------------------------------------------------------------------------------------


@bp.route("/activities")
def activities() -> str:
    """Activities of my communities: upcoming (and under way) soonest first, or past ones latest first."""
    principal = current_staff()
    when = "past" if request.args.get("when") == "past" else "upcoming"
    community_id = int_arg("community")
    page = page_arg()
    now = clock.now()
    items, total = services.staff_activities(principal, when, community_id, page, PAGE_SIZE)
    return render_template(
        "console/checkin/activities.html",
        activities=items,
        counts=services.checkin_counts([a.id for a in items]),
        communities=staff_communities(principal),
        community_id=community_id,
        when=when,
        total=total,
        page=page,
        pages=page_count(total, PAGE_SIZE),
        now=now,
    )


def _activity_form(activity: Activity | None) -> dict[str, str]:
    """The form's text values: blank for a new activity, the stored ones for an edit."""
    if activity is None:
        return {"kind": "party_day", "points_rule": "PARTY_DAY"}

    form = {
        "title": activity.title,
        "kind": activity.kind,
        "description": activity.description or "",
        "place": activity.place or "",
        "starts_at": local_input(activity.starts_at),
        "ends_at": local_input(activity.ends_at),
        "checkin_opens_at": local_input(activity.checkin_opens_at),
        "checkin_closes_at": local_input(activity.checkin_closes_at),
        "capacity": "" if activity.capacity is None else str(activity.capacity),
        "points_rule": activity.points_rule,
        "lat": "" if activity.lat is None else str(activity.lat),
        "lng": "" if activity.lng is None else str(activity.lng),
        "radius_m": "" if activity.radius_m is None else str(activity.radius_m),
    }
    for flag in ACTIVITY_SWITCHES:
        if getattr(activity, flag):
            form[flag] = "on"
    return form


def _activity_values(form: dict[str, str], creating: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The activity's fields from the form, read by the API's schema (times are local); errors by field."""
    schema = ActivitySchema() if creating else ActivityUpdateSchema(partial=True)
    return load_form(schema, form, FIELD_LABELS, {"community_id": "请选择社区"})


def _render_activity_form(
    activity: Activity | None, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> tuple[str, int]:
    """The activity form with its choices (communities, stations, active points rules) and errors."""
    principal = current_staff()
    stations = services.staff_stations(principal, active_only=True)
    page = render_template(
        "console/checkin/activity_form.html",
        activity=activity,
        form=form,
        errors=errors,
        communities=staff_communities(principal),
        stations=stations,
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
        chosen = int_arg("community")
        if chosen is not None:
            form["community_id"] = str(chosen)
        return _render_activity_form(None, form, {})
    form = request.form.to_dict()
    values, errors = _activity_values(form, creating=True)
    if errors:
        flash("请检查标出的字段", "error")
        return _render_activity_form(None, form, errors, 422)
    if values.get("station_id") and not values["place"]:
        values["place"] = services.get_station(values["station_id"]).name
    principal = current_staff()
    created, error = attempt_form(
        lambda: services.create_activity(principal, values), f"已创建活动「{values['title']}」"
    )
    if created is None:
        return _render_activity_form(None, form, *refusal(error, SERVICE_FIELD_MESSAGES))
    return redirect(url_for("console_checkin.activity_detail", activity_id=created.id))


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
def edit_activity(activity_id: int) -> Any:
    """Change an activity (not its community or station)."""
    activity = _managed_activity(activity_id)
    if request.method == "GET":
        return _render_activity_form(activity, _activity_form(activity), {})
    form = request.form.to_dict()
    values, errors = _activity_values(form, creating=False)
    if errors:
        flash("请检查标出的字段", "error")
        return _render_activity_form(activity, form, errors, 422)
    principal = current_staff()
    updated, error = attempt_form(
        lambda: services.update_activity(principal, activity_id, values), "已保存活动"
    )
    if updated is None:
        db.session.refresh(activity)
        return _render_activity_form(activity, form, *refusal(error, SERVICE_FIELD_MESSAGES))
    return redirect(url_for("console_checkin.activity_detail", activity_id=activity_id))


def _to_review(checkin: CheckIn) -> bool:
    """A check-in with a fraud signal that nobody has voided yet."""
    return bool(checkin.flags) and checkin.status != "voided"


def _render_activity(
    activity: Activity,
    review: bool,
    void_errors: dict[int, str] | None = None,
    typed: dict[int, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The activity page: its facts and its check-ins (with ``review``, only the flagged ones, those
    still to review first), each with who recorded or voided it and a void form."""
    rows = services.activity_checkins(activity.id)
    shown = sorted((r for r in rows if r[0].flags), key=lambda r: not _to_review(r[0])) if review else rows
    names = users.staff_names({c.staff_id for c, _ in rows} | {c.voided_by_id for c, _ in rows})
    page = render_template(
        "console/checkin/activity.html",
        activity=activity,
        checkins=shown,
        review=review,
        attended=sum(1 for c, _ in rows if c.status != "voided"),
        voided=sum(1 for c, _ in rows if c.status == "voided"),
        total=len(rows),
        flagged=sum(1 for c, _ in rows if _to_review(c)),
        signups=services.signup_count(activity.id),
        staff_names=names,
        void_errors=void_errors or {},
        typed=typed or {},
        now=clock.now(),
    )
    return page, status


@bp.route("/activities/<int:activity_id>")
def activity_detail(activity_id: int) -> tuple[str, int]:
    """An activity and its check-ins so far, with the signals staff review (``?review=1``: the flagged
    ones only) and a void action on each."""
    return _render_activity(_managed_activity(activity_id), request.args.get("review") == "1")


@bp.route("/activities/<int:activity_id>/checkins/<int:checkin_id>/void", methods=["POST"])
def void_activity_checkin(activity_id: int, checkin_id: int) -> Any:
    """Void a check-in of the activity found false, with a reason: its points go back through the ledger,
    once (a resend answers the same). A refusal comes back beside the check-in's form."""
    found = _managed_activity(activity_id)
    review = request.form.get("review") == "1"
    form = request.form.to_dict()
    if checkin_id not in {c.id for c, _ in services.activity_checkins(found.id)}:
        raise NotFound("CHECKIN_NOT_FOUND", details={"id": checkin_id})
    values, errors = load_form(VoidSchema(), form, VOID_LABELS)
    typed = {checkin_id: form.get("reason", "")}
    if errors:
        flash("请填写作废原因", "error")
        return _render_activity(found, review, {checkin_id: errors["reason"]}, typed, 422)
    principal = current_staff()
    voided, error = attempt_form(
        lambda: void_checkin(principal, checkin_id, values["reason"]),
        f"已作废签到 #{checkin_id}，签到所得积分已撤回",
    )
    if voided is None:
        code, status = (error.code, error.status_code) if error is not None else ("", 422)
        message = VOID_MESSAGES.get(code, "未能作废，请刷新页面后再试")
        return _render_activity(found, review, {checkin_id: message}, typed, status)
    return back("console_checkin.activity_detail", activity_id=found.id)


# --- the door screen and the poster -------------------------------------------------------------------


def _window_state(opens: datetime | None, closes: datetime | None, now: datetime) -> tuple[str, str]:
    """Whether check-in is open now, and what the screen says about it."""
    if opens is None or closes is None:
        return "closed", "服务站当前不在开放时间"
    if now < opens:
        return "before", f"签到将于 {clock.local(opens):%H:%M} 开始"
    if now > closes:
        return "after", "签到已结束"
    return "open", f"签到进行中，{clock.local(closes):%H:%M} 截止"


def _screen_code(kind: str, target_id: int) -> dict[str, Any]:
    """The current rotating code of a screen, when it stops being accepted and when a fresher one exists."""
    now = clock.now()
    issued = issue_token(kind, target_id, now=now.timestamp())
    next_window = datetime.fromtimestamp((issued.window + 1) * WINDOW_SECONDS[kind], UTC)
    url = checkin_link(issued.token)
    return {
        "token": issued.token,
        "url": url,
        "short_code": current_short_code(target_id, now.timestamp()) if kind == "activity" else None,
        "scene": issued.token,
        "window": issued.window,
        "window_seconds": WINDOW_SECONDS[kind],
        "expires_at": issued.expires_at.isoformat(),
        "expires_in": round((issued.expires_at - now).total_seconds(), 3),
        "refresh_in": round(min((next_window - now).total_seconds(), SCREEN_POLL_MAX_SECONDS), 3),
        "image": qr.svg_data_url(url),
        "now": now.isoformat(),
    }


def _activity_screen_state(activity: Activity) -> dict[str, Any]:
    """The door screen's JSON of an activity: its code, check-ins so far and whether check-in is open."""
    now = clock.now()
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
    now = clock.now()
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
    today = services.DAYS[clock.local(clock.now()).weekday()]
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


def _printable(kind: str, place: Activity | Station) -> Activity | Station | None:
    """The place, when staff may print its code; None when printed codes are off there."""
    try:
        return services.printable(current_staff(), kind, place.id)
    except AppError as error:
        if error.code != "PRINTED_CODE_OFF":
            raise
        return None


def _poster_links(kind: str, place: Activity | Station) -> dict[str, str]:
    """Where the poster page of a place links: its PNG, the reprint, the edit form, back."""
    if kind == "activity":
        return {
            "poster_url": url_for("console_checkin.activity_poster", activity_id=place.id),
            "png_url": url_for("console_checkin.activity_printed_code", activity_id=place.id),
            "reprint_url": url_for("console_checkin.reprint_activity_code", activity_id=place.id),
            "edit_url": url_for("console_checkin.edit_activity", activity_id=place.id),
            "back_url": url_for("console_checkin.activity_detail", activity_id=place.id),
        }
    return {
        "poster_url": url_for("console_checkin.station_poster", station_id=place.id),
        "png_url": url_for("console_checkin.station_printed_code", station_id=place.id),
        "reprint_url": url_for("console_checkin.reprint_station_code", station_id=place.id),
        "edit_url": url_for("console_checkin.edit_station", station_id=place.id),
        "back_url": url_for("console_checkin.stations"),
    }


def _poster_page(kind: str, place: Activity | Station) -> str:
    """The A4 poster of a place with its version and the reprint button, or, where printed codes are
    off, a page saying so with the way to turn them on."""
    activity = place if isinstance(place, Activity) else None
    station = place if isinstance(place, Station) else None
    title = place.title if isinstance(place, Activity) else place.name
    links = _poster_links(kind, place)
    allowed = _printable(kind, place)
    if allowed is None:
        return render_template(
            "console/checkin/poster_off.html", activity=activity, station=station, title=title, **links
        )
    image, source = services.printed_code_png(allowed)
    return render_template(
        "console/checkin/poster.html",
        activity=activity,
        station=station,
        title=title,
        version=allowed.printed_version,
        image="data:image/png;base64," + base64.b64encode(image).decode(),
        source=source,
        **links,
    )


def _printed_png(kind: str, place: Activity | Station, filename: str) -> Response | tuple[str, int]:
    """The printed code as a PNG file, or the page saying printed codes are off (409)."""
    allowed = _printable(kind, place)
    if allowed is None:
        title = place.title if isinstance(place, Activity) else place.name
        page = render_template(
            "console/checkin/poster_off.html",
            activity=place if isinstance(place, Activity) else None,
            station=place if isinstance(place, Station) else None,
            title=title,
            **_poster_links(kind, place),
        )
        return page, 409
    image, source = services.printed_code_png(allowed)
    return _png_response(image, source, filename)


def _reprint(kind: str, place: Activity | Station) -> Response:
    """Retire the place's printed code (the version the form showed, so a resend is the same reprint);
    back to the poster, now the new one."""
    values, errors = load_form(ReprintSchema(), request.form.to_dict())
    poster = _poster_links(kind, place)["poster_url"]
    if errors:
        flash("页面已过期，请刷新后再重新打印", "error")
        return redirect(poster)
    principal = current_staff()
    attempt_form(
        lambda: services.reprint(principal, kind, place.id, values["from_version"]),
        "已重新打印签到码：旧海报已失效，请打印并张贴下面的新海报",
    )
    return redirect(poster)


@bp.route("/activities/<int:activity_id>/poster")
def activity_poster(activity_id: int) -> str:
    """An A4 poster for the door: the printed code, the name, time and place, how to check in."""
    return _poster_page("activity", _managed_activity(activity_id))


@bp.route("/activities/<int:activity_id>/printed-code.png")
def activity_printed_code(activity_id: int) -> Response | tuple[str, int]:
    """The printed code of an activity as a PNG file, e.g. for a print shop."""
    found = _managed_activity(activity_id)
    return _printed_png("activity", found, f"activity-{found.id}.png")


@bp.route("/activities/<int:activity_id>/poster/reprint", methods=["POST"])
def reprint_activity_code(activity_id: int) -> Response:
    """A new poster for the activity: every old one (and every photo of it) stops working."""
    return _reprint("activity", _managed_activity(activity_id))


@bp.route("/stations/<int:station_id>/poster")
def station_poster(station_id: int) -> str:
    """An A4 poster of a station: its printed code, name, address and opening hours."""
    return _poster_page("station", _managed_station(station_id))


@bp.route("/stations/<int:station_id>/printed-code.png")
def station_printed_code(station_id: int) -> Response | tuple[str, int]:
    """The printed code of a station as a PNG file."""
    station = _managed_station(station_id)
    return _printed_png("station", station, f"station-{station.id}.png")


@bp.route("/stations/<int:station_id>/poster/reprint", methods=["POST"])
def reprint_station_code(station_id: int) -> Response:
    """A new poster for the station: every old one stops working."""
    return _reprint("station", _managed_station(station_id))


# --- stations ------------------------------------------------------------------------------------------


@bp.route("/stations")
def stations() -> str:
    """The stations of my communities (closed ones last), with today's visits."""
    principal = current_staff()
    community_id = int_arg("community")
    found = services.staff_stations(principal, community_id)
    now = clock.now()
    visits = services.station_visits([s.id for s in found], now)
    return render_template(
        "console/checkin/stations.html",
        stations=found,
        visits=visits,
        communities=staff_communities(principal),
        community_id=community_id,
        today=services.DAYS[clock.local(now).weekday()],
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
    for flag in STATION_SWITCHES:
        if getattr(station, flag):
            form[flag] = "on"
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


def _station_values(form: dict[str, str], creating: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The station's fields from the form, read by the API's schema; errors by field."""
    errors: dict[str, str] = {}
    hours = _opening_hours(form, errors)
    schema = StationSchema() if creating else StationUpdateSchema(partial=True)
    values, wrong = load_form(
        schema,
        form,
        FIELD_LABELS,
        {"community_id": "请选择社区"},
        required=("radius_m",),
        extra={"opening_hours": hours},
    )
    return values, errors | wrong


def _render_station_form(
    station: Station | None, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> tuple[str, int]:
    """The station form with its choices and errors."""
    page = render_template(
        "console/checkin/station_form.html",
        station=station,
        form=form,
        errors=errors,
        communities=staff_communities(current_staff()),
        rules=list_rules(include_inactive=False),
        days=services.DAYS,
    )
    return page, status


def _station_refusal(error: AppError | None) -> tuple[dict[str, str], int]:
    """A refused station's complaints beside the fields (the weekday whose hours are wrong); its status."""
    errors, status = refusal(error, SERVICE_FIELD_MESSAGES)
    if error is not None and error.code == "OPENING_HOURS_INVALID":
        day = (error.details or {}).get("day")
        errors = {f"hours_{day}": "开始时间须早于结束时间"} if day else {}
    return errors, status


@bp.route("/stations/new", methods=["GET", "POST"])
def new_station() -> Any:
    """The form for a new station."""
    if request.method == "GET":
        return _render_station_form(None, _station_form(None), {})
    form = request.form.to_dict()
    values, errors = _station_values(form, creating=True)
    if errors:
        flash("请检查标出的字段", "error")
        return _render_station_form(None, form, errors, 422)
    principal = current_staff()
    created, error = attempt_form(
        lambda: services.create_station(principal, values), f"已添加服务站「{values['name']}」"
    )
    if created is None:
        return _render_station_form(None, form, *_station_refusal(error))
    return redirect(url_for("console_checkin.stations"))


@bp.route("/stations/<int:station_id>/edit", methods=["GET", "POST"])
def edit_station(station_id: int) -> Any:
    """Change a station (not its community); closing it keeps its history."""
    station = _managed_station(station_id)
    if request.method == "GET":
        return _render_station_form(station, _station_form(station), {})
    form = request.form.to_dict()
    values, errors = _station_values(form, creating=False)
    if errors:
        flash("请检查标出的字段", "error")
        return _render_station_form(station, form, errors, 422)
    principal = current_staff()
    updated, error = attempt_form(
        lambda: services.update_station(principal, station_id, values), "已保存服务站"
    )
    if updated is None:
        db.session.refresh(station)
        return _render_station_form(station, form, *_station_refusal(error))
    return redirect(url_for("console_checkin.stations"))


# --- the today panel ------------------------------------------------------------------------------------


@bp.route("/today/checkins")
def today_panel() -> str:
    """Today's activities in my communities with their check-ins so far (an htmx fragment)."""
    principal = current_staff()
    now = clock.now()
    found = services.activities_of_today(principal)
    counts = services.checkin_counts([a.id for a in found])
    open_counts = services.checkin_counts([a.id for a in found], open_only=True)
    return render_template(
        "console/checkin/today_panel.html",
        activities=found,
        counts=counts,
        open_counts=open_counts,
        now=now,
        updated=clock.local(now),
    )
