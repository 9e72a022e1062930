"""The shape of GET /api/v1/config."""

from __future__ import annotations

from marshmallow import Schema, fields

from server.notifications.schemas import SubscribeTemplateSchema
from server.schemas import LocalDateTime


class ClientConfigSchema(Schema):
    """What the mini program reads at launch."""

    api_base_url = fields.String(required=True)
    file_base_url = fields.String(
        required=True,
        metadata={"description": "prefix of every file url (/files/<key>): PUBLIC_BASE_URL or this host"},
    )
    qr_link_base = fields.String(required=True, metadata={"description": "check-in QR links start with it"})
    coord_type = fields.String(
        required=True, metadata={"description": "the system of places' coordinates (gcj02)"}
    )
    wish_categories = fields.List(fields.String(), required=True)
    subscribe_templates = fields.List(fields.Nested(SubscribeTemplateSchema), required=True)
    subscribe_moments = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "per moment (wish.post, ...) the ids for wx.requestSubscribeMessage"},
    )
    min_client_version = fields.String(
        required=True,
        metadata={
            "description": "an older mini program build should ask the user to update (wx.getUpdateManager)"
        },
    )
    server_time = LocalDateTime(required=True, metadata={"description": "to correct the phone's clock"})
