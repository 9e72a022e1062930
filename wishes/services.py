"""The rules of micro-wishes: posting with a content check, review, claims, fulfilment, confirmation,
disputes, and the claimer's award (paid at once, or waiting for staff in 待确认积分).

Lock order, everywhere: a user row (the claimer's when claiming or paying, the poster's when posting),
then an award's row (deciding one in 待确认积分), then the wish row, then its claim, then (through points)
the claimer's ledger accounts. The one claimer of a wish is decided by one conditional UPDATE, with a
partial unique index on active claims as the backstop. Paying locks the claimer's row first, so the pair
limit (one paid wish per resident → claimer pair per WISH_PAIR_DAYS) is read and written by one payment
at a time, and two approvals of one award find it paid after the first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.sql import Select

from points import services as points
from server import clock
from server.audit import services as audit
from server.auth.policy import Principal, authorize, staff_scope_ids
from server.clock import SERVER_ZONE
from server.db import db, is_postgres, paginate, paginate_keyset
from server.errors import AppError, Conflict, Forbidden, NotFound, register_messages
from server.files.models import StoredFile
from server.files.services import owned_files
from server.notifications.services import publish
from server.orgs.services import get_community
from server.users.models import StaffAccount, User, mask_name
from server.wechat.errors import WeChatError
from server.wechat.factory import wechat_client
from wishes import policy  # noqa: F401  (registers the rule "wishes.manage")
from wishes.models import PUBLIC_STATUSES, WALL_STATUSES, Wish, WishAward, WishClaim, WishPhoto

log = logging.getLogger(__name__)

register_messages(
    {
        "WISH_NOT_FOUND": ("心愿不存在", "No such wish"),
        "WISH_ALREADY_CLAIMED": ("该心愿已被认领", "This wish has already been claimed"),
        "WISH_NOT_OPEN": ("该心愿当前不可认领", "This wish cannot be claimed now"),
        "WISH_NOT_PENDING": ("该心愿已审核", "This wish was already reviewed"),
        "WISH_NOT_CLAIMED": ("该心愿不在认领中", "This wish is not claimed"),
        "WISH_NOT_FULFILLED": ("该心愿尚未标记为已完成", "This wish has not been fulfilled yet"),
        "WISH_ALREADY_COMPLETED": ("该心愿已确认完成", "This wish was already confirmed"),
        "WISH_NOT_CANCELLABLE": ("心愿已实现，不能取消", "A fulfilled wish cannot be cancelled"),
        "WISH_OWN": ("不能认领自己的心愿", "You cannot claim your own wish"),
        "NOT_CLAIMER": ("只有认领人可以操作", "Only the member who claimed it can do this"),
        "NOT_WISH_OWNER": ("只有心愿发布人可以操作", "Only the resident who posted it can do this"),
        "NOT_A_SERVING_MEMBER": (
            "只有本社区的报到党员或志愿者可以认领心愿",
            "Only party members and volunteers of this community can claim its wishes",
        ),
        "CLAIM_LIMIT_REACHED": (
            "您认领中的心愿已达上限，请先完成后再认领",
            "You hold the most open claims allowed; fulfil one first",
        ),
        "CLAIM_LIMIT_DAY": (
            "您今天认领的心愿已达上限，请明天再来",
            "You have claimed the most wishes allowed today; come back tomorrow",
        ),
        "CLAIM_COOLDOWN": (
            "您刚放弃过认领，请稍后再认领心愿",
            "You gave a wish back lately; wait a while before claiming again",
        ),
        "CATEGORY_UNKNOWN": ("心愿类别不存在", "No such wish category"),
        "CONTENT_RISKY": ("内容含有违规信息，请修改后再提交", "The text was refused by the content check"),
        "COMMUNITY_REQUIRED": ("请先选择所在社区", "Choose your community first"),
        "WISH_STATUS_NOT_PUBLIC": ("只能查看公开的心愿", "Only public wishes can be listed"),
        "WANTED_BY_PAST": ("期望完成日期不能早于今天", "The wanted-by date cannot be in the past"),
        "WISH_OTHER_COMMUNITY": (
            "只能在您所在的社区发布心愿",
            "Wishes can only be posted in your own community",
        ),
        "WISH_PENDING_LIMIT": (
            "您待审核的心愿已达上限，请等待社区审核后再发布",
            "You have the most wishes allowed waiting for review; wait for the review first",
        ),
        "FULFIL_EVIDENCE_REQUIRED": (
            "请上传至少一张照片，或填写不少于10个字的完成说明",
            "Add a photo, or a note of at least 10 characters, of what was done",
        ),
        "FULFIL_TOO_SOON": (
            "刚认领不久，请在完成帮助后再标记已完成",
            "This was claimed only just now: mark it fulfilled once the help is done",
        ),
        "WISH_NOT_DISPUTED": ("该心愿不在申诉处理中", "This wish is not disputed"),
        "WISH_AWARD_NOT_FOUND": ("该积分记录不存在", "No such award"),
        "WISH_AWARD_DECIDED": ("该积分已处理", "This award was already decided"),
        # Why an award paid nothing (kept on the award and the wish, shown to staff):
        "PAIR_LIMIT": (
            "同一居民与认领人之间的心愿积分在限定天数内只发放一次",
            "A resident's wishes pay the same claimer once in the set number of days",
        ),
        "AWARD_REJECTED": ("工作人员未通过该积分", "Staff turned these points down"),
    }
)

# Staff reject a wish waiting for review, on the wall unclaimed, or done and not yet completed.
REJECTABLE = ("pending_review", "open", "fulfilled", "disputed")
# Staff take a wish back from its claimer while it is claimed or fulfilled but not completed.
RELEASABLE = ("claimed", "fulfilled", "disputed")
LOW_RATING = 2  # a rating of 1 or 2 does not pay by itself: staff look at it first
MIN_NOTE = 10  # characters of a fulfilment note without a photo
PENDING_AWARD_TEXT = "待社区确认"  # the "points" of a notification while staff have not approved them


def categories() -> list[str]:
    """The wish categories of this deployment (WISH_CATEGORIES)."""
    return [name for name in str(current_app.config["WISH_CATEGORIES"]).split(",") if name]


# --- reading ---------------------------------------------------------------------------------------


def get_wish(wish_id: int, lock: bool = False) -> Wish:
    """The wish, optionally locked (re-read), or WISH_NOT_FOUND."""
    query = select(Wish).where(Wish.id == wish_id)
    if lock:
        if is_postgres():
            query = query.with_for_update()
        query = query.execution_options(populate_existing=True)
    wish = db.session.scalars(query).first()
    if wish is None:
        raise NotFound("WISH_NOT_FOUND", details={"id": wish_id})
    return wish


@dataclass(frozen=True)
class Viewer:
    """What the caller may see of a wish."""

    contact: bool  # the resident's name, phone and address
    staff: bool  # review marks and the history
    involved: bool = False  # the resident, the claimer or staff: the note and comment, however checked


def is_public(wish: Wish) -> bool:
    """On the wall (open, claimed, fulfilled), or completed and shared by its resident as a 微故事."""
    return wish.status in WALL_STATUSES or (wish.status == "completed" and wish.story_consent)


def viewer_of(principal: Principal, wish: Wish) -> Viewer:
    """The owner, the current claimer and staff see the contact; others a public wish, masked, or a 404."""
    if principal.is_staff:
        if principal.covers(wish.community):
            return Viewer(contact=True, staff=True, involved=True)
        raise NotFound("WISH_NOT_FOUND", details={"id": wish.id})
    user_id = principal.id
    if wish.user_id == user_id or (
        wish.claimer_id == user_id and wish.status in ("claimed", "fulfilled", "disputed")
    ):
        return Viewer(contact=True, staff=False, involved=True)
    if wish.claimer_id == user_id:  # completed: the claimer keeps seeing what they did, not the contact
        return Viewer(contact=False, staff=False, involved=True)
    if not is_public(wish):
        raise NotFound("WISH_NOT_FOUND", details={"id": wish.id})
    return Viewer(contact=False, staff=False)


CONTACT_FIELDS = ("name", "phone", "address")


def record_contact_shown(principal: Principal, wish: Wish, contact: dict[str, Any] | None) -> None:
    """Audit ``wish.contact_revealed`` when an answer shows the contact to anyone but its resident (the
    claimer, staff): which of name, phone and address it carried. Written in the answer's transaction."""
    if contact is None or (principal.user is not None and principal.id == wish.user_id):
        return
    shown = [name for name in CONTACT_FIELDS if contact.get(name)]
    if not shown:
        return
    audit.record("wish.contact_revealed", principal, "wish", wish.id, wish.community_id, {"fields": shown})


