"""Schemas of the report routes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from reports.services import REPORT_KINDS
from server.schemas import IN_SERVICE_DATE


class ReportArgs(Schema):
    """``?org=CODE&from=YYYY-MM-DD&to=YYYY-MM-DD`` (local dates, both included)."""

    org = fields.String(metadata={"description": "org unit code; default: the caller's own org unit"})
    date_from = fields.Date(
        data_key="from",
        validate=IN_SERVICE_DATE,
        metadata={"description": "first day (Asia/Shanghai); default: 1 January of `to`'s year"},
    )
    date_to = fields.Date(
        data_key="to",
        validate=IN_SERVICE_DATE,
        metadata={"description": "last day, included; default: today"},
    )


class ReportOrgSchema(Schema):
    """The org unit reported on."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(REPORT_KINDS))


class FiguresSchema(Schema):
    """The totals of the period."""

    activities = fields.Integer(
        required=True, metadata={"description": "activities starting in the period, not cancelled"}
    )
    checkins = fields.Integer(required=True, metadata={"description": "check-ins at activities and stations"})
    volunteer_minutes = fields.Integer(
        required=True,
        metadata={"description": "minutes of check-ins that count hours (hour-rule activities, stations)"},
    )
    volunteer_hours = fields.Float(
        required=True, metadata={"description": "volunteer_minutes / 60, to a tenth"}
    )
    distinct_members = fields.Integer(
        required=True, metadata={"description": "distinct members who checked in"}
    )
    points_issued = fields.Integer(
        required=True, metadata={"description": "awards and adjustments, net of reversals (ledger date)"}
    )
    points_redeemed = fields.Integer(
        required=True, metadata={"description": "captured redemption points, net of reversals (ledger date)"}
    )
    wishes_posted = fields.Integer(required=True, metadata={"description": "wishes submitted in the period"})
    wishes_claimed = fields.Integer(
        required=True, metadata={"description": "wishes claimed in the period, each once"}
    )
    wishes_completed = fields.Integer(
        required=True, metadata={"description": "wishes completed in the period"}
    )
    residents_served = fields.Integer(
        required=True, metadata={"description": "人次: one per wish completed in the period"}
    )
    residents_distinct = fields.Integer(
        required=True,
        metadata={"description": "distinct residents whose wishes were completed in the period"},
    )


class MonthSchema(Schema):
    """One month of the series."""

    month = fields.String(required=True, attribute="label", metadata={"description": "YYYY-MM"})
    activities = fields.Integer(required=True)
    checkins = fields.Integer(required=True)
    volunteer_hours = fields.Float(required=True)
    points_issued = fields.Integer(required=True)
    points_redeemed = fields.Integer(required=True)
    wishes_posted = fields.Integer(required=True)
    wishes_claimed = fields.Integer(required=True)
    wishes_completed = fields.Integer(required=True)


class TopVolunteerSchema(Schema):
    """One of the period's top volunteers (by points earned there in the period)."""

    rank = fields.Integer(required=True)
    user_id = fields.Integer(required=True)
    name_masked = fields.String(required=True)
    points = fields.Integer(required=True)
    volunteer_hours = fields.Float(required=True)
    checkins = fields.Integer(required=True)


class SummarySchema(Schema):
    """The report of an org unit's communities for a period."""

    org = fields.Nested(ReportOrgSchema, required=True)
    date_from = fields.Date(data_key="from", required=True)
    date_to = fields.Date(data_key="to", required=True)
    communities = fields.Integer(required=True, metadata={"description": "communities under the org unit"})
    figures = fields.Nested(FiguresSchema, required=True)
    months = fields.List(fields.Nested(MonthSchema), required=True)
    top_volunteers = fields.List(fields.Nested(TopVolunteerSchema), required=True)
    summary_text = fields.String(required=True, metadata={"description": "the sentence reported upward"})
