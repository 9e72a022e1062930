"""Residents, staff accounts and the party-report flow."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from server import clock
from server.audit import services as audit
from server.auth.passwords import hash_password
from server.auth.policy import Principal, allowed, authorize, staff_scope_ids
from server.auth.sessions import end_logins
from server.clock import SERVER_ZONE
from server.db import db, is_postgres, paginate
from server.errors import AppError, Conflict, NotFound, register_messages
from server.notifications.services import publish
from server.orgs.services import get_community, get_org_by_code
from server.users.models import (
    STAFF_ROLES,
    PartyReport,
    StaffAccount,
    User,
    mask_phone,
    normalise_phone,
    phone_lookup_hash,
)
from server.wechat.errors import WeChatCodeInvalid, WeChatError
from server.wechat.factory import wechat_client, wechat_unavailable

register_messages(
    {
        "COMMUNITY_MOVE_REQUIRED": (
            "您已设置所在社区，如需变更请提交社区迁移申请，由新社区审核",
            "Your community is already set; apply for a move, which the new community approves",
        ),
    }
)


def find_or_create_user(openid: str, unionid: str | None) -> User:
    """The user of this openid, made on first login (two racing first logins make one user)."""
    user = db.session.scalars(select(User).where(User.openid == openid)).first()
    if user is None:
        try:
            with db.session.begin_nested():
                user = User(openid=openid, unionid=unionid, nickname="")
                db.session.add(user)
        except IntegrityError:
            user = db.session.scalars(select(User).where(User.openid == openid)).one()
    if unionid and user.unionid != unionid:
        user.unionid = unionid
    user.last_login_at = clock.now()
    db.session.flush()
    return user


def get_user(user_id: int) -> User:
    """A user by id, or USER_NOT_FOUND."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("USER_NOT_FOUND", details={"user_id": user_id})
    return user


def lock_user(user_id: int) -> User:
    """The user row, locked until the transaction ends (PostgreSQL; SQLite writes one at a time) and read
    afresh, so a decision sees the community another transaction just committed."""
    query = select(User).where(User.id == user_id).execution_options(populate_existing=True)
    if is_postgres():
        query = query.with_for_update()
    user = db.session.scalars(query).first()
    if user is None:
        raise NotFound("USER_NOT_FOUND", details={"user_id": user_id})
    return user


def update_profile(user: User, nickname: str | None, community_id: int | None) -> User:
    """Change the nickname, and choose the community a user lives in while they have none.

    Once it is set, the community changes only by a move the new community's staff approve
    (server/users/moves.py): a different one refuses the whole request (COMMUNITY_MOVE_REQUIRED, the
    nickname unchanged too); the same one again is a harmless resend."""
    if community_id is not None:
        user = lock_user(user.id)  # two first choices at once: the second sees the first
        if community_id != user.community_id:
            community = get_community(community_id)
            if user.community_id is not None:
                raise Conflict(
                    "COMMUNITY_MOVE_REQUIRED",
                    details={"community_id": user.community_id, "apply": "/api/v1/me/community-moves"},
                )
            user.community = community
    if nickname is not None:
        user.nickname = nickname.strip()
    db.session.flush()
    return user


def bind_phone(user: User, phone_code: str) -> User:
    """Exchange a WeChat phone code for the user's number (kept whole, shown masked)."""
    try:
        info = wechat_client().get_phone_number(phone_code)
    except WeChatCodeInvalid as exc:
        raise AppError("WECHAT_PHONE_CODE_INVALID", status=400, details={"errcode": exc.errcode}) from exc
    except WeChatError as exc:
        raise wechat_unavailable(exc) from exc
    user.phone = info.pure_phone_number
    db.session.flush()
    return user


