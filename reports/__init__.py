"""Reports: what a community reports upward for a period, as figures, charts and an .xlsx workbook."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the report routes and the console's report page."""
    from reports import console
    from reports.blueprint import blp
    from reports.me_blueprint import blp as me_blp

    app.extensions["linli_api"].register_blueprint(blp)
    app.extensions["linli_api"].register_blueprint(me_blp)
    console.init_app(app)
