"""Check-in by QR code at stations and activities (in progress: stations, activities, sign-ups, codes)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the routes of check-in."""
    from checkin import jobs  # noqa: F401  (declares the periodic jobs)
    from checkin.blueprint import blp

    app.extensions["linli_api"].register_blueprint(blp)
