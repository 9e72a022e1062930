"""Route of a member's own volunteer summary (我的志愿服务), read across check-ins, wishes and points."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from reports import volunteer_summary
from server.auth.policy import auth_required, current_user_id

blp = Blueprint(
    "reports_me", __name__, url_prefix="/api/v1", description="My volunteer summary (我的志愿服务)"
)


class TotalsSchema(Schema):
    """Hours, check-ins, fulfilled wishes and earned points of one period."""

    hours = fields.Float(
        required=True,
        metadata={
            "description": "non-voided check-ins that count hours (hour-rule activities, stations), "
            "to a tenth"
        },
    )
    checkins = fields.Integer(required=True, metadata={"description": "non-voided check-ins"})
    wishes_fulfilled = fields.Integer(
        required=True, metadata={"description": "wishes I claimed that were completed"}
    )
    points_earned = fields.Integer(
        required=True,
        metadata={
            "description": "credits of awards and positive adjustments not reversed since; refunds of "
            "spending (released holds, reversed redemptions) are not earnings"
        },
    )


class VolunteerSummarySchema(Schema):
    """My volunteer summary: this calendar year (Asia/Shanghai) and all time."""

    year = fields.Integer(required=True)
    this_year = fields.Nested(TotalsSchema, required=True)
    all_time = fields.Nested(TotalsSchema, required=True)


@blp.route("/me/volunteer-summary", methods=["GET"])
@auth_required("user")
@blp.response(200, VolunteerSummarySchema)
def my_volunteer_summary() -> volunteer_summary.VolunteerSummary:
    """My hours, check-ins, fulfilled wishes and earned points, this year and all time."""
    return volunteer_summary.volunteer_summary(current_user_id())