@dataclass(frozen=True)
class ContactReveal:
    """One time someone was shown a wish's contact: who, as what, when, and which fields."""

    at: datetime
    who: str
    as_staff: bool
    fields: list[str]


def contact_reveals(wish_id: int) -> list[ContactReveal]:
    """Who was shown the wish's contact, oldest first (the audit log's ``wish.contact_revealed``)."""
    entries = audit.entries_about("wish", wish_id, "wish.contact_revealed")
    user_ids = {e.actor_id for e in entries if e.actor_kind == "user" and e.actor_id is not None}
    staff_ids = {e.actor_id for e in entries if e.actor_kind == "staff" and e.actor_id is not None}
    names: dict[tuple[str, int], str] = {
        ("user", user_id): nickname or ""
        for user_id, nickname in db.session.execute(
            select(User.id, User.nickname).where(User.id.in_(user_ids))
        )
    }
    for staff_id, display_name, username in db.session.execute(
        select(StaffAccount.id, StaffAccount.display_name, StaffAccount.username).where(
            StaffAccount.id.in_(staff_ids)
        )
    ):
        names[("staff", staff_id)] = display_name or username
    reveals = []
    for entry in entries:
        as_staff = entry.actor_kind == "staff"
        who = names.get((entry.actor_kind, entry.actor_id or 0)) or f"#{entry.actor_id}"
        fields = [str(f) for f in (entry.detail or {}).get("fields", [])]
        reveals.append(ContactReveal(entry.at, who, as_staff, fields))
    return reveals


def _listed(query: Select[Wish], awards: bool = False) -> Select[Wish]:
    """A list's query with what a list shows of each wish (photos and their files, resident, claimer; and
    the award, for the lists of those involved) loaded in four or five queries more, not four per wish."""
    shown = query.options(
        selectinload(Wish.photos).selectinload(WishPhoto.file),
        selectinload(Wish.user),
        selectinload(Wish.claimer),
    )
    return shown.options(selectinload(Wish.award)) if awards else shown


def _page(
    query: Select[Wish], order: list[Any], page: int, page_size: int, awards: bool = False
) -> tuple[list[Wish], int]:
    """One page of wishes in ``order``, and how many there are in all."""
    return paginate(_listed(query, awards).order_by(*order), page, page_size)


def _scrolled(
    query: Select[Wish],
    order: list[Any],
    after: ColumnElement[bool] | None,
    page: int,
    page_size: int,
    awards: bool = False,
) -> tuple[list[Wish], int, int | None]:
    """A page of a list that phones scroll (``paginate_keyset``) with what a list shows of each wish."""
    return paginate_keyset(_listed(query, awards), order, after, page, page_size, Wish.id)


# Wishes that have stood on a community's wall: a cursor of the deadline order is placed by its wish's
# wanted_by (never changed after posting), read only from these, so a before_id cannot tell the date of a
# wish waiting for review or refused. A wish claimed, finished or withdrawn after the phone saw it still is.
_BEEN_ON_THE_WALL = or_(
    Wish.status.in_(("open", "claimed", "fulfilled", "disputed", "completed")),
    and_(Wish.status == "cancelled", Wish.reviewed_at.is_not(None)),
)
DEADLINE_ORDER = [case((Wish.wanted_by.is_(None), 1), else_=0), Wish.wanted_by, Wish.id.desc()]


def _after_by_deadline(community_id: int, before_id: int) -> ColumnElement[bool]:
    """The wishes after ``before_id`` in the deadline order: a later wanted-by date, the same date and an
    older id, or none at all (undated wishes come last, newest first)."""
    placed = db.session.execute(
        select(Wish.wanted_by).where(
            Wish.id == before_id, Wish.community_id == community_id, _BEEN_ON_THE_WALL
        )
    ).first()
    if placed is None:
        raise AppError(
            "VALIDATION_ERROR", status=422, details={"fields": {"before_id": ["not a wish of this wall"]}}
        )
    wanted_by: date | None = placed.wanted_by
    if wanted_by is None:
        return and_(Wish.wanted_by.is_(None), Wish.id < before_id)
    return or_(
        Wish.wanted_by.is_(None),
        Wish.wanted_by > wanted_by,
        and_(Wish.wanted_by == wanted_by, Wish.id < before_id),
    )