def create_staff(
    username: str, password: str, role: str, org_code: str, display_name: str = ""
) -> StaffAccount:
    """A console account scoped to an org unit and its subtree."""
    if role not in STAFF_ROLES:
        raise AppError("VALIDATION_ERROR", status=422, details={"role": f"one of {', '.join(STAFF_ROLES)}"})
    if len(password) < 8:
        raise AppError("VALIDATION_ERROR", status=422, details={"password": "at least 8 characters"})
    org = get_org_by_code(org_code)
    if db.session.scalars(select(StaffAccount.id).where(StaffAccount.username == username)).first():
        raise Conflict("USERNAME_TAKEN", details={"username": username})
    staff = StaffAccount(
        username=username,
        password_hash=hash_password(password),
        role=role,
        org=org,
        display_name=display_name or username,
    )
    db.session.add(staff)
    db.session.flush()
    audit.record(
        "staff.created", None, "staff", staff.id, None, {"username": username, "role": role, "org": org.code}
    )
    return staff


def submit_party_report(
    principal: Principal, community_id: int, branch: str, employer: str | None
) -> PartyReport:
    """A user reports (报到) to a community as a party member; staff of that community decide."""
    authorize(principal, "party_report.create")
    user = principal.user
    assert user is not None  # noqa: S101  (the policy lets only users report)
    community = get_community(community_id)
    if user.party_community_id == community.id:
        raise Conflict("ALREADY_PARTY_MEMBER", details={"community_id": community.id})
    report = PartyReport(
        user=user, community=community, branch=branch.strip(), employer=(employer or "").strip() or None
    )
    try:
        with db.session.begin_nested():
            db.session.add(report)
    except IntegrityError as exc:
        # The partial unique index allows one pending report per user.
        raise Conflict("PARTY_REPORT_PENDING") from exc
    return report


def my_party_report(principal: Principal) -> PartyReport:
    """The caller's latest party report (newest first), or PARTY_REPORT_NOT_FOUND if they never reported."""
    authorize(principal, "party_report.create")
    assert principal.user is not None  # noqa: S101  (the policy lets only users report)
    query = (
        select(PartyReport)
        .where(PartyReport.user_id == principal.user.id)
        .options(selectinload(PartyReport.community), selectinload(PartyReport.user))
        .order_by(PartyReport.created_at.desc(), PartyReport.id.desc())
        .limit(1)
    )
    report = db.session.scalars(query).first()
    if report is None:
        raise NotFound("PARTY_REPORT_NOT_FOUND")
    return report


def list_party_reports(
    principal: Principal, status: str | None, page: int, page_size: int, community_id: int | None = None
) -> tuple[list[PartyReport], int]:
    """Reports to communities in the caller's subtree (or one of them), oldest first."""
    authorize(principal, "party_report.list")
    query = select(PartyReport).where(PartyReport.community_id.in_(staff_scope_ids(principal)))
    if status:
        query = query.where(PartyReport.status == status)
    if community_id is not None:
        query = query.where(PartyReport.community_id == community_id)
    # each reporter's name and community, in one query more
    shown = query.options(selectinload(PartyReport.user), selectinload(PartyReport.community))
    found: list[PartyReport]
    found, total = paginate(shown.order_by(PartyReport.created_at, PartyReport.id), page, page_size)
    return found, total


def pending_party_reports(principal: Principal) -> int:
    """Party reports waiting for a decision in the staff member's communities."""
    query = select(func.count()).where(
        PartyReport.status == "pending", PartyReport.community_id.in_(staff_scope_ids(principal))
    )
    return int(db.session.scalar(query) or 0)


def _load_pending_report(principal: Principal, report_id: int) -> PartyReport:
    query = select(PartyReport).where(PartyReport.id == report_id)
    if is_postgres():
        query = query.with_for_update()
    report = db.session.scalars(query).first()
    if report is None:
        raise NotFound("PARTY_REPORT_NOT_FOUND", details={"id": report_id})
    authorize(principal, "party_report.decide", report)
    if report.status != "pending":
        raise Conflict("PARTY_REPORT_DECIDED", details={"status": report.status})
    return report


