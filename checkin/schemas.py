"""Schemas of stations, activities, sign-ups and codes."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from checkin.geo import COORD_TYPES
from checkin.models import ACTIVITY_KINDS, CHECKIN_SOURCES, CHECKIN_STATUSES
from checkin.policy import sees_fence
from server.clock import SERVER_ZONE
from server.schemas import FITS_INT, IN_SERVICE_TIME, LocalDateTime, PageArgs

LAT = validate.Range(min=-90, max=90)
LNG = validate.Range(min=-180, max=180)
RULE = validate.Regexp(r"^[A-Z][A-Z0-9_]{1,31}$")


def _when(**kwargs: object) -> fields.AwareDateTime:
    """A time with its offset; one without is read in the server's zone (Asia/Shanghai)."""
    return fields.AwareDateTime(
        default_timezone=SERVER_ZONE,
        validate=IN_SERVICE_TIME,
        **kwargs,  # type: ignore[arg-type]
    )


FENCE_FIELDS = ("lat", "lng", "radius_m")
FENCE_NOTE = (
    "GCJ-02 (what Chinese map pickers give); only to staff of the community; residents see geofence only"
)
PRINTED_NOTE = "accept the signed printed code (poster) of this place; off by default"


class _HidesFence:
    """Answers drop the fence's centre and radius unless the caller is staff of the place's community."""

    @post_dump(pass_original=True)
    def hide_fence(self, data: dict[str, Any], original: Any, **_: object) -> dict[str, Any]:
        """Residents get ``geofence`` (whether there is one) and the place's name, not where it is."""
        if not sees_fence(getattr(original, "community", None)):
            for name in FENCE_FIELDS:
                data.pop(name, None)
        return data


class StationSchema(Schema):
    """A station."""

    id = fields.Integer(dump_only=True)
    community_id = fields.Integer(required=True, strict=True, validate=FITS_INT)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    address = fields.String(load_default="", validate=validate.Length(max=255))
    lat = fields.Decimal(
        allow_none=True, places=6, as_string=False, validate=LAT, metadata={"description": FENCE_NOTE}
    )
    lng = fields.Decimal(
        allow_none=True, places=6, as_string=False, validate=LNG, metadata={"description": FENCE_NOTE}
    )
    radius_m = fields.Integer(
        load_default=200,
        strict=True,
        validate=validate.Range(min=10, max=5000),
        metadata={"description": FENCE_NOTE},
    )
    opening_hours = fields.Dict(load_default=dict)
    points_rule = fields.String(load_default="STATION_DUTY_HOUR", validate=RULE)
    active = fields.Boolean(load_default=True)
    printed_code_allowed = fields.Boolean(load_default=False, metadata={"description": PRINTED_NOTE})
    printed_version = fields.Integer(dump_only=True, metadata={"description": "the current poster's version"})
    geofence = fields.Method(
        "_has_fence",
        dump_only=True,
        metadata={"type": "boolean", "description": "a member's scan must come from nearby"},
    )

    def _has_fence(self, station: Any) -> bool:
        return station.lat is not None and station.lng is not None


class StationOutSchema(_HidesFence, StationSchema):
    """A station as clients read it (its fence only to staff of its community)."""


class StationUpdateSchema(StationSchema):
    """Fields of a station staff may change."""

    class Meta:
        exclude = ("community_id",)


class StationQuerySchema(Schema):
    """Which community's stations."""

    community_id = fields.Integer(required=True, validate=FITS_INT)


class StationListSchema(Schema):
    """Stations of a community."""

    items = fields.List(fields.Nested(StationOutSchema), required=True)
    total = fields.Integer(required=True)


class ActivitySchema(Schema):
    """An activity."""

    id = fields.Integer(dump_only=True)
    community_id = fields.Integer(required=True, strict=True, validate=FITS_INT)
    station_id = fields.Integer(allow_none=True, strict=True, validate=FITS_INT)
    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(required=True, validate=validate.OneOf(ACTIVITY_KINDS))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    place = fields.String(load_default="", validate=validate.Length(max=255))
    starts_at = _when(required=True)
    ends_at = _when(required=True)
    checkin_opens_at = _when(metadata={"description": "default: 30 minutes before starts_at"})
    checkin_closes_at = _when(metadata={"description": "default: ends_at"})
    capacity = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=100_000))
    taken = fields.Integer(dump_only=True)
    signup_required = fields.Boolean(load_default=False)
    points_rule = fields.String(required=True, validate=RULE)
    hours_count = fields.Boolean(
        load_default=False, metadata={"description": "check-out needed; points by the hour"}
    )
    geofence = fields.Boolean(load_default=False)
    lat = fields.Decimal(
        allow_none=True, places=6, as_string=False, validate=LAT, metadata={"description": FENCE_NOTE}
    )
    lng = fields.Decimal(
        allow_none=True, places=6, as_string=False, validate=LNG, metadata={"description": FENCE_NOTE}
    )
    radius_m = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=10, max=5000),
        metadata={"description": FENCE_NOTE},
    )
    printed_code_allowed = fields.Boolean(load_default=False, metadata={"description": PRINTED_NOTE})
    printed_version = fields.Integer(dump_only=True, metadata={"description": "the current poster's version"})
    members_only = fields.Boolean(
        load_default=False,
        metadata={"description": "the community's party members and those signed up (party days always)"},
    )
    open_to_all = fields.Boolean(
        load_default=False, metadata={"description": "residents of other communities may check in too"}
    )


