"""The demo data of ``flask --app wsgi seed-demo``: idempotent, for local use only."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from server.db import db
from server.orgs.models import OrgUnit
from server.orgs.services import create_org
from server.users.models import CommunityMove, PartyReport, StaffAccount, User
from server.users.services import create_staff

DEMO_ORGS = [
    ("district", "示范区", "D01", None),
    ("street", "幸福街道", "S01", "D01"),
    ("community", "阳光社区", "C01", "S01"),
    ("community", "和谐社区", "C02", "S01"),
    ("grid", "阳光社区第一网格", "C01-G1", "C01"),
    ("grid", "和谐社区第一网格", "C02-G1", "C02"),
]
DEMO_STAFF = [
    ("admin", "linli-admin-demo", "admin", "D01", "区管理员"),
    ("staff", "linli-staff-demo", "staff", "C01", "阳光社区工作者"),
    ("staff2", "linli-staff2-demo", "staff", "C02", "和谐社区工作者"),
]
DEMO_RESIDENTS = [
    ("demo-openid-zhang", "张大妈", "C01"),
    ("demo-openid-li", "李师傅", "C01"),
    ("demo-openid-wang", "王同学", "C02"),
    ("demo-openid-zhao", "赵老师", "C01"),
]


def seed_demo_data() -> list[str]:
    """Create what is missing of the demo and say how to log in."""
    for kind, name, code, parent in DEMO_ORGS:
        if db.session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first() is None:
            create_org(kind, name, code, parent)
    for username, password, role, org, display in DEMO_STAFF:
        if db.session.scalars(select(StaffAccount).where(StaffAccount.username == username)).first() is None:
            create_staff(username, password, role, org, display)
    for openid, nickname, community_code in DEMO_RESIDENTS:
        if db.session.scalars(select(User).where(User.openid == openid)).first() is None:
            community = db.session.scalars(select(OrgUnit).where(OrgUnit.code == community_code)).one()
            db.session.add(User(openid=openid, nickname=nickname, community=community))
    db.session.flush()
    _seed_pending_party_report()
    _seed_pending_community_move()
    # Feature packages add their own demo data (points, store, wishes...) through this hook.
    for seed_feature in current_app.extensions.get("linli_demo_seeders", []):
        seed_feature()
    lines = ["Demo ready (示范数据已就绪):"]
    lines += [f"  staff login  {u} / {p}  ({r} of {o})" for u, p, r, o, _ in DEMO_STAFF]
    lines.append("  residents    log in with any fake WeChat code, e.g. alice.1 (see README)")
    return lines


def _seed_pending_party_report() -> None:
    """赵老师 has reported to 阳光社区 as an in-service party member, waiting for staff (once)."""
    user = db.session.scalars(select(User).where(User.openid == "demo-openid-zhao")).first()
    if user is None or user.party_community_id is not None:
        return
    if db.session.scalars(select(PartyReport).where(PartyReport.user_id == user.id)).first() is None:
        db.session.add(
            PartyReport(
                user_id=user.id,
                community_id=user.community_id,
                branch="区第一中学党支部",
                employer="区第一中学",
            )
        )
        db.session.flush()


def _seed_pending_community_move() -> None:
    """王同学 of 和谐社区 has applied to move to 阳光社区, waiting for its staff (once)."""
    user = db.session.scalars(select(User).where(User.openid == "demo-openid-wang")).first()
    target = db.session.scalars(select(OrgUnit).where(OrgUnit.code == "C01")).first()
    if user is None or target is None or user.community_id in (None, target.id):
        return
    if db.session.scalars(select(CommunityMove).where(CommunityMove.user_id == user.id)).first() is None:
        db.session.add(
            CommunityMove(
                user_id=user.id,
                from_community_id=user.community_id,
                to_community_id=target.id,
                reason="已搬到阳光社区 5 号楼居住",
            )
        )
        db.session.flush()
