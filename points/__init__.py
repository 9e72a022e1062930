"""Points: the double-entry ledger, rules and caps, balances, leaderboards, expiry."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the routes, console pages and commands of points."""
    from points import console, jobs  # noqa: F401  (jobs declares the periodic jobs)
    from points.blueprint import blp
    from points.cli import points_group
    from points.store_blueprint import blp as store_blp

    app.extensions["linli_api"].register_blueprint(blp)
    app.extensions["linli_api"].register_blueprint(store_blp)
    app.cli.add_command(points_group)
    console.init_app(app)
    app.extensions.setdefault("linli_demo_seeders", []).extend([seed_demo_points, seed_demo_store])


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


DEMO_GOODS = [
    ("大米 5kg", 50, 20, 1, True, "爱心粮油店"),
    ("食用油 1.8L", 40, 20, 1, True, "爱心粮油店"),
    ("毛巾两条装", 10, 50, 2, False, None),
    ("理发券", 20, 30, 1, False, "街角理发店"),
]


def seed_demo_store() -> None:
    """Stock each demo community's supermarket (once)."""
    from sqlalchemy import select

    from points.models import StoreItem
    from server.db import db
    from server.orgs.models import OrgUnit

    for code in ("C01", "C02"):
        community = db.session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first()
        if community is None:
            continue
        for name, price, stock, limit, approval, sponsor in DEMO_GOODS:
            exists = db.session.scalar(
                select(StoreItem.id).where(StoreItem.community_id == community.id, StoreItem.name == name)
            )
            if exists is None:
                db.session.add(
                    StoreItem(
                        community_id=community.id,
                        name=name,
                        points_price=price,
                        stock=stock,
                        reserved=0,
                        per_user_limit=limit,
                        limit_period="month",
                        requires_approval=approval,
                        sponsor=sponsor,
                    )
                )
    db.session.flush()
