"""Routes of stations, activities, sign-ups and the rotating codes for screens."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import Response, current_app
from flask_smorest import Blueprint
from limits import parse

from checkin import batches, checkins, services
from checkin.links import checkin_link, current_short_code, short_code_expires_in
from checkin.models import Activity, CheckIn, Signup, Station
from checkin.schemas import (
    ActivityOutSchema,
    ActivityQuerySchema,
    ActivitySchema,
    ActivityUpdateSchema,
    BatchResultSchema,
    BatchSchema,
    CheckInRequestSchema,
    CheckInSchema,
    CheckOutRequestSchema,
    CodeQuerySchema,
    CodeSchema,
    MemberCodeSchema,
    MySignupsQuerySchema,
    PrintedVersionSchema,
    ReprintSchema,
    SignupSchema,
    StaffScanResultSchema,
    StaffScanSchema,
    StationListSchema,
    StationOutSchema,
    StationQuerySchema,
    StationSchema,
    StationUpdateSchema,
    VoidSchema,
)
from checkin.tokens import WINDOW_SECONDS, issue_token
from server import clock, qr
from server.auth.policy import auth_required, current_principal, current_user_id
from server.errors import AppError
from server.extensions import limiter
from server.schemas import NewestFirstArgs, binary_response, newest_first_page_of, page_body, page_of

blp = Blueprint("checkin", __name__, url_prefix="/api/v1", description="Stations, activities, check-in")
# ``?format=png`` answers the code as an image instead of JSON.
PNG_ALTERNATIVE = {200: {"content": binary_response("", "image/png")[200]["content"]}}


def _checkin_rate() -> str:
    """CHECKIN_RATE_LIMIT, read at each request so a changed setting (or a test) takes effect at once."""
    return str(current_app.config["CHECKIN_RATE_LIMIT"])


def _member_key() -> str:
    principal = current_principal()
    return f"{principal.kind}:{principal.id}"


# One budget per member for checking in and out (a member does a few a day; scripts do thousands).
member_checkin_limit = limiter.shared_limit(_checkin_rate, scope="checkin", key_func=_member_key)


@contextmanager
def short_code_attempts(member: str) -> Iterator[None]:
    """Wrong 6-digit codes are counted per member (CHECKIN_SHORT_CODE_RATE_LIMIT, 5 per 10 minutes), so
    guessing one of a million codes that change every half minute stays out of reach."""
    if not limiter.enabled:
        yield
        return
    item = parse(str(current_app.config["CHECKIN_SHORT_CODE_RATE_LIMIT"]))
    if not limiter.limiter.test(item, "short-code", member):
        reset, _ = limiter.limiter.get_window_stats(item, "short-code", member)
        retry = max(1, math.ceil(reset - time.time()))
        raise AppError(
            "RATE_LIMITED", status=429, details={"retry_after": retry}, headers={"Retry-After": str(retry)}
        )
    try:
        yield
    except AppError as exc:
        if exc.code == "SHORT_CODE_INVALID":
            limiter.limiter.hit(item, "short-code", member)
        raise


def _refresh_in(kind: str, window: int, now: datetime) -> float:
    """Seconds until a fresher code exists (the next window), for clients whose clocks are off."""
    return round((window + 1) * WINDOW_SECONDS[kind] - now.timestamp(), 3)


@blp.route("/stations", methods=["POST"])
@auth_required("staff")
@blp.arguments(StationSchema)
@blp.response(201, StationOutSchema)
def create_station(body: dict[str, Any]) -> Station:
    """Add a station (党群服务中心, 服务驿站) to a community I look after."""
    return services.create_station(current_principal(), body)


@blp.route("/stations/<int:station_id>", methods=["PATCH"])
@auth_required("staff")
@blp.arguments(StationUpdateSchema(partial=True))
@blp.response(200, StationOutSchema)
def update_station(body: dict[str, Any], station_id: int) -> Station:
    """Change a station."""
    return services.update_station(current_principal(), station_id, body)


@blp.route("/stations", methods=["GET"])
@auth_required()
@blp.arguments(StationQuerySchema, location="query")
@blp.response(200, StationListSchema)
def list_stations(args: dict[str, Any]) -> dict[str, Any]:
    """The stations of a community."""
    stations = services.list_stations(args["community_id"])
    return {"items": stations, "total": len(stations)}


@blp.route("/activities", methods=["POST"])
@auth_required("staff")
@blp.arguments(ActivitySchema)
@blp.response(201, ActivityOutSchema)
def create_activity(body: dict[str, Any]) -> Activity:
    """Add an activity: themed party day, volunteer service, meeting, training."""
    return services.create_activity(current_principal(), body)


@blp.route("/activities/<int:activity_id>", methods=["PATCH"])
@auth_required("staff")
@blp.arguments(ActivityUpdateSchema(partial=True))
@blp.response(200, ActivityOutSchema)
def update_activity(body: dict[str, Any], activity_id: int) -> Activity:
    """Change an activity; the capacity never drops below the places taken."""
    return services.update_activity(current_principal(), activity_id, body)


@blp.route("/activities", methods=["GET"])
@auth_required()
@blp.arguments(ActivityQuerySchema, location="query")
@blp.response(200, page_of(ActivityOutSchema))
def list_activities(args: dict[str, Any]) -> dict[str, Any]:
    """Activities of a community in a period, soonest first."""
    items, total = services.list_activities(
        args.get("community_id"), args.get("from_"), args.get("to"), args["page"], args["page_size"]
    )
    return page_body(services.for_caller(_caller_user_id(), items), total, args["page"], args["page_size"])


@blp.route("/activities/<int:activity_id>", methods=["GET"])
@auth_required()
@blp.response(200, ActivityOutSchema)
def get_activity(activity_id: int) -> services.ActivityForCaller:
    """One activity, with my sign-up and check-in."""
    return services.for_caller(_caller_user_id(), [services.get_activity(activity_id)])[0]


def _caller_user_id() -> int | None:
    user = current_principal().user
    return user.id if user is not None else None


@blp.route("/activities/<int:activity_id>/signup", methods=["POST"])
@auth_required("user")
@blp.response(201, SignupSchema)
@blp.alt_response(200, schema=SignupSchema, description="already signed up")
def signup(activity_id: int) -> tuple[Signup, int]:
    """Sign up (once; a repeat answers 200 with the same sign-up)."""
    user = current_principal().user
    assert user is not None  # noqa: S101  (auth_required("user") lets only users in)
    entry, created = services.signup(user.id, activity_id)
    return entry, 201 if created else 200


@blp.route("/activities/<int:activity_id>/signup", methods=["DELETE"])
@auth_required("user")
@blp.response(204)
def cancel_signup(activity_id: int) -> None:
    """Cancel my sign-up until the activity starts (its place is freed); a resend answers 204 too."""
    services.cancel_signup(current_user_id(), activity_id)


@blp.route("/me/signups", methods=["GET"])
@auth_required("user")
@blp.arguments(MySignupsQuerySchema, location="query")
@blp.response(200, page_of(ActivityOutSchema))
def my_signups(args: dict[str, Any]) -> dict[str, Any]:
    """The activities I signed up for: upcoming soonest first (``?when=past``: latest first)."""
    user_id = current_user_id()
    items, total = services.my_signups(user_id, args["when"], args["page"], args["page_size"])
    return page_body(services.for_caller(user_id, items), total, args["page"], args["page_size"])


def _code(kind: str, target_id: int, fmt: str) -> Any:
    now = clock.now()
    issued = services.screen_code(current_principal(), kind, target_id)
    url = checkin_link(issued.token)
    if fmt == "png":
        return Response(qr.png(url), mimetype="image/png", headers={"Cache-Control": "no-store"})
    body: dict[str, Any] = {
        "token": issued.token,
        "url": url,
        "scene": issued.token,
        "expires_at": issued.expires_at,
        "server_time": now,
        "refresh_in": _refresh_in(kind, issued.window, now),
    }
    if kind == "activity":
        body["short_code"] = current_short_code(target_id, now.timestamp())
        body["short_code_expires_in"] = round(short_code_expires_in(now.timestamp()), 3)
    return body


@blp.route("/activities/<int:activity_id>/code", methods=["GET"])
@auth_required("staff")
@blp.arguments(CodeQuerySchema, location="query")
@blp.response(200, CodeSchema)
@blp.doc(responses=PNG_ALTERNATIVE)
def activity_code(args: dict[str, str], activity_id: int) -> Any:
    """The rotating check-in code of an activity, for a screen at the door (``?format=png`` for the image)."""
    return _code("activity", activity_id, args["format"])


@blp.route("/stations/<int:station_id>/code", methods=["GET"])
@auth_required("staff")
@blp.arguments(CodeQuerySchema, location="query")
@blp.response(200, CodeSchema)
@blp.doc(responses=PNG_ALTERNATIVE)
def station_code(args: dict[str, str], station_id: int) -> Any:
    """The rotating check-in code of a station (``?format=png`` for the image)."""
    return _code("station", station_id, args["format"])


CHECKIN_REQUEST_EXAMPLE = {
    "token": "https://linli.example.org/c/a1.3fk2.9Qx7",
    "nonce": "phone-7f3a-0001",
    "lat": 31.2304,
    "lng": 121.4737,
    "coord_type": "wgs84",
    "accuracy": 35,
}
CHECKIN_EXAMPLE = {
    "id": 812,
    "activity_id": 41,
    "station_id": None,
    "status": "open",
    "checked_in_at": "2026-12-05T09:02:11+08:00",
    "checked_out_at": None,
    "minutes": None,
    "points_awarded": 0,
    "source": "scan",
    "title": "社区环境清洁志愿服务",
    "place": "幸福里小区北门",
}


@blp.route("/checkins", methods=["POST"])
@auth_required("user")
@member_checkin_limit
@blp.arguments(CheckInRequestSchema, example=CHECKIN_REQUEST_EXAMPLE)
@blp.response(201, CheckInSchema, example=CHECKIN_EXAMPLE)
@blp.alt_response(200, schema=CheckInSchema, description="a repeated nonce: the first check-in")
@blp.alt_response(429, description="RATE_LIMITED: CHECKIN_RATE_LIMIT per member (default 30 per minute)")
def check_in(body: dict[str, Any]) -> tuple[CheckIn, int]:
    """Check in by the scanned code of an activity or a station (its link or the page's ``q`` too), or by
    the 6-digit code of an activity's door screen; a repeated nonce answers 200, same body."""
    if "short_code" in body:
        with short_code_attempts(_member_key()):
            result = checkins.check_in_by_short_code(
                current_user_id(),
                body["activity_id"],
                body["short_code"],
                body["nonce"],
                body.get("lat"),
                body.get("lng"),
                body.get("device_id"),
                coord_type=body["coord_type"],
                accuracy_m=body.get("accuracy"),
            )
    else:
        result = checkins.check_in(
            current_user_id(),
            body["token"],
            body["nonce"],
            body.get("lat"),
            body.get("lng"),
            body.get("device_id"),
            coord_type=body["coord_type"],
            accuracy_m=body.get("accuracy"),
        )
    return result.checkin, 201 if result.created else 200


@blp.route("/checkins/<int:checkin_id>/checkout", methods=["POST"])
@auth_required("user")
@member_checkin_limit
@blp.arguments(CheckOutRequestSchema)
@blp.response(200, CheckInSchema)
@blp.alt_response(429, description="RATE_LIMITED: CHECKIN_RATE_LIMIT, shared with checking in")
def check_out(body: dict[str, Any], checkin_id: int) -> CheckIn:
    """Close my check-in: minutes clamped to the window, hours awarded once. Where it pays hours, send
    the place's current code as ``token`` (``400 TOKEN_REQUIRED`` without it)."""
    return checkins.check_out(current_user_id(), checkin_id, body.get("token"))


@blp.route("/me/checkins", methods=["GET"])
@auth_required("user")
@blp.arguments(NewestFirstArgs, location="query")
@blp.response(200, newest_first_page_of(CheckInSchema))
def my_checkins(args: dict[str, Any]) -> dict[str, Any]:
    """My check-ins, newest first (``?before_id=`` pages without repeats)."""
    items, total, next_before_id = checkins.my_checkins(
        current_user_id(), args["page"], args["page_size"], args.get("before_id")
    )
    return {**page_body(items, total, args["page"], args["page_size"]), "next_before_id": next_before_id}


@blp.route("/me/code", methods=["GET"])
@auth_required("user")
@blp.response(200, MemberCodeSchema)
def my_code() -> dict[str, Any]:
    """My own rotating code (about a minute), for staff to scan at an activity."""
    now = clock.now()
    issued = issue_token("member", current_user_id(), now=now.timestamp())
    return {
        "token": issued.token,
        "expires_at": issued.expires_at,
        "server_time": now,
        "refresh_in": _refresh_in("member", issued.window, now),
    }


@blp.route("/activities/<int:activity_id>/scans", methods=["POST"])
@auth_required("staff")
@blp.arguments(StaffScanSchema)
@blp.response(200, StaffScanResultSchema)
def staff_scan(body: dict[str, str], activity_id: int) -> dict[str, Any]:
    """Scan a member's code: checks them in, or out if their check-in is open."""
    checkin, action = checkins.staff_scan(
        current_principal(), activity_id, body["member_token"], body["nonce"], body.get("device_id")
    )
    return {"action": action, "checkin": checkin}


@blp.route("/checkins/<int:checkin_id>/void", methods=["POST"])
@auth_required("staff")
@blp.arguments(VoidSchema)
@blp.response(200, CheckInSchema)
def void_checkin(body: dict[str, str], checkin_id: int) -> CheckIn:
    """Void a check-in found false: its points go back through the ledger with the reason, once."""
    return checkins.void_checkin(current_principal(), checkin_id, body["reason"])


@blp.route("/checkins/batch", methods=["POST"])
@auth_required("staff")
@blp.arguments(BatchSchema)
@blp.response(200, BatchResultSchema)
def upload_batch(body: dict[str, Any]) -> dict[str, Any]:
    """Upload scans a staff device made offline; each item once by its nonce, a result per item."""
    return {"items": batches.apply_batch(current_principal(), body["device_id"], body["items"])}


def _reprint(kind: str, target_id: int, from_version: int) -> dict[str, Any]:
    place = services.reprint(current_principal(), kind, target_id, from_version)
    return {"kind": kind, "id": place.id, "printed_version": place.printed_version}


@blp.route("/activities/<int:activity_id>/printed-code/reprint", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReprintSchema)
@blp.response(200, PrintedVersionSchema)
def reprint_activity_code(body: dict[str, int], activity_id: int) -> dict[str, Any]:
    """Retire the printed code of an activity (every old poster stops working); print the new one."""
    return _reprint("activity", activity_id, body["from_version"])


@blp.route("/stations/<int:station_id>/printed-code/reprint", methods=["POST"])
@auth_required("staff")
@blp.arguments(ReprintSchema)
@blp.response(200, PrintedVersionSchema)
def reprint_station_code(body: dict[str, int], station_id: int) -> dict[str, Any]:
    """Retire the printed code of a station."""
    return _reprint("station", station_id, body["from_version"])


def _printed(kind: str, target_id: int) -> Response:
    image, source, scene = services.printed_code(current_principal(), kind, target_id)
    return Response(image, mimetype="image/png", headers={"X-Linli-Code": source, "X-Linli-Scene": scene})


PRINTED_PNG = binary_response(
    "the poster's PNG",
    "image/png",
    headers={
        "X-Linli-Code": "wxacode (a mini-program code) or qr (the fallback)",
        "X-Linli-Scene": "its scene",
    },
)


@blp.route("/activities/<int:activity_id>/printed-code", methods=["GET"])
@auth_required("staff")
@blp.doc(responses=PRINTED_PNG)
@blp.response(200, description="PNG image")
def activity_printed_code(activity_id: int) -> Response:
    """The printed code of an activity for its poster: a mini-program code, or a plain QR as a fallback
    (``409 PRINTED_CODE_OFF`` unless the activity allows printed codes)."""
    return _printed("activity", activity_id)


@blp.route("/stations/<int:station_id>/printed-code", methods=["GET"])
@auth_required("staff")
@blp.doc(responses=PRINTED_PNG)
@blp.response(200, description="PNG image")
def station_printed_code(station_id: int) -> Response:
    """The printed code of a station."""
    return _printed("station", station_id)
