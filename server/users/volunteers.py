"""Volunteer applications (志愿者申请): a resident asks to volunteer for their community; its staff accept
(the resident is then on the community's volunteer roll, as if staff had registered them) or decline with a
reason the resident reads.

- Only a community's own residents and party members may apply to it (anyone else: NOT_YOUR_COMMUNITY).
- One pending application per resident (a partial unique index). Applying again to the same community
  answers the same application (a resend); applying to another one withdraws the pending one.
- Staff of the community decide; to anyone else an application does not exist (404). Deciding again the
  same way answers the decision already taken; the opposite decision is VOLUNTEER_APPLICATION_DECIDED.

Lock order, everywhere: the user row, then the application row.
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
from server.errors import AppError, Conflict, Forbidden, NotFound, register_messages
from server.notifications.services import publish
from server.orgs.services import get_community
from server.users import policy  # noqa: F401  (registers the rules "volunteer_application.*")
from server.users.models import User, VolunteerApplication
from server.users.services import lock_user

register_messages(
    {
        "NOT_YOUR_COMMUNITY_VOLUNTEER": (
            "只能申请成为您所在社区或党员报到社区的志愿者",
            "You may volunteer only for the community you live in or reported to as a party member",
        ),
        "ALREADY_VOLUNTEER": ("您已是该社区的志愿者", "You already volunteer for this community"),
        "VOLUNTEER_APPLICATION_PENDING": (
            "您已有待审核的志愿者申请",
            "You already have a volunteer application waiting for a decision",
        ),
        "VOLUNTEER_APPLICATION_NOT_FOUND": ("志愿者申请不存在", "No such volunteer application"),
        "VOLUNTEER_APPLICATION_DECIDED": (
            "该志愿者申请已处理或已被居民撤回",
            "This application was already decided or withdrawn by the resident",
        ),
    }
)


def _with_people(query: Select[VolunteerApplication]) -> Select[VolunteerApplication]:
    return query.options(
        selectinload(VolunteerApplication.user), selectinload(VolunteerApplication.community)
    )


def _pending_of(user_id: int) -> VolunteerApplication | None:
    """The user's pending application, locked (call with the user row locked)."""
    query = (
        select(VolunteerApplication)
        .where(VolunteerApplication.user_id == user_id, VolunteerApplication.status == "pending")
        .execution_options(populate_existing=True)
    )
    if is_postgres():
        query = query.with_for_update()
    return db.session.scalars(query).first()


def _latest_of(user_id: int) -> VolunteerApplication | None:
    query = (
        select(VolunteerApplication)
        .where(VolunteerApplication.user_id == user_id)
        .order_by(VolunteerApplication.created_at.desc(), VolunteerApplication.id.desc())
    )
    return db.session.scalars(_with_people(query)).first()


def apply_to_volunteer(principal: Principal, community_id: int, note: str) -> VolunteerApplication:
    """A resident asks to volunteer for their community; until its staff accept, they are not on its roll."""
    authorize(principal, "volunteer_application.apply")
    assert principal.user is not None  # noqa: S101  (the policy lets only users apply)
    community = get_community(community_id)
    user = lock_user(principal.user.id)
    if community.id not in (user.community_id, user.party_community_id):
        raise Forbidden("NOT_YOUR_COMMUNITY_VOLUNTEER", details={"community_id": community.id})
    if user.volunteer_community_id == community.id:
        latest = _latest_of(user.id)
        if latest is not None and latest.status == "accepted" and latest.community_id == community.id:
            return latest  # a resend after staff accepted: the same application
        raise Conflict("ALREADY_VOLUNTEER", details={"community_id": community.id})
    if user.volunteer_community_id is not None:
        raise Conflict("VOLUNTEER_ELSEWHERE", details={"community_id": user.volunteer_community_id})
    pending = _pending_of(user.id)
    if pending is not None:
        if pending.community_id == community.id:
            return pending  # a resend: the same application
        pending.status, pending.decided_at = "withdrawn", clock.now()
        db.session.flush()
    application = VolunteerApplication(user=user, community=community, note=note.strip()[:200])
    try:
        with db.session.begin_nested():
            db.session.add(application)
    except IntegrityError as exc:
        # Not reached while the user row is locked; the partial unique index keeps it so regardless.
        raise Conflict("VOLUNTEER_APPLICATION_PENDING") from exc
    return application


def my_application(principal: Principal) -> VolunteerApplication | None:
    """The resident's latest application, whatever became of it (None if they never applied)."""
    authorize(principal, "volunteer_application.apply")
    assert principal.user is not None  # noqa: S101
    return _latest_of(principal.user.id)


