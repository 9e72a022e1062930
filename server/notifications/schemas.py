"""Schemas of the inbox and subscribe grants."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.schemas import FITS_INT, LocalDateTime, PageArgs


class NotificationSchema(Schema):
    """One inbox entry."""

    id = fields.Integer(required=True)
    event = fields.String(required=True, metadata={"example": "party_report.approved"})
    title = fields.String(required=True)
    body = fields.String(required=True)
    data = fields.Dict(required=True)
    read = fields.Function(lambda n: n.read_at is not None, required=True)
    read_at = LocalDateTime(allow_none=True)
    created_at = LocalDateTime(required=True)


class InboxArgs(PageArgs):
    """Paging and the unread filter."""

    unread_only = fields.Boolean(load_default=False)


class InboxSchema(Schema):
    """A page of the inbox with the unread count."""

    items = fields.List(fields.Nested(NotificationSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    unread_count = fields.Integer(required=True)


class MarkReadSchema(Schema):
    """Which notifications to mark read: ``ids``, or ``all``."""

    ids = fields.List(fields.Integer(strict=True, validate=FITS_INT), validate=validate.Length(max=500))
    all = fields.Boolean(load_default=False)


class MarkedSchema(Schema):
    """How many were marked, and what is left unread."""

    updated = fields.Integer(required=True)
    unread_count = fields.Integer(required=True)


class SubscriptionsSchema(Schema):
    """The templates the user just accepted in wx.requestSubscribeMessage."""

    template_ids = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=20),
    )


class GrantsSchema(Schema):
    """Remaining grants per template, and every template the client may ask for."""

    grants = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    template_ids = fields.List(fields.String(), required=True)