def wall(
    principal: Principal,
    community_id: int | None,
    status: str | None,
    category: str | None,
    sort: str,
    page: int,
    page_size: int,
    before_id: int | None = None,
) -> tuple[list[Wish], int, int | None]:
    """The wall of a community, newest or nearest wanted-by date first; completed wishes only as shared.
    With ``before_id`` (the next_before_id of the page before) the page goes on after that wish in the
    wall's order, so wishes posted or claimed meanwhile neither repeat a wish nor skip one."""
    user = principal.user
    assert user is not None  # noqa: S101  (the wall is read by users only)
    community = community_id or user.community_id or user.party_community_id
    if community is None:
        raise AppError("COMMUNITY_REQUIRED", status=422)
    status = status or "open"
    if status not in PUBLIC_STATUSES:
        raise Forbidden("WISH_STATUS_NOT_PUBLIC", details={"status": status})
    query = select(Wish).where(Wish.community_id == community, Wish.status == status)
    if status == "completed":  # without the resident's consent it stays between them, the claimer and staff
        query = query.where(Wish.story_consent.is_(True))
    if category:
        query = query.where(Wish.category == category)
    if sort == "deadline":
        after = _after_by_deadline(community, before_id) if before_id is not None else None
        return _scrolled(query, DEADLINE_ORDER, after, page, page_size)
    after = Wish.id < before_id if before_id is not None else None
    return _scrolled(query, [Wish.id.desc()], after, page, page_size)


def staff_wishes(
    principal: Principal,
    status: str | None,
    community_id: int | None,
    category: str | None,
    needs_review: bool | None,
    page: int,
    page_size: int,
) -> tuple[list[Wish], int]:
    """Wishes of the communities a staff account looks after, oldest first (the review queue)."""
    items, total, _ = scroll_staff_wishes(
        principal, status, community_id, category, needs_review, page, page_size
    )
    return items, total


def scroll_staff_wishes(
    principal: Principal,
    status: str | None,
    community_id: int | None,
    category: str | None,
    needs_review: bool | None,
    page: int,
    page_size: int,
    before_id: int | None = None,
) -> tuple[list[Wish], int, int | None]:
    """``staff_wishes`` with the next page's ``before_id``: the queue goes on after that wish (a newer id),
    so wishes approved off a filtered queue meanwhile do not make the next page skip one."""
    if not principal.is_staff:
        raise Forbidden()
    query = select(Wish).where(Wish.community_id.in_(staff_scope_ids(principal)))
    if status:
        query = query.where(Wish.status == status)
    if community_id is not None:
        query = query.where(Wish.community_id == community_id)
    if category:
        query = query.where(Wish.category == category)
    if needs_review is not None:
        flagged = Wish.sec_check != "pass"
        query = query.where(flagged if needs_review else ~flagged)
    after = Wish.id > before_id if before_id is not None else None
    return _scrolled(query, [Wish.id], after, page, page_size, awards=True)


def my_wishes(user_id: int, status: str | None, page: int, page_size: int) -> tuple[list[Wish], int]:
    """The wishes I posted, newest first."""
    query = select(Wish).where(Wish.user_id == user_id)
    if status:
        query = query.where(Wish.status == status)
    return _page(query, [Wish.id.desc()], page, page_size, awards=True)


def my_claims(user_id: int, active: bool | None, page: int, page_size: int) -> tuple[list[Wish], int]:
    """Wishes I claimed and still hold, fulfilled or completed, newest claim first."""
    query = select(Wish).where(Wish.claimer_id == user_id)
    if active is True:
        query = query.where(Wish.status == "claimed")
    elif active is False:
        query = query.where(Wish.status.in_(["fulfilled", "disputed", "completed"]))
    return _page(query, [Wish.claimed_at.desc(), Wish.id.desc()], page, page_size, awards=True)


def stories(community_ids: list[int], page: int, page_size: int) -> tuple[list[Wish], int]:
    """微故事: completed wishes whose resident agreed to share them, newest first."""
    query = select(Wish).where(
        Wish.status == "completed", Wish.story_consent.is_(True), Wish.community_id.in_(community_ids)
    )
    return _page(query, [Wish.completed_at.desc(), Wish.id.desc()], page, page_size)


def masked_resident(wish: Wish) -> str:
    """The resident's name as the wall shows it (张**)."""
    return mask_name(wish.contact_name or wish.user.nickname)


# --- posting and review ------------------------------------------------------------------------------


def _check_text(user: User, text: str) -> tuple[str, int | None]:
    """WeChat's msg_sec_check v2: risky is refused; when WeChat cannot answer, staff check by hand.

    Call it before locking any row: it is an HTTP round trip to WeChat.
    """
    try:
        verdict = wechat_client().msg_sec_check(text, user.openid, scene=3)
    except WeChatError as exc:
        log.warning("msg_sec_check unavailable (errcode=%s); marking for manual review", exc.errcode)
        return "unchecked", None
    if verdict.suggest == "risky":
        raise AppError("CONTENT_RISKY", status=422, details={"label": verdict.label})
    return ("review" if verdict.suggest == "review" else "pass"), verdict.label


def _attach_photos(wish: Wish, files: list[StoredFile], kind: str) -> None:
    start = len(wish.photos)
    for position, file in enumerate(files, start=start):
        wish.photos.append(WishPhoto(file_id=file.id, kind=kind, position=position))


def _lock_user(user_id: int) -> User:
    """The user's row, locked (re-read): the first lock of a claim, a post or a payment."""
    query = select(User).where(User.id == user_id)
    if is_postgres():
        query = query.with_for_update()
    user = db.session.scalars(query.execution_options(populate_existing=True)).first()
    if user is None:
        raise NotFound("USER_NOT_FOUND", details={"id": user_id})
    return user


def _check_pending_limit(user_id: int) -> None:
    """At most WISH_MAX_PENDING wishes of a user wait for review at once (F11: no flood of the queue)."""
    limit = int(current_app.config["WISH_MAX_PENDING"])
    waiting = db.session.scalar(
        select(func.count()).where(Wish.user_id == user_id, Wish.status == "pending_review")
    )
    if (waiting or 0) >= limit:
        raise Conflict("WISH_PENDING_LIMIT", details={"limit": limit})


