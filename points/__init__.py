"""Points: the double-entry ledger, rules and caps, balances, leaderboards, expiry."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the routes and commands of points."""
    from points.blueprint import blp
    from points.cli import points_group
    from points.store_blueprint import blp as store_blp

    app.extensions["linli_api"].register_blueprint(blp)
    app.extensions["linli_api"].register_blueprint(store_blp)
    app.cli.add_command(points_group)
    app.extensions.setdefault("linli_demo_seeders", []).append(seed_demo_points)


def seed_demo_points() -> None:
    """Give the demo residents some points (idempotent: each award has a fixed key)."""
    from sqlalchemy import select

    from points.services import award
    from server.db import db
    from server.users.models import User

    demo = {
        "demo-openid-zhang": [("PARTY_DAY", 1), ("VOLUNTEER_HOUR", 3)],
        "demo-openid-li": [("VOLUNTEER_HOUR", 2)],
        "demo-openid-wang": [("ACTIVITY_CHECKIN", 1)],
    }
    for openid, awards in demo.items():
        user = db.session.scalars(select(User).where(User.openid == openid)).first()
        if user is None:
            continue
        for rule, quantity in awards:
            award(user.id, rule, quantity, ("demo", openid), f"demo:{openid}:{rule}")
