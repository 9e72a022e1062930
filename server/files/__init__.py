"""File uploads (images for wishes and the store): type sniffed by content, metadata stripped, stored."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the upload and download routes."""
    from server.files import models  # noqa: F401  (the table, for migrations)
    from server.files.blueprint import blp, public_bp

    app.extensions["linli_api"].register_blueprint(blp)
    app.extensions["linli_api"].register_blueprint(public_bp)