def _contact_phone(user: User, values: dict[str, Any]) -> str | None:
    """The phone given in the body, else the bound phone only if the resident ticked it (F7), else none."""
    given = (values.get("contact_phone") or "").strip()
    if given:
        return given
    return user.phone if values.get("use_bound_phone") else None


def post_wish(user_id: int, values: dict[str, Any]) -> Wish:
    """A resident posts a wish; it waits for staff review, marked when the content check says so.

    At most WISH_MAX_PENDING of a user's wishes wait for review: counted before WeChat's check (a refused
    post costs no call) and again under a lock of the user's row, so two posts at once cannot both slip in.
    """
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("USER_NOT_FOUND", details={"id": user_id})
    home = user.community_id or user.party_community_id  # where the wall opens for them too
    if home is None:
        raise AppError("COMMUNITY_REQUIRED", status=422)
    if values.get("community_id") not in (None, home):
        raise Forbidden("WISH_OTHER_COMMUNITY", details={"community_id": home})
    community = get_community(home)
    if values["category"] not in categories():
        raise AppError("CATEGORY_UNKNOWN", status=422, details={"categories": categories()})
    wanted_by: date | None = values.get("wanted_by")
    if wanted_by is not None and wanted_by < clock.local_today():
        raise AppError("WANTED_BY_PAST", status=422)
    title, content = values["title"].strip(), values["content"].strip()
    photos = owned_files(user.id, values.get("photos") or [])
    _check_pending_limit(user.id)
    verdict, label = _check_text(user, f"{title}\n{content}")
    user = _lock_user(user.id)
    _check_pending_limit(user.id)
    wish = Wish(
        community_id=community.id,
        user_id=user.id,
        title=title,
        content=content,
        category=values["category"],
        wanted_by=wanted_by,
        contact_name=(values.get("contact_name") or user.nickname or "").strip()[:32],
        contact_phone=_contact_phone(user, values),
        address=values.get("address"),
        status="pending_review",
        sec_check=verdict,
        sec_label=label,
    )
    db.session.add(wish)
    _attach_photos(wish, photos, "wish")
    db.session.flush()
    return wish


def _require(wish: Wish, status: str, code: str) -> None:
    if wish.status != status:
        raise Conflict(code, details={"status": wish.status})


def approve(principal: Principal, wish_id: int) -> Wish:
    """Staff approve a wish: it goes on the wall."""
    wish = get_wish(wish_id, lock=True)
    authorize(principal, "wishes.manage", wish.community)
    _require(wish, "pending_review", "WISH_NOT_PENDING")
    wish.status, wish.reviewed_by_id, wish.reviewed_at = "open", principal.id, clock.now()
    db.session.flush()
    publish("wish.approved", [wish.user_id], _payload(wish))
    return wish


def reject(principal: Principal, wish_id: int, reason: str) -> Wish:
    """Staff reject a wish with a reason the resident reads: one waiting for review, an unclaimed one on
    the wall, or one marked fulfilled (or disputed) and not completed — its claimer is told, no points.
    The same rejection sent again answers the wish as it is."""
    reason = reason.strip()
    if not reason:
        raise AppError("REASON_REQUIRED", status=422)
    wish = get_wish(wish_id, lock=True)
    authorize(principal, "wishes.manage", wish.community)
    if wish.status == "rejected" and wish.reject_reason == reason:
        return wish
    if wish.status not in REJECTABLE:
        raise Conflict("WISH_NOT_PENDING", details={"status": wish.status})
    claimer = _take_back(wish, reason, principal.id) if wish.status in ("fulfilled", "disputed") else None
    wish.status, wish.reject_reason = "rejected", reason
    wish.reviewed_by_id, wish.reviewed_at = principal.id, clock.now()
    db.session.flush()
    publish("wish.rejected", [wish.user_id], _payload(wish, reason=reason))
    if claimer:
        publish("wish.released", [claimer], _payload(wish, reason=reason))
    return wish


# --- claims ------------------------------------------------------------------------------------------


def _active_claim(wish_id: int) -> WishClaim | None:
    query = select(WishClaim).where(WishClaim.wish_id == wish_id, WishClaim.outcome == "active")
    if is_postgres():
        query = query.with_for_update()
    return db.session.scalars(query.execution_options(populate_existing=True)).first()


def _check_cooldown(user_id: int, now: datetime) -> None:
    """No claim for WISH_RECLAIM_COOLDOWN_HOURS after the member gave a wish back themselves (F7: no
    claim → read the contact → unclaim round); a release by staff, the deadline or a cancel start none."""
    hours = int(current_app.config["WISH_RECLAIM_COOLDOWN_HOURS"])
    if hours <= 0:
        return
    last = db.session.scalar(
        select(func.max(WishClaim.ended_at)).where(
            WishClaim.user_id == user_id, WishClaim.outcome == "unclaimed"
        )
    )
    if last is not None and now < last + timedelta(hours=hours):
        retry_after = last + timedelta(hours=hours)
        raise AppError("CLAIM_COOLDOWN", status=429, details={"retry_after": retry_after.isoformat()})


def _check_daily_claims(user_id: int, now: datetime) -> None:
    """At most WISH_CLAIMS_PER_DAY claims a local day, however they ended (F7); read under the member's
    row lock, so parallel claims of theirs are counted one after another."""
    limit = int(current_app.config["WISH_CLAIMS_PER_DAY"])
    start, tomorrow = clock.today_bounds(now)
    made = db.session.scalar(
        select(func.count()).where(WishClaim.user_id == user_id, WishClaim.created_at >= start)
    )
    if (made or 0) >= limit:
        raise AppError(
            "CLAIM_LIMIT_DAY", status=429, details={"limit": limit, "retry_after": tomorrow.isoformat()}
        )


