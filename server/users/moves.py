"""Community moves (社区迁移): once a resident's community is set, it changes only when staff of the
community they move into approve their application. The rows are the history of where they lived.

- One pending move per resident (a partial unique index). Applying again to the same community is a
  resend and answers the same move; applying to another one withdraws the pending move (``cancelled``)
  and opens a new one: the latest application is what the resident means.
- Staff of the new community decide; to anyone else a move does not exist (404). Approving or rejecting
  again answers the decision already taken; the opposite decision is refused (COMMUNITY_MOVE_DECIDED).

Lock order, everywhere: the user row, then the move row.
"""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from server import clock
from server.audit import services as audit
from server.auth.policy import Principal, allowed, authorize, staff_scope_ids
from server.clock import SERVER_ZONE
from server.db import db, is_postgres, paginate
from server.errors import AppError, Conflict, NotFound, register_messages
from server.notifications.services import publish
from server.orgs.services import get_community
from server.users import policy  # noqa: F401  (registers the rules "community_move.*")
from server.users.models import CommunityMove, User
from server.users.services import lock_user

register_messages(
    {
        "COMMUNITY_NOT_SET": (
            "您还没有选择所在社区，请先在个人资料中选择",
            "You have not chosen your community yet; choose it in your profile",
        ),
        "ALREADY_IN_COMMUNITY": ("您已是该社区的居民", "You already live in this community"),
        "COMMUNITY_MOVE_PENDING": (
            "您已有待审核的社区迁移申请",
            "You already have a community move waiting for a decision",
        ),
        "COMMUNITY_MOVE_NOT_FOUND": ("社区迁移申请不存在", "No such community move"),
        "COMMUNITY_MOVE_DECIDED": (
            "该迁移申请已处理或已被居民撤回",
            "This move was already decided or withdrawn by the resident",
        ),
    }
)

MEMBER_HISTORY = 20  # moves shown on a member's console page


def _with_communities(query: Select[CommunityMove]) -> Select[CommunityMove]:
    """Each move's resident and communities, in one query more each (for lists)."""
    return query.options(
        selectinload(CommunityMove.user),
        selectinload(CommunityMove.from_community),
        selectinload(CommunityMove.to_community),
    )


def _pending_move_of(user_id: int) -> CommunityMove | None:
    """The user's pending move, locked (call with the user row locked)."""
    query = (
        select(CommunityMove)
        .where(CommunityMove.user_id == user_id, CommunityMove.status == "pending")
        .execution_options(populate_existing=True)
    )
    if is_postgres():
        query = query.with_for_update()
    return db.session.scalars(query).first()


def apply_for_move(principal: Principal, community_id: int, reason: str) -> CommunityMove:
    """A resident applies to live in another community; until its staff approve, nothing changes."""
    authorize(principal, "community_move.apply")
    assert principal.user is not None  # noqa: S101  (the policy lets only users apply)
    reason = reason.strip()
    if not reason:
        raise AppError("REASON_REQUIRED", status=422)
    community = get_community(community_id)
    user = lock_user(principal.user.id)
    if user.community_id is None:
        raise Conflict("COMMUNITY_NOT_SET", details={"set": "PATCH /api/v1/me"})
    if user.community_id == community.id:
        raise Conflict("ALREADY_IN_COMMUNITY", details={"community_id": community.id})
    pending = _pending_move_of(user.id)
    if pending is not None:
        if pending.to_community_id == community.id:
            return pending  # a resend: the same move
        pending.status, pending.decided_at = "cancelled", clock.now()
        db.session.flush()
    move = CommunityMove(
        user=user, from_community_id=user.community_id, to_community=community, reason=reason
    )
    try:
        with db.session.begin_nested():
            db.session.add(move)
    except IntegrityError as exc:
        # Not reached while the user row is locked; the partial unique index keeps it so regardless.
        raise Conflict("COMMUNITY_MOVE_PENDING") from exc
    return move


def my_moves(principal: Principal, page: int, page_size: int) -> tuple[list[CommunityMove], int]:
    """The resident's own moves, newest first: where they lived and what they applied for."""
    authorize(principal, "community_move.apply")
    assert principal.user is not None  # noqa: S101  (the policy lets only users in)
    query = _with_communities(select(CommunityMove).where(CommunityMove.user_id == principal.user.id))
    found: list[CommunityMove]
    found, total = paginate(
        query.order_by(CommunityMove.created_at.desc(), CommunityMove.id.desc()), page, page_size
    )
    return found, total


