"""Demo points of the demo residents, for `make run`."""

from __future__ import annotations

from sqlalchemy import select

from points.services import award
from server.db import db
from server.users.models import User


def seed_demo_points() -> None:
    """Give the demo residents some points (idempotent: each award has a fixed key)."""
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