def claim(user_id: int, wish_id: int) -> Wish:
    """A party member or volunteer of the community claims an open wish; the first one wins. The claim
    resent by its claimer answers the wish as it is, and counts once."""
    # The member's row is locked so their counts of claims cannot race a second claim of theirs.
    user = _lock_user(user_id)
    wish = get_wish(wish_id)
    if not is_public(wish) and user_id not in (wish.user_id, wish.claimer_id):
        raise NotFound("WISH_NOT_FOUND", details={"id": wish_id})
    if wish.user_id == user_id:
        raise Forbidden("WISH_OWN")
    if wish.claimer_id == user_id and wish.status == "claimed":
        wish.replayed = True
        return wish
    if not user.serves(wish.community_id):
        raise Forbidden("NOT_A_SERVING_MEMBER")
    now = clock.now()
    _check_cooldown(user_id, now)
    limit = int(current_app.config["WISH_MAX_OPEN_CLAIMS"])
    holding = db.session.scalar(
        select(func.count()).where(WishClaim.user_id == user_id, WishClaim.outcome == "active")
    )
    if (holding or 0) >= limit:
        raise Conflict("CLAIM_LIMIT_REACHED", details={"limit": limit})
    _check_daily_claims(user_id, now)
    deadline = now + timedelta(days=int(current_app.config["WISH_CLAIM_DAYS"]))
    won = db.session.execute(
        update(Wish)
        .where(Wish.id == wish_id, Wish.status == "open")
        .values(status="claimed", claimer_id=user_id, claimed_at=now, claim_deadline=deadline)
        .execution_options(synchronize_session=False)
    )
    if not won.rowcount:  # type: ignore[attr-defined]
        current = db.session.scalar(select(Wish.status).where(Wish.id == wish_id))
        if current in ("claimed", "fulfilled", "disputed", "completed"):
            raise Conflict("WISH_ALREADY_CLAIMED")
        raise Conflict("WISH_NOT_OPEN", details={"status": current})
    db.session.add(WishClaim(wish_id=wish_id, user_id=user_id, deadline=deadline))
    db.session.flush()
    wish = get_wish(wish_id, lock=True)
    publish("wish.claimed", [wish.user_id], _payload(wish, claimer=user.nickname or "党员志愿者"))
    wish.replayed = False
    return wish


def _end_claim(
    wish: Wish, outcome: str, reason: str | None = None, staff_id: int | None = None
) -> int | None:
    """Close the active claim; back to the wall unless the claim ended with the wish."""
    active = _active_claim(wish.id)
    claimer = wish.claimer_id
    if active is not None:
        active.outcome, active.ended_at = outcome, clock.now()
        active.reason, active.released_by_id = reason, staff_id
    if outcome in ("unclaimed", "released", "expired"):
        wish.status = "open"
        wish.claimer_id = wish.claimed_at = wish.claim_deadline = None
    db.session.flush()
    return claimer


def _not_claimer(wish: Wish, user_id: int) -> AppError:
    """409 for the member who held the wish (a release or the deadline came first), 403 for anyone else."""
    last = db.session.scalar(
        select(WishClaim.user_id).where(WishClaim.wish_id == wish.id).order_by(WishClaim.id.desc()).limit(1)
    )
    if wish.claimer_id == user_id or last == user_id:
        return Conflict("WISH_NOT_CLAIMED", details={"status": wish.status})
    return Forbidden("NOT_CLAIMER")


def unclaim(user_id: int, wish_id: int) -> Wish:
    """The claimer gives the wish back to the wall."""
    wish = get_wish(wish_id, lock=True)
    if wish.claimer_id != user_id or wish.status != "claimed":
        raise _not_claimer(wish, user_id)
    _end_claim(wish, "unclaimed")
    publish("wish.unclaimed", [wish.user_id], _payload(wish))
    return wish


def _take_back(wish: Wish, reason: str, staff_id: int) -> int | None:
    """End the claim of a fulfilled or disputed wish (its claim row ended as fulfilled): released by staff,
    with the reason. The wish loses its claimer; the caller sets its new status. Returns the claimer."""
    claimer = wish.claimer_id
    query = (
        select(WishClaim)
        .where(WishClaim.wish_id == wish.id, WishClaim.user_id == claimer, WishClaim.outcome == "fulfilled")
        .order_by(WishClaim.id.desc())
        .limit(1)
    )
    if is_postgres():
        query = query.with_for_update()
    last = db.session.scalars(query).first()
    if last is not None:
        last.outcome, last.ended_at, last.reason, last.released_by_id = (
            "released",
            clock.now(),
            reason,
            staff_id,
        )
    wish.claimer_id = wish.claimed_at = wish.claim_deadline = None
    return claimer


def _released_again(wish: Wish, staff_id: int, reason: str) -> bool:
    """The wish is open because this staff member released it with this reason: a resent release."""
    last = db.session.scalars(
        select(WishClaim).where(WishClaim.wish_id == wish.id).order_by(WishClaim.id.desc()).limit(1)
    ).first()
    return (
        wish.status == "open"
        and last is not None
        and (last.outcome, last.released_by_id, last.reason) == ("released", staff_id, reason)
    )


def release(principal: Principal, wish_id: int, reason: str) -> Wish:
    """Staff take a wish back from its claimer with a reason — claimed, or marked fulfilled (or disputed)
    but not completed: no points, the claimer is told, and the resident that it is open again. A
    fulfilment taken back leaves nothing behind: its note and photos go with it."""
    reason = reason.strip()
    if not reason:
        raise AppError("REASON_REQUIRED", status=422)
    wish = get_wish(wish_id, lock=True)
    authorize(principal, "wishes.manage", wish.community)
    if _released_again(wish, principal.id, reason):
        return wish
    if wish.status not in RELEASABLE:
        raise Conflict("WISH_NOT_CLAIMED", details={"status": wish.status})
    if wish.status == "claimed":
        claimer = _end_claim(wish, "released", reason, principal.id)
    else:
        claimer = _take_back(wish, reason, principal.id)
        wish.status = "open"
        wish.fulfilled_at = wish.fulfil_note = wish.fulfil_note_check = None
        wish.photos[:] = [p for p in wish.photos if p.kind == "wish"]
        db.session.flush()
    publish("wish.released", [claimer] if claimer else [], _payload(wish, reason=reason))
    publish("wish.reopened", [wish.user_id], _payload(wish, reason=reason))
    return wish


def expire_claim(claim_id: int) -> bool:
    """A claim past its deadline goes back to the wall (once)."""
    claim_row = db.session.get(WishClaim, claim_id)
    if claim_row is None:
        return False
    wish = get_wish(claim_row.wish_id, lock=True)
    active = _active_claim(wish.id)
    if active is None or active.id != claim_id or wish.status != "claimed" or active.deadline > clock.now():
        return False
    _end_claim(wish, "expired", "认领已超过期限")
    payload = _payload(wish, reason="认领已超过期限，心愿已重新开放认领")
    publish("wish.claim_expired", [active.user_id, wish.user_id], payload)
    return True