class MySignupSchema(Schema):
    """The caller's own sign-up for an activity."""

    status = fields.String(required=True, validate=validate.OneOf(["signed_up"]))
    created_at = LocalDateTime(required=True)


class MyCheckinSchema(Schema):
    """The caller's own check-in at an activity."""

    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CHECKIN_STATUSES))


class ActivityOutSchema(_HidesFence, ActivitySchema):
    """An activity as clients read it (times in the server's zone; the fence only to staff)."""

    starts_at = LocalDateTime(required=True)  # type: ignore[assignment]
    ends_at = LocalDateTime(required=True)  # type: ignore[assignment]
    checkin_opens_at = LocalDateTime(required=True)  # type: ignore[assignment]
    checkin_closes_at = LocalDateTime(required=True)  # type: ignore[assignment]
    cancelled_at = LocalDateTime(dump_only=True, allow_none=True)
    my_signup = fields.Nested(
        MySignupSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "the caller's sign-up (null when none, and for staff)"},
    )
    my_checkin = fields.Nested(
        MyCheckinSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "the caller's check-in here (null when none, and for staff)"},
    )


class MySignupsQuerySchema(PageArgs):
    """Which of my sign-ups: upcoming (and under way) or past."""

    when = fields.String(load_default="upcoming", validate=validate.OneOf(["upcoming", "past"]))


class ActivityUpdateSchema(ActivitySchema):
    """Fields of an activity staff may change."""

    class Meta:
        exclude = ("community_id", "station_id")


class ActivityQuerySchema(PageArgs):
    """Filters of the activity list."""

    community_id = fields.Integer(validate=FITS_INT)
    from_ = _when(data_key="from")
    to = _when()


class SignupSchema(Schema):
    """A sign-up."""

    activity_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    status = fields.Constant("signed_up", metadata={"type": "string", "enum": ["signed_up"]})
    created_at = LocalDateTime(required=True)


class CodeQuerySchema(Schema):
    """JSON, or the QR image."""

    format = fields.String(load_default="json", validate=validate.OneOf(["json", "png"]))


class CodeSchema(Schema):
    """A rotating code to show on a screen."""

    token = fields.String(required=True)
    url = fields.String(
        required=True,
        metadata={
            "description": "what the QR code holds: QR_LINK_BASE/<token>, opened by WeChat's own scanner"
        },
    )
    scene = fields.String(required=True)
    expires_at = LocalDateTime(required=True)
    server_time = LocalDateTime(required=True)
    refresh_in = fields.Float(required=True, metadata={"description": "seconds until a fresher code exists"})
    short_code = fields.String(metadata={"description": "activities: the 6-digit code to type instead"})
    short_code_expires_in = fields.Float(metadata={"description": "seconds the short code stays accepted"})


class CheckInRequestSchema(Schema):
    """A scanned code, the client's nonce and where the phone is."""

    token = fields.String(
        validate=validate.Length(min=1, max=512),
        metadata={
            "description": "what was scanned: the code, its https link (QR_LINK_BASE/<code>) or the page's "
            "query.q (the link URL-encoded); or send short_code and activity_id instead"
        },
    )
    short_code = fields.String(
        validate=validate.Regexp(r"^[0-9]{6}$"),
        metadata={"description": "the 6-digit code typed from the door screen, with activity_id"},
    )
    activity_id = fields.Integer(strict=True, validate=FITS_INT, metadata={"description": "with short_code"})
    nonce = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{8,64}$"))
    lat = fields.Float(
        allow_none=True, validate=LAT, metadata={"description": "latitude in coord_type's datum"}
    )
    lng = fields.Float(
        allow_none=True, validate=LNG, metadata={"description": "longitude in coord_type's datum"}
    )
    coord_type = fields.String(
        load_default="gcj02",
        validate=validate.OneOf(COORD_TYPES),
        metadata={
            "description": "the datum of lat/lng: gcj02 (wx.getLocation({type: 'gcj02'}), Chinese maps) or "
            "wgs84 (wx.getLocation's default), converted to GCJ-02 before the fence check"
        },
    )
    accuracy = fields.Float(
        allow_none=True,
        validate=validate.Range(min=0, max=10_000),
        metadata={
            "description": "the fix's accuracy in metres (wx.getLocation's accuracy); "
            "the fence allows min(accuracy, 100) m more"
        },
    )
    device_id = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "the phone's id, for fraud signals"}
    )

    @validates_schema
    def _one_proof(self, data: dict[str, Any], **_: Any) -> None:
        typed = "short_code" in data or "activity_id" in data
        if typed and "token" in data:
            raise ValidationError("send token, or short_code with activity_id, not both", "token")
        if typed and not ("short_code" in data and "activity_id" in data):
            raise ValidationError("short_code and activity_id go together", "short_code")
        if not typed and "token" not in data:
            raise ValidationError("Missing data for required field.", "token")


