"""Schemas of /me, party reports and community moves."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.orgs.schemas import OrgUnitSchema
from server.schemas import FITS_INT, LocalDateTime, PageArgs
from server.users.models import COMMUNITY_MOVE_STATUSES, VOLUNTEER_APPLICATION_STATUSES

PARTY_REPORT_STATUSES = ("pending", "approved", "rejected")  # the party_reports CHECK constraint's


class MeSchema(Schema):
    """Who the caller is: a resident (party member or not) or a staff account."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["user", "staff"]))
    nickname = fields.String(required=True)
    community_id = fields.Integer(allow_none=True)
    roles = fields.List(fields.String(), required=True)
    party_member = fields.Boolean(required=True)
    party_community_id = fields.Integer(allow_none=True)
    volunteer_community_id = fields.Integer(allow_none=True)
    phone_masked = fields.String(allow_none=True)
    org = fields.Nested(OrgUnitSchema, allow_none=True, metadata={"description": "staff only: their scope"})


class MePatchSchema(Schema):
    """Fields a user may change about themself."""

    nickname = fields.String(validate=validate.Length(max=64))
    community_id = fields.Integer(validate=FITS_INT)


class PhoneCodeSchema(Schema):
    """The code from the getPhoneNumber button."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=128))


class PartyReportCreateSchema(Schema):
    """A report (报到) to a community as a party member."""

    community_id = fields.Integer(required=True, validate=FITS_INT)
    branch = fields.String(required=True, validate=validate.Length(min=1, max=100))
    employer = fields.String(allow_none=True, validate=validate.Length(max=100))


class PartyReportSchema(Schema):
    """A party report and its decision."""

    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(PARTY_REPORT_STATUSES))
    user_id = fields.Integer()
    nickname = fields.Function(lambda r: r.user.nickname, metadata={"type": "string"})
    phone_masked = fields.Function(
        lambda r: r.user.phone_masked, allow_none=True, metadata={"type": "string"}
    )
    community_id = fields.Integer()
    branch = fields.String()
    employer = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    created_at = LocalDateTime()
    decided_at = LocalDateTime(allow_none=True)


class MyPartyReportSchema(PartyReportSchema):
    """The caller's latest party report, with the community's name (submitted: created_at)."""

    community = fields.Function(lambda r: r.community.name, metadata={"type": "string"})


class PartyReportQuerySchema(PageArgs):
    """Filters of the staff list."""

    status = fields.String(validate=validate.OneOf(PARTY_REPORT_STATUSES))


class ReasonSchema(Schema):
    """A reason a person will read."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=255))


class VolunteerCreateSchema(Schema):
    """The resident to register as a volunteer of the community."""

    user_id = fields.Integer(required=True, strict=True, validate=FITS_INT)


class VolunteerSchema(Schema):
    """A registered volunteer of a community, as staff see them."""

    id = fields.Integer(required=True)
    nickname = fields.String(required=True)
    phone_masked = fields.String(allow_none=True)
    community_id = fields.Integer(allow_none=True)
    volunteer_community_id = fields.Integer(allow_none=True)
    party_member = fields.Boolean(required=True)
    volunteer_since = LocalDateTime(allow_none=True)


class CommunityMoveCreateSchema(Schema):
    """An application to live in another community (社区迁移)."""

    community_id = fields.Integer(required=True, validate=FITS_INT, metadata={"description": "where to"})
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "why, for the new community's staff (e.g. 搬家)"},
    )


class CommunityMoveSchema(Schema):
    """A community move and its decision."""

    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(COMMUNITY_MOVE_STATUSES))
    user_id = fields.Integer()
    nickname = fields.Function(lambda m: m.user.nickname, metadata={"type": "string"})
    phone_masked = fields.Function(
        lambda m: m.user.phone_masked, allow_none=True, metadata={"type": "string"}
    )
    from_community_id = fields.Integer(allow_none=True)
    from_community = fields.Function(
        lambda m: m.from_community.name if m.from_community else None,
        allow_none=True,
        metadata={"type": "string"},
    )
    to_community_id = fields.Integer()
    to_community = fields.Function(lambda m: m.to_community.name, metadata={"type": "string"})
    reason = fields.String()
    decision_reason = fields.String(allow_none=True, metadata={"description": "why it was rejected"})
    created_at = LocalDateTime()
    decided_at = LocalDateTime(allow_none=True)


class CommunityMoveQuerySchema(PageArgs):
    """Filters of the staff list."""

    status = fields.String(validate=validate.OneOf(COMMUNITY_MOVE_STATUSES))
    community_id = fields.Integer(validate=FITS_INT, metadata={"description": "moves into this community"})


class VolunteerApplicationCreateSchema(Schema):
    """An application to volunteer (志愿者) for a community one lives in or reported to."""

    community_id = fields.Integer(
        required=True, validate=FITS_INT, metadata={"description": "which community"}
    )
    note = fields.String(
        load_default="",
        validate=validate.Length(max=200),
        metadata={"description": "what one can do, when one is free (for the staff)"},
    )


class VolunteerApplicationSchema(Schema):
    """A volunteer application and its decision."""

    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(VOLUNTEER_APPLICATION_STATUSES))
    user_id = fields.Integer()
    nickname = fields.Function(lambda a: a.user.nickname, metadata={"type": "string"})
    phone_masked = fields.Function(
        lambda a: a.user.phone_masked, allow_none=True, metadata={"type": "string"}
    )
    community_id = fields.Integer()
    community = fields.Function(lambda a: a.community.name, metadata={"type": "string"})
    note = fields.String()
    decision_reason = fields.String(allow_none=True, metadata={"description": "why it was declined"})
    created_at = LocalDateTime()
    decided_at = LocalDateTime(allow_none=True)


class MyVolunteerApplicationSchema(Schema):
    """The resident's latest volunteer application (null if they never applied)."""

    application = fields.Nested(VolunteerApplicationSchema, allow_none=True)


class VolunteerApplicationQuerySchema(PageArgs):
    """Filters of the staff list."""

    status = fields.String(validate=validate.OneOf(VOLUNTEER_APPLICATION_STATUSES))
    community_id = fields.Integer(
        validate=FITS_INT, metadata={"description": "applications to this community"}
    )


class DisableSchema(Schema):
    """Why a resident's account is disabled (staff and the audit log read it)."""

    reason = fields.String(
        load_default="",
        validate=validate.Length(max=255),
        metadata={"description": "required: without one, 422 REASON_REQUIRED"},
    )


class UserStaffSchema(Schema):
    """A resident as staff see them: the phone masked; whether the account is disabled, why, by whom."""

    id = fields.Integer(required=True)
    nickname = fields.String(required=True)
    phone_masked = fields.String(allow_none=True)
    community_id = fields.Integer(allow_none=True)
    party_community_id = fields.Integer(allow_none=True)
    volunteer_community_id = fields.Integer(allow_none=True)
    roles = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True, metadata={"description": "false once staff disabled the account"})
    disabled_at = LocalDateTime(allow_none=True)
    disabled_reason = fields.String(allow_none=True)
    disabled_by_id = fields.Integer(allow_none=True, metadata={"description": "the staff account that did"})