def remind_claim(claim_id: int) -> bool:
    """Tell the claimer a day before the claim's deadline (once)."""
    claim_row = db.session.get(WishClaim, claim_id)
    if claim_row is None:
        return False
    wish = get_wish(claim_row.wish_id, lock=True)
    active = _active_claim(wish.id)
    if active is None or active.id != claim_id or active.reminded_at is not None:
        return False
    active.reminded_at = clock.now()
    db.session.flush()
    publish("wish.claim_expiring", [active.user_id], _payload(wish, deadline=_local(active.deadline)))
    return True


# --- fulfilment, confirmation, cancellation ------------------------------------------------------------


def _fulfillable(wish: Wish, user_id: int) -> None:
    if wish.claimer_id != user_id:
        raise _not_claimer(wish, user_id)
    _require(wish, "claimed", "WISH_NOT_CLAIMED")


def _not_too_soon(wish: Wish) -> None:
    """Help takes time: a claim is marked fulfilled no sooner than WISH_MIN_FULFIL_MINUTES after it."""
    minutes = int(current_app.config["WISH_MIN_FULFIL_MINUTES"])
    if wish.claimed_at is None or minutes <= 0:
        return
    allowed_at = wish.claimed_at + timedelta(minutes=minutes)
    if clock.now() < allowed_at:
        raise Conflict("FULFIL_TOO_SOON", details={"minutes": minutes, "allowed_at": allowed_at.isoformat()})


def _fulfilled_by(wish: Wish, user_id: int) -> bool:
    """The claimer's fulfilment already went through: a resend answers the wish as it is."""
    return wish.status == "fulfilled" and wish.claimer_id == user_id


def fulfil(user_id: int, wish_id: int, note: str, photo_ids: list[int]) -> Wish:
    """The claimer says it is done — with at least one photo or a note of MIN_NOTE characters, and not
    within WISH_MIN_FULFIL_MINUTES of the claim; the resident is asked to confirm. Resent by the claimer
    while the wish is fulfilled, it answers the wish as it is (``replayed``; the first note stands)."""
    wish = get_wish(wish_id)
    if _fulfilled_by(wish, user_id):
        wish.replayed = True
        return wish
    _fulfillable(wish, user_id)
    note = note.strip()
    if not photo_ids and len(note) < MIN_NOTE:
        raise AppError("FULFIL_EVIDENCE_REQUIRED", status=422, details={"min_note_length": MIN_NOTE})
    _not_too_soon(wish)
    photos = owned_files(user_id, photo_ids)
    note_check = _check_text(wish.claimer, note)[0]  # type: ignore[arg-type]
    wish = get_wish(wish_id, lock=True)  # the state again, now under the lock: it may have moved meanwhile
    if _fulfilled_by(wish, user_id):  # a resend racing the first send
        wish.replayed = True
        return wish
    _fulfillable(wish, user_id)
    _end_claim(wish, "fulfilled")
    wish.status, wish.fulfilled_at = "fulfilled", clock.now()
    wish.fulfil_note, wish.fulfil_note_check = note, note_check
    _attach_photos(wish, photos, "fulfilment")
    db.session.flush()
    days = int(current_app.config["WISH_CONFIRM_DAYS"])
    publish("wish.fulfilled", [wish.user_id], _payload(wish, note=note, days=days))
    wish.replayed = False
    return wish


# --- the claimer's award ---------------------------------------------------------------------------------


def _pair_paid_recently(award: WishAward) -> bool:
    """The resident's wishes paid this claimer within WISH_PAIR_DAYS already (F11: no farming by a pair)."""
    days = int(current_app.config["WISH_PAIR_DAYS"])
    if days <= 0:
        return False
    found = db.session.scalar(
        select(WishAward.id)
        .where(
            WishAward.claimer_id == award.claimer_id,
            WishAward.resident_id == award.resident_id,
            WishAward.status == "paid",
            WishAward.decided_at > clock.now() - timedelta(days=days),
            WishAward.id != award.id,
        )
        .limit(1)
    )
    return found is not None


def _settle(award: WishAward, wish: Wish, status: str, code: str | None, staff_id: int | None) -> None:
    award.status, award.code = status, code
    award.decided_at, award.decided_by_id = clock.now(), staff_id
    wish.award_transaction_id, wish.award_points = award.transaction_id, award.points
    wish.award_code = code
    db.session.flush()


def _pay(award: WishAward, wish: Wish, staff_id: int | None) -> None:
    """Pay the award now (the claimer's row is locked by the caller): the wish rule's points once, the wish
    being the idempotency key ``wish:<id>``; refused with PAIR_LIMIT or the ledger's code."""
    if _pair_paid_recently(award):
        _settle(award, wish, "refused", "PAIR_LIMIT", staff_id)
        return
    result = points.award(
        award.claimer_id,
        str(current_app.config["WISH_POINTS_RULE"]),
        1,
        ("wish", wish.id),
        f"wish:{wish.id}",
        community_id=wish.community_id,
    )
    if result.status == "refused":
        _settle(award, wish, "refused", result.code, staff_id)
        return
    award.points, award.transaction_id = result.points, result.transaction_id
    _settle(award, wish, "paid", None, staff_id)


def complete_wish(wish: Wish, by: str, cause: str, staff_id: int | None = None) -> WishAward:
    """Completed, and the claimer's award opened: paid at once when the resident confirmed with a good
    rating (``confirmed``) or staff completed it (``staff``); otherwise (``low_rating``, ``timeout``) it
    waits for staff in 待确认积分 — unless the pair limit already refuses it.

    The caller holds the claimer's row lock, then the wish's."""
    assert wish.claimer_id is not None  # noqa: S101  (only a claimed wish is completed)
    wish.status, wish.completed_at, wish.completed_by = "completed", clock.now(), by
    award = WishAward(
        wish_id=wish.id,
        community_id=wish.community_id,
        resident_id=wish.user_id,
        claimer_id=wish.claimer_id,
        cause=cause,
        status="pending",
    )
    db.session.add(award)
    wish.award = award
    db.session.flush()
    if cause in ("confirmed", "staff"):
        _pay(award, wish, staff_id)
    elif _pair_paid_recently(award):
        _settle(award, wish, "refused", "PAIR_LIMIT", None)
    return award