class CheckOutRequestSchema(Schema):
    """A check-out; the nonce makes a repeat harmless."""

    token = fields.String(
        validate=validate.Length(max=512),
        metadata={
            "description": "the place's current code (or its link): required where the check-out pays hours"
        },
    )
    nonce = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{8,64}$"))
    # A client sending the same location body as at check-in is not refused; check-out needs no fence.
    lat = fields.Float(allow_none=True, validate=LAT, metadata={"description": "accepted and ignored"})
    lng = fields.Float(allow_none=True, validate=LNG, metadata={"description": "accepted and ignored"})
    coord_type = fields.String(
        validate=validate.OneOf(COORD_TYPES), metadata={"description": "accepted and ignored"}
    )
    accuracy = fields.Float(
        allow_none=True,
        validate=validate.Range(min=0, max=10_000),
        metadata={"description": "accepted and ignored"},
    )


class CheckInSchema(Schema):
    """A check-in or station visit."""

    id = fields.Integer(required=True)
    activity_id = fields.Integer(allow_none=True)
    station_id = fields.Integer(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(CHECKIN_STATUSES))
    checked_in_at = LocalDateTime(required=True)
    checked_out_at = LocalDateTime(allow_none=True)
    minutes = fields.Integer(allow_none=True)
    points_awarded = fields.Integer(required=True)
    source = fields.String(required=True, validate=validate.OneOf(CHECKIN_SOURCES))
    title = fields.String(required=True, metadata={"description": "the activity's title or station's name"})
    place = fields.String(
        required=True, metadata={"description": "the activity's place or the station's address"}
    )


class VoidSchema(Schema):
    """Why staff void a check-in."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ReprintSchema(Schema):
    """Retire a printed code: the version being replaced (a resend then answers the same new version)."""

    from_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=46_655))


class PrintedVersionSchema(Schema):
    """The printed code's current version."""

    kind = fields.String(required=True, validate=validate.OneOf(["activity", "station"]))
    id = fields.Integer(required=True)
    printed_version = fields.Integer(required=True)


class MemberCodeSchema(Schema):
    """A member's own rotating code, for staff to scan (about a minute, like a payment code)."""

    token = fields.String(required=True)
    expires_at = LocalDateTime(required=True)
    server_time = LocalDateTime(required=True)
    refresh_in = fields.Float(required=True, metadata={"description": "seconds until a fresher code exists"})


class StaffScanSchema(Schema):
    """A member's code scanned by staff."""

    member_token = fields.String(required=True, validate=validate.Length(min=1, max=64))
    nonce = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{8,64}$"))
    device_id = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "the staff device, recorded"}
    )


class StaffScanResultSchema(Schema):
    """What a staff scan did."""

    action = fields.String(required=True, validate=validate.OneOf(["in", "out"]))
    checkin = fields.Nested(CheckInSchema, required=True)


class BatchItemSchema(Schema):
    """One offline scan: who (their code, or their id), where, in or out, when, and its nonce."""

    member_token = fields.String(validate=validate.Length(min=1, max=64))
    user_id = fields.Integer(strict=True, validate=FITS_INT)
    activity_id = fields.Integer(required=True, strict=True, validate=FITS_INT)
    kind = fields.String(required=True, validate=validate.OneOf(["in", "out"]))
    at = _when(required=True)
    nonce = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{8,64}$"))

    @validates_schema
    def one_member(self, data: dict[str, object], **_: object) -> None:
        """Exactly one of member_token and user_id."""
        if ("member_token" in data) == ("user_id" in data):
            raise ValidationError("give member_token or user_id", "member_token")


class BatchSchema(Schema):
    """An offline batch from a staff device."""

    device_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    items = fields.List(
        fields.Nested(BatchItemSchema), required=True, validate=validate.Length(min=1, max=500)
    )


class BatchResultItemSchema(Schema):
    """What became of one item."""

    nonce = fields.String(required=True)
    result = fields.String(required=True, validate=validate.OneOf(["accepted", "duplicate", "refused"]))
    code = fields.String()
    checkin_id = fields.Integer(allow_none=True)


class BatchResultSchema(Schema):
    """Per-item results, in the order sent."""

    items = fields.List(fields.Nested(BatchResultItemSchema), required=True)