def list_moves(
    principal: Principal, status: str | None, page: int, page_size: int, community_id: int | None = None
) -> tuple[list[CommunityMove], int]:
    """Moves into the communities of the caller's subtree (or into one of them), oldest first."""
    authorize(principal, "community_move.list")
    query = select(CommunityMove).where(CommunityMove.to_community_id.in_(staff_scope_ids(principal)))
    if status:
        query = query.where(CommunityMove.status == status)
    if community_id is not None:
        query = query.where(CommunityMove.to_community_id == community_id)
    found: list[CommunityMove]
    found, total = paginate(
        _with_communities(query).order_by(CommunityMove.created_at, CommunityMove.id), page, page_size
    )
    return found, total


def pending_moves(principal: Principal) -> int:
    """Moves waiting for a decision into the staff member's communities."""
    query = select(func.count()).where(
        CommunityMove.status == "pending", CommunityMove.to_community_id.in_(staff_scope_ids(principal))
    )
    return int(db.session.scalar(query) or 0)


def _load_for_decision(principal: Principal, move_id: int) -> CommunityMove:
    """The move with its user row and its own row locked; 404 unless the caller decides moves into its
    community (staff of the community left, or of any other, learn nothing of it)."""
    move = db.session.get(CommunityMove, move_id)
    if move is None or not allowed(principal, "community_move.decide", move):
        raise NotFound("COMMUNITY_MOVE_NOT_FOUND", details={"id": move_id})
    lock_user(move.user_id)
    query = select(CommunityMove).where(CommunityMove.id == move_id).execution_options(populate_existing=True)
    if is_postgres():
        query = query.with_for_update()
    return db.session.scalars(query).one()


def approve_move(principal: Principal, move_id: int) -> CommunityMove:
    """The resident now lives in the new community; approving again answers the same approval."""
    move = _load_for_decision(principal, move_id)
    if move.status == "approved":
        return move
    if move.status != "pending":
        raise Conflict("COMMUNITY_MOVE_DECIDED", details={"status": move.status})
    move.user.community = move.to_community
    move.status, move.decided_by, move.decided_at = "approved", principal.staff, clock.now()
    db.session.flush()
    audit.record(
        "community_move.approved", principal, "user", move.user_id, move.to_community_id, {"move_id": move.id}
    )
    _notify_decision(move)
    return move


def reject_move(principal: Principal, move_id: int, reason: str) -> CommunityMove:
    """Refuse a move with a reason the resident will read; they stay where they live."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError("REASON_REQUIRED", status=422)
    move = _load_for_decision(principal, move_id)
    if move.status == "rejected":
        return move
    if move.status != "pending":
        raise Conflict("COMMUNITY_MOVE_DECIDED", details={"status": move.status})
    move.status, move.decision_reason = "rejected", reason
    move.decided_by, move.decided_at = principal.staff, clock.now()
    db.session.flush()
    _notify_decision(move)
    return move


def _notify_decision(move: CommunityMove) -> None:
    """Tell the resident how the new community's staff decided."""
    assert move.decided_at is not None  # noqa: S101  (called on a move just decided)
    publish(
        f"community_move.{move.status}",
        [move.user_id],
        {
            "move_id": move.id,
            "community": move.to_community.name,
            "reason": move.decision_reason or "",
            "decided_at": move.decided_at.astimezone(SERVER_ZONE).strftime("%Y-%m-%d %H:%M"),
        },
    )


def moves_of_member(principal: Principal, user: User) -> list[CommunityMove]:
    """A member's latest moves, newest first, for staff who may open the member's page."""
    authorize(principal, "community_move.history", user)
    query = _with_communities(select(CommunityMove).where(CommunityMove.user_id == user.id)).options(
        selectinload(CommunityMove.decided_by)
    )
    return list(
        db.session.scalars(
            query.order_by(CommunityMove.created_at.desc(), CommunityMove.id.desc()).limit(MEMBER_HISTORY)
        )
    )
