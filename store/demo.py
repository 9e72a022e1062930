"""Demo goods of the supermarket, for `make run`."""

from __future__ import annotations

from sqlalchemy import select

from server.db import db
from server.orgs.models import OrgUnit
from store.models import StoreItem

DEMO_GOODS = [
    ("大米 5kg", 50, 20, 1, True, "爱心粮油店"),
    ("食用油 1.8L", 40, 20, 1, True, "爱心粮油店"),
    ("毛巾两条装", 10, 50, 2, False, None),
    ("理发券", 20, 30, 1, False, "街角理发店"),
]


def seed_demo_store() -> None:
    """Stock each demo community's supermarket (once)."""
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