def approve_party_report(principal: Principal, report_id: int) -> PartyReport:
    """Make the reporting user a party member of the report's community."""
    report = _load_pending_report(principal, report_id)
    report.status, report.decided_by, report.decided_at = "approved", principal.staff, clock.now()
    user = report.user
    user.party_community = report.community
    user.party_branch, user.party_employer = report.branch, report.employer
    user.party_member_since = user.party_member_since or clock.now()
    if user.community_id is None:
        user.community = report.community
    db.session.flush()
    audit.record(
        "party_report.approved", principal, "user", user.id, report.community_id, {"report_id": report.id}
    )
    _notify_decision(report)
    return report


def _notify_decision(report: PartyReport) -> None:
    """Tell the reporting user how staff decided."""
    assert report.decided_at is not None  # noqa: S101  (called on a report just decided)
    publish(
        f"party_report.{report.status}",
        [report.user_id],
        {
            "report_id": report.id,
            "community": report.community.name,
            "reason": report.reason or "",
            "decided_at": report.decided_at.astimezone(SERVER_ZONE).strftime("%Y-%m-%d %H:%M"),
        },
    )


def reject_party_report(principal: Principal, report_id: int, reason: str) -> PartyReport:
    """Refuse a report with a reason the user will see."""
    if not reason or not reason.strip():
        raise AppError("REASON_REQUIRED", status=422)
    report = _load_pending_report(principal, report_id)
    report.status, report.reason = "rejected", reason.strip()
    report.decided_by, report.decided_at = principal.staff, clock.now()
    db.session.flush()
    _notify_decision(report)
    return report


def register_volunteer(principal: Principal, community_id: int, user_id: int) -> User:
    """Staff record a resident (or party member) of their community as its volunteer (志愿者), once;
    moving them is explicit."""
    community = get_community(community_id)
    authorize(principal, "volunteer.manage", community)
    user = db.session.get(User, user_id)
    # Only the community's own residents and party members; anyone else is the 404 of an unknown id, so
    # staff of one community cannot enumerate, or take onto their roll, the residents of another.
    if user is None or community.id not in (user.community_id, user.party_community_id):
        raise NotFound("USER_NOT_FOUND", details={"id": user_id})
    if user.volunteer_community_id not in (None, community.id):
        raise Conflict("VOLUNTEER_ELSEWHERE", details={"community_id": user.volunteer_community_id})
    if user.volunteer_community_id is None:
        user.volunteer_community_id, user.volunteer_since = community.id, clock.now()
        audit.record("volunteer.registered", principal, "user", user.id, community.id)
    db.session.flush()
    return user


def remove_volunteer(principal: Principal, community_id: int, user_id: int) -> None:
    """Staff take a volunteer off their community's list."""
    community = get_community(community_id)
    authorize(principal, "volunteer.manage", community)
    user = db.session.get(User, user_id)
    if user is None or user.volunteer_community_id != community.id:
        raise NotFound("VOLUNTEER_NOT_FOUND", details={"user_id": user_id})
    user.volunteer_community_id, user.volunteer_since = None, None
    audit.record("volunteer.removed", principal, "user", user.id, community.id)
    db.session.flush()


def list_volunteers(
    principal: Principal, community_id: int, page: int, page_size: int
) -> tuple[list[User], int]:
    """Volunteers of a community, longest-serving first."""
    community = get_community(community_id)
    authorize(principal, "volunteer.manage", community)
    query = select(User).where(User.volunteer_community_id == community.id)
    return paginate(query.order_by(User.volunteer_since, User.id), page, page_size)