def _points_told(award: WishAward) -> int | str:
    """The points a completion notification names: paid, none, or waiting for staff."""
    return PENDING_AWARD_TEXT if award.status == "pending" else award.points or 0


def _lock_claimer_then_wish(wish_id: int) -> Wish:
    """The wish locked after its claimer's row (the lock order of a payment), read again."""
    wish = get_wish(wish_id)
    if wish.claimer_id is not None:
        _lock_user(wish.claimer_id)
    return get_wish(wish_id, lock=True)


def _confirmable(wish: Wish, user_id: int) -> None:
    if wish.user_id != user_id:
        raise Forbidden("NOT_WISH_OWNER")
    if wish.status == "completed":
        raise Conflict("WISH_ALREADY_COMPLETED", details={"completed_by": wish.completed_by})
    _require(wish, "fulfilled", "WISH_NOT_FULFILLED")


def _confirmed_by(wish: Wish, user_id: int) -> bool:
    """The resident's confirmation already went through: a resend answers the wish as it is."""
    return wish.user_id == user_id and wish.status == "completed" and wish.completed_by == "resident"


def confirm(user_id: int, wish_id: int, rating: int, comment: str | None, story_consent: bool) -> Wish:
    """The resident confirms with a rating: completed. A rating of 3 or more pays the claimer at once; 1 or
    2 puts the points in 待确认积分 for staff to approve or reject. Resent by the resident once it is
    confirmed, it answers the wish as it is (``replayed``; the first rating stands, nothing is paid twice);
    completed otherwise (by the timeout or staff) it is still WISH_ALREADY_COMPLETED."""
    wish = get_wish(wish_id)
    if _confirmed_by(wish, user_id):
        wish.replayed = True
        return wish
    _confirmable(wish, user_id)
    comment = (comment or "").strip() or None
    comment_check = _check_text(wish.user, comment)[0] if comment else None
    wish = _lock_claimer_then_wish(wish_id)  # the state again, under the lock (the job may have completed it)
    if _confirmed_by(wish, user_id):  # a resend racing the first send
        wish.replayed = True
        return wish
    _confirmable(wish, user_id)
    wish.rating, wish.comment, wish.comment_check = rating, comment, comment_check
    wish.story_consent = story_consent
    award = complete_wish(wish, "resident", "confirmed" if rating > LOW_RATING else "low_rating")
    publish(
        "wish.completed",
        [wish.claimer_id] if wish.claimer_id else [],
        _payload(wish, rating=rating, points=_points_told(award)),
    )
    wish.replayed = False
    return wish


def _due(wish: Wish) -> bool:
    days = int(current_app.config["WISH_CONFIRM_DAYS"])
    return (
        wish.status == "fulfilled"
        and wish.fulfilled_at is not None
        and wish.fulfilled_at <= clock.now() - timedelta(days=days)
    )


def auto_complete(wish_id: int) -> bool:
    """A fulfilled wish the resident left unanswered completes by itself (once); nobody vouched for the
    help, so the claimer's points wait for staff in 待确认积分."""
    if not _due(get_wish(wish_id)):
        return False
    wish = _lock_claimer_then_wish(wish_id)
    if not _due(wish):
        return False
    award = complete_wish(wish, "timeout", "timeout")
    recipients = [r for r in (wish.claimer_id, wish.user_id) if r]
    publish("wish.completed", recipients, _payload(wish, rating="-", points=_points_told(award)))
    return True


def dispute(user_id: int, wish_id: int, reason: str) -> Wish:
    """The resident says a fulfilled wish was not done: it waits for staff (disputed), with no points.
    Sent again, it answers the wish as it is (the first reason stands)."""
    reason = reason.strip()
    if not reason:
        raise AppError("REASON_REQUIRED", status=422)
    wish = get_wish(wish_id, lock=True)
    if wish.user_id != user_id:
        raise Forbidden("NOT_WISH_OWNER")
    if wish.status == "disputed":
        wish.replayed = True
        return wish
    if wish.status == "completed":
        raise Conflict("WISH_ALREADY_COMPLETED", details={"completed_by": wish.completed_by})
    _require(wish, "fulfilled", "WISH_NOT_FULFILLED")
    wish.status, wish.disputed_at, wish.dispute_reason = "disputed", clock.now(), reason
    db.session.flush()
    wish.replayed = False
    return wish


def complete_disputed(principal: Principal, wish_id: int) -> Wish:
    """Staff find a disputed wish was done after all: completed, and the claimer paid at once (once).
    Sent again, it answers the wish as it is."""
    wish = get_wish(wish_id)
    authorize(principal, "wishes.manage", wish.community)
    wish = _lock_claimer_then_wish(wish_id)
    if wish.status == "completed" and wish.completed_by == "staff":
        return wish
    if wish.status == "completed":
        raise Conflict("WISH_ALREADY_COMPLETED", details={"completed_by": wish.completed_by})
    _require(wish, "disputed", "WISH_NOT_DISPUTED")
    wish.reviewed_by_id, wish.reviewed_at = principal.id, clock.now()
    award = complete_wish(wish, "staff", "staff", principal.id)
    recipients = [r for r in (wish.claimer_id, wish.user_id) if r]
    publish("wish.completed", recipients, _payload(wish, rating="-", points=_points_told(award)))
    return wish


# --- 待确认积分: awards waiting for staff --------------------------------------------------------------


def get_award(award_id: int, lock: bool = False) -> WishAward:
    """The award, optionally locked (re-read), or WISH_AWARD_NOT_FOUND."""
    query = select(WishAward).where(WishAward.id == award_id)
    if lock:
        if is_postgres():
            query = query.with_for_update()
        query = query.execution_options(populate_existing=True)
    award = db.session.scalars(query).first()
    if award is None:
        raise NotFound("WISH_AWARD_NOT_FOUND", details={"id": award_id})
    return award


def award_for_staff(principal: Principal, award_id: int) -> WishAward:
    """An award of the staff member's communities (404 for another's, like a wish)."""
    award = get_award(award_id)
    if not principal.is_staff or not principal.covers(award.wish.community):
        raise NotFound("WISH_AWARD_NOT_FOUND", details={"id": award_id})
    return award


