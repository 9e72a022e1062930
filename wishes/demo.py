"""Demo wishes of 阳光社区 in every state, for `make run`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from server import clock
from server.db import db
from server.orgs.models import OrgUnit
from server.users.models import User
from wishes import services
from wishes.models import Wish, WishClaim

# (title, content, category, state) of the demo; the resident is 陈奶奶 (张大妈 for the one whose points
# wait for staff, so approving them is not refused by the pair limit), the claimer 李师傅.
DEMO_WISHES = [
    (
        "想学用智能手机挂号",
        "子女不在身边，想请人教我用手机在医院小程序上挂号。",
        "学习用品",
        "pending_review",
    ),
    ("孙子需要一套课外读物", "孙子上三年级，想要几本适合的课外书，谢谢好心人。", "学习用品", "open"),
    ("家里的老式电视没信号", "电视机顶盒好像坏了，想请懂行的邻居帮忙看看。", "家电维修", "open"),
    ("周三需要陪同去医院复查", "腿脚不便，周三上午要去区中心医院复查，想请人陪同。", "就医陪护", "claimed"),
    ("阳台晾衣架坏了", "阳台升降晾衣架的绳子断了，想请人帮忙修一下。", "生活帮扶", "fulfilled"),
    ("厨房灯泡需要更换", "厨房顶灯的灯泡坏了，自己够不着，想请人帮忙换一下。", "生活帮扶", "disputed"),
    ("想要一台收音机听戏", "平时一个人在家，想要一台能听戏曲的收音机。", "文体娱乐", "completed"),
    ("想请人陪着去银行", "要去银行办社保卡，一个人不太会操作，想请人陪同。", "生活帮扶", "awaiting_points"),
    ("帮忙代购一些日用品", "想请人帮忙买点洗衣粉和卫生纸。", "生活帮扶", "rejected"),
    ("楼道灯不亮了", "三楼楼道灯坏了好几天，已经报物业了。", "其他", "cancelled"),
]


def seed_demo_wishes() -> None:
    """Wishes of 阳光社区 in every state (once); 李师傅 is a registered volunteer and their claimer."""
    community = db.session.scalars(select(OrgUnit).where(OrgUnit.code == "C01")).first()
    claimer = db.session.scalars(select(User).where(User.openid == "demo-openid-li")).first()
    if community is None or claimer is None:
        return
    resident = db.session.scalars(select(User).where(User.openid == "demo-openid-chen")).first()
    if resident is None:
        resident = User(
            openid="demo-openid-chen", nickname="陈奶奶", community_id=community.id, phone="13800138001"
        )
        db.session.add(resident)
    neighbour = db.session.scalars(select(User).where(User.openid == "demo-openid-zhang")).first() or resident
    if claimer.volunteer_community_id is None:
        claimer.volunteer_community_id, claimer.volunteer_since = community.id, clock.now()
    db.session.flush()
    now = clock.now()
    for title, content, category, status in DEMO_WISHES:
        if db.session.scalar(select(Wish.id).where(Wish.title == title)) is not None:
            continue
        poster = neighbour if status == "awaiting_points" else resident
        wish = Wish(
            community_id=community.id,
            user_id=poster.id,
            title=title,
            content=content,
            category=category,
            contact_name=poster.nickname or "",
            contact_phone=poster.phone,  # as if she ticked "use my bound phone" (F7: never by default)
            address="阳光社区 3 号楼 2 单元 501",
            status="pending_review" if status == "pending_review" else "open",
            sec_check="review" if status == "pending_review" else "pass",
            wanted_by=(now + timedelta(days=10)).date(),
        )
        db.session.add(wish)
        db.session.flush()
        if status == "rejected":
            wish.status, wish.reject_reason = "rejected", "请通过社区代购服务办理"
        elif status == "cancelled":
            wish.status, wish.cancelled_at, wish.cancel_reason = "cancelled", now, "物业已修好"
        elif status in ("claimed", "fulfilled", "disputed", "completed", "awaiting_points"):
            deadline = now + timedelta(days=7)
            wish.status, wish.claimer_id, wish.claimed_at, wish.claim_deadline = (
                "claimed",
                claimer.id,
                now,
                deadline,
            )
            claim = WishClaim(wish_id=wish.id, user_id=claimer.id, deadline=deadline)
            db.session.add(claim)
            if status != "claimed":
                claim.outcome, claim.ended_at = "fulfilled", now
                wish.status, wish.fulfilled_at = "fulfilled", now
                wish.fulfil_note, wish.fulfil_note_check = "已上门处理，老人很满意。", "pass"
            db.session.flush()
            if status == "disputed":
                wish.status, wish.disputed_at, wish.dispute_reason = "disputed", now, "没有人上门，灯还是坏的"
            elif status == "completed":
                wish.rating, wish.comment, wish.comment_check = 5, "小李手真巧，谢谢！", "pass"
                wish.story_consent = True
                services.complete_wish(wish, "resident", "confirmed")
            elif status == "awaiting_points":  # no answer in time: completed, the points wait for staff
                services.complete_wish(wish, "timeout", "timeout")
    db.session.flush()
