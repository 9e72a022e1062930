"""Check-in by QR code at stations and activities: codes, check-in and out, batches, closing, signals."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the routes, console pages, jobs and demo data of check-in."""
    from checkin import jobs  # noqa: F401  (declares the periodic jobs)
    from checkin.blueprint import blp
    from checkin.console import init_app as init_console_pages
    from checkin.demo import seed_demo_checkin

    app.extensions["linli_api"].register_blueprint(blp)
    init_console_pages(app)
    app.extensions.setdefault("linli_demo_seeders", []).append(seed_demo_checkin)
