"""Points: the double-entry ledger, rules and caps, balances, leaderboards, expiry."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the routes, console pages, commands and demo data of points."""
    from points import console
    from points.blueprint import blp
    from points.cli import points_group
    from points.demo import seed_demo_points

    app.extensions["linli_api"].register_blueprint(blp)
    app.cli.add_command(points_group)
    console.init_app(app)
    app.extensions.setdefault("linli_demo_seeders", []).append(seed_demo_points)
