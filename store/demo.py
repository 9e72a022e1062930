"""Demo goods of the supermarket, for `make run`."""

from __future__ import annotations

from sqlalchemy import select

from server.db import db
from server.orgs.models import OrgUnit
from store.models import StoreItem, StoreSettings

# (name, price, stock, per-person limit, needs approval, sponsor, category)
DEMO_GOODS = [
    ("大米 5kg", 50, 20, 1, True, "爱心粮油店", "food"),
    ("食用油 1.8L", 40, 20, 1, True, "爱心粮油店", "food"),
    ("毛巾两条装", 10, 50, 2, False, None, "daily"),
    ("理发券", 20, 30, 1, False, "街角理发店", "voucher"),
]
DEMO_PICKUP = ("社区党群服务中心一楼积分超市", "周一至周五 9:00-17:00，周六 9:00-12:00")


def seed_demo_store() -> None:
    """Stock each demo community's supermarket and say where its goods are picked up (once)."""
    for code in ("C01", "C02"):
        community = db.session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first()
        if community is None:
            continue
        for name, price, stock, limit, approval, sponsor, category in DEMO_GOODS:
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
                        category=category,
                    )
                )
        if db.session.get(StoreSettings, community.id) is None:
            place, hours = DEMO_PICKUP
            db.session.add(StoreSettings(community_id=community.id, pickup_place=place, pickup_hours=hours))
    db.session.flush()
