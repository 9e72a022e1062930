"""Login and token schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.users.schemas import MeSchema


class WeChatLoginSchema(Schema):
    """The code from wx.login()."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=128))


class StaffLoginSchema(Schema):
    """A console username and password."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=256))
    unlock_code = fields.String(
        load_only=True,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "the one-time code from an admin, after UNLOCK_CODE_REQUIRED"},
    )


class RefreshSchema(Schema):
    """A refresh token to spend."""

    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=256))


class TokenPairSchema(Schema):
    """Tokens and the logged-in principal."""

    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "seconds the access token lives"})
    token_type = fields.String(dump_default="Bearer")
    user = fields.Nested(MeSchema, required=True)
