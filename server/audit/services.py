"""Writing and reading the audit log.

``record`` adds the entry to the caller's transaction: a write is audited only if it happens, and a read
(a contact shown, a search run) is audited by the same commit that answers it. Actions are stable dotted
words (``ACTIONS``); the console shows their Chinese labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_request_context, request
from sqlalchemy import delete, func, or_, select

from server import clock
from server.audit.models import AuditEntry
from server.auth.policy import Principal
from server.db import db, paginate
from server.orgs.models import OrgUnit
from server.users.models import StaffAccount

# Every action the log knows, with what an admin reads on the page.
ACTIONS: dict[str, str] = {
    "member.search": "搜索居民",
    "member.viewed": "查看居民档案",
    "wish.contact_revealed": "查看心愿联系方式",
    "points.adjusted": "积分调整",
    "points.reversed": "积分冲正",
    "checkin.voided": "作废签到",
    "user.disabled": "停用居民账号",
    "user.enabled": "恢复居民账号",
    "user.logged_out_everywhere": "退出全部登录",
    "staff.locked": "账号登录锁定",
    "staff.unlock_requested": "发送解锁码",
    "staff.unlocked": "解锁工作人员账号",
    "staff.password_changed": "修改密码",
    "staff.disabled": "停用工作人员账号",
    "staff.enabled": "启用工作人员账号",
    "staff.logged_out_everywhere": "工作人员退出全部登录",
    "staff.created": "创建工作人员账号",
    "party_report.approved": "通过党员报到",
    "volunteer.registered": "登记志愿者",
    "volunteer.removed": "取消志愿者",
    "community_move.approved": "通过社区迁移",
}


def _address() -> str | None:
    return (request.remote_addr or None) if has_request_context() else None


def record(
    action: str,
    actor: Principal | None,
    subject_kind: str | None = None,
    subject_id: int | None = None,
    community_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry to the current transaction (``actor`` None: the system, e.g. a job)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action}")
    entry = AuditEntry(
        at=clock.now(),
        actor_kind=actor.kind if actor is not None else "system",
        actor_id=actor.id if actor is not None else None,
        action=action,
        subject_kind=subject_kind,
        subject_id=subject_id,
        community_id=community_id,
        address=_address(),
        detail=detail or {},
    )
    # Not flushed here: the transaction's next flush writes it, so a page showing fifty contacts inserts its
    # fifty entries in one batch rather than one round trip each.
    db.session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """What the admin page narrows the log to."""

    action: str | None = None
    actor_staff_id: int | None = None
    subject_kind: str | None = None
    subject_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _visible_to(principal: Principal) -> Any:
    """Entries of the admin's communities, and entries of no community by staff of the admin's subtree."""
    staff = principal.staff
    assert staff is not None  # noqa: S101  (the page is for admins)
    prefix = staff.org.path
    in_subtree = select(OrgUnit.id).where(OrgUnit.path.startswith(prefix))
    staff_in_subtree = (
        select(StaffAccount.id)
        .join(OrgUnit, StaffAccount.org_id == OrgUnit.id)
        .where(OrgUnit.path.startswith(prefix))
    )
    return or_(
        AuditEntry.community_id.in_(in_subtree),
        (AuditEntry.community_id.is_(None))
        & (AuditEntry.actor_kind == "staff")
        & AuditEntry.actor_id.in_(staff_in_subtree),
        (AuditEntry.community_id.is_(None))
        & (AuditEntry.subject_kind == "staff")
        & AuditEntry.subject_id.in_(staff_in_subtree),
    )


def list_entries(
    principal: Principal, found: AuditFilter, page: int, size: int
) -> tuple[list[AuditEntry], int]:
    """The entries an admin may read, newest first."""
    query = select(AuditEntry).where(_visible_to(principal))
    if found.action:
        query = query.where(AuditEntry.action == found.action)
    if found.actor_staff_id is not None:
        query = query.where(AuditEntry.actor_kind == "staff", AuditEntry.actor_id == found.actor_staff_id)
    if found.subject_kind:
        query = query.where(AuditEntry.subject_kind == found.subject_kind)
    if found.subject_id is not None:
        query = query.where(AuditEntry.subject_id == found.subject_id)
    if found.since is not None:
        query = query.where(AuditEntry.at >= found.since)
    if found.until is not None:
        query = query.where(AuditEntry.at < found.until)
    return paginate(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()), page, size)


def entries_about(subject_kind: str, subject_id: int, action: str | None = None) -> list[AuditEntry]:
    """Every entry about one thing (e.g. who saw a wish's contact), oldest first."""
    query = select(AuditEntry).where(
        AuditEntry.subject_kind == subject_kind, AuditEntry.subject_id == subject_id
    )
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query.order_by(AuditEntry.at, AuditEntry.id)))


def count_recent(action: str, actor: Principal, since: datetime) -> int:
    """How many times ``actor`` did ``action`` since a moment (for limits that count audited acts)."""
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.action == action,
                AuditEntry.actor_kind == actor.kind,
                AuditEntry.actor_id == actor.id,
                AuditEntry.at >= since,
            )
        )
        or 0
    )


def purge_expired() -> int:
    """Delete entries older than ``AUDIT_RETENTION_DAYS``; how many went."""
    cutoff = clock.now() - timedelta(days=int(current_app.config["AUDIT_RETENTION_DAYS"]))
    result = db.session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