def staff_awards(
    principal: Principal, status: str | None, community_id: int | None, page: int, page_size: int
) -> tuple[list[WishAward], int]:
    """Awards of the staff member's communities, oldest first (``status="pending"``: the queue)."""
    if not principal.is_staff:
        raise Forbidden()
    query = select(WishAward).where(WishAward.community_id.in_(staff_scope_ids(principal)))
    if status:
        query = query.where(WishAward.status == status)
    if community_id is not None:
        query = query.where(WishAward.community_id == community_id)
    shown = query.options(
        selectinload(WishAward.wish).selectinload(Wish.user),
        selectinload(WishAward.wish).selectinload(Wish.community),
        selectinload(WishAward.claimer),
        selectinload(WishAward.decided_by),
    )
    return paginate(shown.order_by(WishAward.id), page, page_size)


def approve_award(principal: Principal, award_id: int) -> WishAward:
    """Staff approve an award waiting for them: the claimer is paid once (or it is refused, PAIR_LIMIT or
    the ledger's code). An award already paid or refused answers as it is; a rejected one is 409."""
    award = get_award(award_id)
    authorize(principal, "wishes.manage", award.wish.community)
    if award.status == "pending":
        _lock_user(award.claimer_id)
        award = get_award(award_id, lock=True)  # another approval may have paid it meanwhile
    if award.status in ("paid", "refused"):
        return award
    if award.status == "rejected":
        raise Conflict("WISH_AWARD_DECIDED", details={"status": award.status})
    _pay(award, get_wish(award.wish_id, lock=True), principal.id)
    return award


def reject_award(principal: Principal, award_id: int, reason: str) -> WishAward:
    """Staff turn an award waiting for them down with a reason: no points. Sent again, it answers as is."""
    reason = reason.strip()
    if not reason:
        raise AppError("REASON_REQUIRED", status=422)
    award = get_award(award_id, lock=True)
    authorize(principal, "wishes.manage", award.wish.community)
    if award.status == "rejected":
        return award
    if award.status != "pending":
        raise Conflict("WISH_AWARD_DECIDED", details={"status": award.status})
    wish = get_wish(award.wish_id, lock=True)
    award.reject_reason = reason
    _settle(award, wish, "rejected", "AWARD_REJECTED", principal.id)
    return award


def cancel(user_id: int, wish_id: int, reason: str | None) -> Wish:
    """The resident withdraws a wish before it is fulfilled; a claimer is told."""
    wish = get_wish(wish_id, lock=True)
    if wish.user_id != user_id:
        raise Forbidden("NOT_WISH_OWNER")
    if wish.status not in ("pending_review", "open", "claimed"):
        raise Conflict("WISH_NOT_CANCELLABLE", details={"status": wish.status})
    claimer = _end_claim(wish, "cancelled") if wish.status == "claimed" else None
    wish.status, wish.claimer_id, wish.claimed_at, wish.claim_deadline = "cancelled", None, None, None
    wish.cancelled_at, wish.cancel_reason = clock.now(), (reason or "").strip() or None
    db.session.flush()
    if claimer:
        publish("wish.cancelled", [claimer], _payload(wish, reason=wish.cancel_reason or "居民已取消"))
    return wish


def set_story_consent(user_id: int, wish_id: int, consent: bool) -> Wish:
    """The resident shares a completed wish as a 微故事, or stops sharing it."""
    wish = get_wish(wish_id, lock=True)
    if wish.user_id != user_id:
        raise Forbidden("NOT_WISH_OWNER")
    _require(wish, "completed", "WISH_NOT_FULFILLED")
    wish.story_consent = consent
    db.session.flush()
    return wish


# --- jobs' queries -----------------------------------------------------------------------------------


def claims_past_deadline(now: datetime) -> list[int]:
    """Active claims whose deadline has passed."""
    return list(
        db.session.scalars(
            select(WishClaim.id).where(WishClaim.outcome == "active", WishClaim.deadline <= now)
        )
    )


def claims_to_remind(now: datetime) -> list[int]:
    """Active claims due within a day and not yet reminded."""
    return list(
        db.session.scalars(
            select(WishClaim.id).where(
                WishClaim.outcome == "active",
                WishClaim.reminded_at.is_(None),
                WishClaim.deadline > now,
                WishClaim.deadline <= now + timedelta(days=1),
            )
        )
    )


def wishes_to_complete(now: datetime) -> list[int]:
    """Fulfilled wishes whose confirmation time is over."""
    days = int(current_app.config["WISH_CONFIRM_DAYS"])
    return list(
        db.session.scalars(
            select(Wish.id).where(Wish.status == "fulfilled", Wish.fulfilled_at <= now - timedelta(days=days))
        )
    )


# --- notification payloads ------------------------------------------------------------------------------


def _local(moment: datetime | None) -> str:

    return moment.astimezone(SERVER_ZONE).strftime("%Y-%m-%d %H:%M") if moment else ""


def _payload(wish: Wish, **extra: Any) -> dict[str, Any]:
    return {"wish_id": wish.id, "title": wish.title, "status": wish.status, **extra}


# --- what staff pages read --------------------------------------------------------------------------------


def pending_count(principal: Principal, status: str = "pending_review") -> int:
    """Wishes in ``status`` (waiting for review, or disputed) in the staff member's communities."""
    query = select(func.count()).where(
        Wish.status == status, Wish.community_id.in_(staff_scope_ids(principal))
    )
    return int(db.session.scalar(query) or 0)


def pending_award_count(principal: Principal) -> int:
    """Awards waiting for staff (待确认积分) in the staff member's communities."""
    query = select(func.count()).where(
        WishAward.status == "pending", WishAward.community_id.in_(staff_scope_ids(principal))
    )
    return int(db.session.scalar(query) or 0)


def claim_history(wish_id: int) -> list[tuple[WishClaim, str | None, str | None]]:
    """A wish's claims in order, with the claimer's nickname and the staff member who released it."""
    rows = db.session.execute(
        select(WishClaim, User.nickname, StaffAccount.display_name)
        .join(User, User.id == WishClaim.user_id)
        .outerjoin(StaffAccount, StaffAccount.id == WishClaim.released_by_id)
        .where(WishClaim.wish_id == wish_id)
        .order_by(WishClaim.id)
    ).all()
    return [(claim, nickname, staff) for claim, nickname, staff in rows]
