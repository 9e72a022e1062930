"""Routes of files: the upload (API) and the public download of a stored image by its key."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, request
from flask_smorest import Blueprint

from server.auth.policy import auth_required, current_principal
from server.errors import AppError, NotFound
from server.extensions import limiter
from server.files import services
from server.files.models import StoredFile
from server.files.schemas import StoredFileSchema, UploadSchema
from server.files.storage import storage
from server.idempotency import idempotent
from server.schemas import binary_response

log = logging.getLogger(__name__)

blp = Blueprint("files", __name__, url_prefix="/api/v1", description="Image uploads")
# Served outside /api: <image> tags of the mini program cannot send a token, so keys are unguessable.
public_bp = Blueprint("files_public", __name__, description="Stored images (outside /api, no login)")

CACHE_FOREVER = "public, max-age=31536000, immutable"


def _upload_limit() -> str:
    """Read at each request, so a changed setting (or a test) takes effect at once."""
    return str(current_app.config["FILES_UPLOAD_RATE_LIMIT"])


def _caller_key() -> str:
    principal = current_principal()
    return f"{principal.kind}:{principal.id}"


@blp.route("/files", methods=["POST"])
@auth_required()
@idempotent("file.upload")  # a resent upload (same key, same bytes) answers the first file, stores none
@limiter.limit(_upload_limit, key_func=_caller_key)
@blp.arguments(UploadSchema, location="files")
@blp.response(201, StoredFileSchema)
@blp.alt_response(413, description="FILE_TOO_LARGE (or PAYLOAD_TOO_LARGE above MAX_CONTENT_LENGTH)")
@blp.alt_response(415, description="FILE_TYPE_NOT_ALLOWED: not a JPEG, PNG or WebP by content")
@blp.alt_response(422, description="FILE_REQUIRED, FILE_INVALID (damaged) or IMAGE_TOO_LARGE (pixels)")
@blp.alt_response(429, description="RATE_LIMITED: too many uploads by this caller")
def upload(form: dict[str, Any]) -> StoredFile:
    """Upload an image: checked by content, turned upright, downscaled, stored without any metadata."""
    sent = form.get("file")
    if sent is None or not hasattr(sent, "stream"):
        raise AppError("FILE_REQUIRED", status=422)
    return services.store_image(sent.stream, current_principal())


@public_bp.route("/files/<path:key>", methods=["GET"])
@public_bp.doc(
    responses=binary_response(
        "the image's bytes, typed by content; ETag, cacheable forever",
        "image/jpeg",
        "image/png",
        "image/webp",
    )
)
@public_bp.response(200, description="the image")
@public_bp.alt_response(304, description="not modified (If-None-Match matched the ETag)")
def download_file(key: str) -> Response:
    """The bytes of a stored image, cacheable forever (a key never changes content)."""
    stored = services.find_by_key(key) if len(key) <= 64 else None
    data = storage().load(stored.key) if stored is not None else None
    if stored is None or data is None:
        if stored is not None:
            log.error("file %s is recorded but its bytes are missing from the storage", key)
        raise NotFound("FILE_NOT_FOUND")
    response = Response(data, mimetype=stored.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = CACHE_FOREVER
    response.set_etag(stored.sha256)
    response.make_conditional(request)  # 304 for a matching If-None-Match
    return response
