"""Org tree schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.orgs.models import ORG_KINDS


class CommunitySchema(Schema):
    """A community a resident can choose, with its street and district names."""

    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    street_name = fields.Function(
        lambda org: org.parent.name if org.parent else None, allow_none=True, metadata={"type": "string"}
    )
    district_name = fields.Function(
        lambda org: org.parent.parent.name if org.parent and org.parent.parent else None,
        allow_none=True,
        metadata={"type": "string"},
    )


class OrgUnitSchema(Schema):
    """One org unit."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    code = fields.String(required=True)
    name = fields.String(required=True)
