"""Schemas of uploads: the multipart form and the stored file."""

from __future__ import annotations

from marshmallow import Schema, fields

from server.files.services import file_url


class UploadSchema(Schema):
    """``multipart/form-data`` with the image in the field ``file``."""

    file = fields.Raw(
        metadata={
            "type": "string",
            "format": "binary",
            "description": "A JPEG, PNG or WebP image (type checked by content; at most FILES_MAX_BYTES)",
        }
    )


class StoredFileSchema(Schema):
    """A stored image; ``url`` is relative to the server and never changes."""

    id = fields.Integer(required=True)
    url = fields.Function(
        file_url, required=True, metadata={"type": "string", "description": "/files/<key>, public"}
    )
    content_type = fields.String(
        required=True, metadata={"description": "image/jpeg | image/png | image/webp"}
    )
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    size_bytes = fields.Integer(required=True)