def withdraw_application(principal: Principal) -> None:
    """The resident takes back their pending application; with none pending there is nothing to do."""
    authorize(principal, "volunteer_application.apply")
    assert principal.user is not None  # noqa: S101
    lock_user(principal.user.id)
    pending = _pending_of(principal.user.id)
    if pending is not None:
        pending.status, pending.decided_at = "withdrawn", clock.now()
        db.session.flush()


def list_applications(
    principal: Principal, status: str | None, page: int, page_size: int, community_id: int | None = None
) -> tuple[list[VolunteerApplication], int]:
    """Applications to the communities of the caller's subtree (or to one of them), oldest first."""
    authorize(principal, "volunteer_application.list")
    query = select(VolunteerApplication).where(
        VolunteerApplication.community_id.in_(staff_scope_ids(principal))
    )
    if status:
        query = query.where(VolunteerApplication.status == status)
    if community_id is not None:
        query = query.where(VolunteerApplication.community_id == community_id)
    found: list[VolunteerApplication]
    found, total = paginate(
        _with_people(query).order_by(VolunteerApplication.created_at, VolunteerApplication.id),
        page,
        page_size,
    )
    return found, total


def pending_applications(principal: Principal) -> int:
    """Applications waiting for a decision in the staff member's communities."""
    query = select(func.count()).where(
        VolunteerApplication.status == "pending",
        VolunteerApplication.community_id.in_(staff_scope_ids(principal)),
    )
    return int(db.session.scalar(query) or 0)


def _load_for_decision(principal: Principal, application_id: int) -> VolunteerApplication:
    """The application with its user row and its own row locked; 404 unless the caller decides for its
    community."""
    application = db.session.get(VolunteerApplication, application_id)
    if application is None or not allowed(principal, "volunteer_application.decide", application):
        raise NotFound("VOLUNTEER_APPLICATION_NOT_FOUND", details={"id": application_id})
    lock_user(application.user_id)
    query = (
        select(VolunteerApplication)
        .where(VolunteerApplication.id == application_id)
        .execution_options(populate_existing=True)
    )
    if is_postgres():
        query = query.with_for_update()
    return db.session.scalars(query).one()


def accept_application(principal: Principal, application_id: int) -> VolunteerApplication:
    """The resident is now a volunteer of the community; accepting again answers the same acceptance."""
    application = _load_for_decision(principal, application_id)
    if application.status == "accepted":
        return application
    if application.status != "pending":
        raise Conflict("VOLUNTEER_APPLICATION_DECIDED", details={"status": application.status})
    user: User = application.user
    if user.volunteer_community_id not in (None, application.community_id):
        raise Conflict("VOLUNTEER_ELSEWHERE", details={"community_id": user.volunteer_community_id})
    if user.volunteer_community_id is None:
        user.volunteer_community_id, user.volunteer_since = application.community_id, clock.now()
    application.status, application.decided_by, application.decided_at = (
        "accepted",
        principal.staff,
        clock.now(),
    )
    db.session.flush()
    audit.record(
        "volunteer.registered",
        principal,
        "user",
        user.id,
        application.community_id,
        {"application_id": application.id},
    )
    _notify_decision(application)
    return application


def decline_application(principal: Principal, application_id: int, reason: str) -> VolunteerApplication:
    """Refuse an application with a reason the resident will read."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError("REASON_REQUIRED", status=422)
    application = _load_for_decision(principal, application_id)
    if application.status == "declined":
        return application
    if application.status != "pending":
        raise Conflict("VOLUNTEER_APPLICATION_DECIDED", details={"status": application.status})
    application.status, application.decision_reason = "declined", reason[:255]
    application.decided_by, application.decided_at = principal.staff, clock.now()
    db.session.flush()
    _notify_decision(application)
    return application


def _notify_decision(application: VolunteerApplication) -> None:
    """Tell the resident how staff decided."""
    assert application.decided_at is not None  # noqa: S101  (called on an application just decided)
    publish(
        f"volunteer_application.{application.status}",
        [application.user_id],
        {
            "application_id": application.id,
            "community": application.community.name,
            "reason": application.decision_reason or "",
            "decided_at": application.decided_at.astimezone(SERVER_ZONE).strftime("%Y-%m-%d %H:%M"),
        },
    )


def roster(principal: Principal, community_id: int | None, limit: int = 500) -> list[User]:
    """Volunteers of the caller's communities (or of one of them), longest-serving first."""
    authorize(principal, "volunteer_application.list")
    query = select(User).where(User.volunteer_community_id.in_(staff_scope_ids(principal)))
    if community_id is not None:
        query = query.where(User.volunteer_community_id == community_id)
    query = query.options(selectinload(User.volunteer_community))
    return list(db.session.scalars(query.order_by(User.volunteer_since, User.id).limit(limit)))