def staff_names(ids: set[int | None]) -> dict[int, str]:
    """Display names (or usernames) of staff accounts by id, in one query."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = db.session.execute(
        select(StaffAccount.id, StaffAccount.display_name, StaffAccount.username).where(
            StaffAccount.id.in_(wanted)
        )
    )
    return {staff_id: display or username for staff_id, display, username in rows}


# --- disabling a resident ---------------------------------------------------------------------------------


def _user_for_staff(principal: Principal, user_id: int) -> User:
    """The user row, locked, for staff covering their community or party community; anyone else the 404
    of an unknown id."""
    user = lock_user(user_id)
    if not allowed(principal, "user.disable", user):
        raise NotFound("USER_NOT_FOUND", details={"user_id": user_id})
    return user


def disable_user(principal: Principal, user_id: int, reason: str) -> User:
    """Staff disable a resident: login, refresh and every request refused (ACCOUNT_DISABLED), their access
    tokens stopped (token_version) and refresh families revoked; audited. Again: the same state, unchanged."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError("REASON_REQUIRED", status=422)
    user = _user_for_staff(principal, user_id)
    if user.disabled_at is not None:
        return user
    assert principal.staff is not None  # noqa: S101  (the policy lets only staff disable)
    now = clock.now()
    user.disabled_at, user.disabled_reason, user.disabled_by_id = now, reason, principal.staff.id
    revoked = end_logins("user", user, "disabled")
    audit.record(
        "user.disabled",
        principal,
        "user",
        user.id,
        user.community_id,
        {"reason": reason, "refresh_tokens_revoked": revoked},
    )
    return user


def enable_user(principal: Principal, user_id: int) -> User:
    """Staff give a disabled resident their account back (they log in afresh); audited. Again: unchanged."""
    user = _user_for_staff(principal, user_id)
    if user.disabled_at is None:
        return user
    reason = user.disabled_reason
    user.disabled_at, user.disabled_reason, user.disabled_by_id = None, None, None
    db.session.flush()
    audit.record("user.enabled", principal, "user", user.id, user.community_id, {"disabled_reason": reason})
    return user


# --- member search ----------------------------------------------------------------------------------------

_FULL_PHONE = re.compile(r"^(?:\+?86)?1\d{10}$")
_LAST4_THEN_NAME = re.compile(r"^(\d{4})\s*(\D.*)$")
_NAME_THEN_LAST4 = re.compile(r"^(.*\D)\s*(\d{4})$")


@dataclass(frozen=True)
class MemberQuery:
    """What a member search matches, and how it is written in the audit log."""

    kind: str  # full_phone | last4_name | name
    condition: ColumnElement[bool]
    logged: str  # a full number masked (138****3164); names as typed


def member_query(typed: str) -> MemberQuery:
    """The whole number (by its keyed hash), the last four digits with a name, or a name; digits alone,
    a prefix or a 138* pattern match no phone, so a number cannot be rebuilt digit by digit."""
    compact = re.sub(r"[\s-]", "", typed)
    if _FULL_PHONE.fullmatch(compact):
        number = normalise_phone(compact)
        matches = User.phone_hash == phone_lookup_hash(number)
        return MemberQuery("full_phone", matches, mask_phone(number) or "")
    pair = _LAST4_THEN_NAME.fullmatch(typed) or _NAME_THEN_LAST4.fullmatch(typed)
    if pair:
        digits, name = (pair[1], pair[2]) if pair[1].isdigit() else (pair[2], pair[1])
        name = name.strip()
        if any(ch.isalpha() for ch in name):
            return MemberQuery(
                "last4_name",
                and_(User.phone_last4 == digits, User.nickname.icontains(name, autoescape=True)),
                f"{name} {digits}",
            )
    return MemberQuery("name", User.nickname.icontains(typed, autoescape=True), typed)


def search_members(principal: Principal, typed: str, page: int, page_size: int) -> tuple[list[User], int]:
    """Members of the staff member's communities (or party communities), by name, the whole phone number
    or its last four digits with a name; each search with words is audited (member.search)."""
    scope = staff_scope_ids(principal)
    query = select(User).where(or_(User.community_id.in_(scope), User.party_community_id.in_(scope)))
    searched = member_query(typed) if typed else None
    if searched is not None:
        query = query.where(searched.condition)
    found: list[User]
    found, total = paginate(query.order_by(User.nickname, User.id), page, page_size)
    if searched is not None:
        audit.record(
            "member.search",
            principal,
            None,
            None,
            None,
            {"query_kind": searched.kind, "query": searched.logged, "results": total},
        )
    return found, total
