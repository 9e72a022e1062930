"""Publishing events through the outbox, the inbox, subscribe grants, and the steps of a delivery."""

from __future__ import annotations

import json
import logging
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from flask import current_app
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import event, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from server import clock
from server.db import db, is_postgres, paginate_newest_first
from server.errors import AppError, register_messages
from server.jobs import QUEUES, queue
from server.notifications.models import Delivery, Notification, OutboxMessage, SubscriptionGrant
from server.users.models import User

log = logging.getLogger(__name__)
DEFAULT_TEMPLATES_FILE = Path(__file__).with_name("templates.json")

register_messages(
    {
        "TEMPLATE_UNKNOWN": ("未知的订阅消息模板", "Unknown subscribe message template"),
        "NOTIFICATION_IDS_OR_ALL": ("请提供 ids 或 all", "Give either ids or all"),
    }
)

# WeChat's limits per data key type (the key's letters before its number), in characters.
FIELD_LIMITS = {
    "thing": 20,
    "name": 10,
    "phrase": 5,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "car_number": 8,
    "phone_number": 17,
    "amount": 11,
}


# --- templates --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeChatTemplate:
    """Which subscribe template an event uses, the page it opens and how its data is filled."""

    template_id: str
    page: str | None
    data: dict[str, str]


@dataclass(frozen=True)
class Template:
    """How an event reads in the inbox and, optionally, as a WeChat subscribe message."""

    event: str
    title: str
    body: str
    wechat: WeChatTemplate | None


@lru_cache(maxsize=8)
def _load_templates(path: str) -> dict[str, Template]:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    templates = {}
    for name, spec in raw.items():
        if name.startswith("_"):
            continue
        wechat = spec.get("wechat")
        templates[name] = Template(
            event=name,
            title=spec["title"],
            body=spec["body"],
            wechat=WeChatTemplate(wechat["template_id"], wechat.get("page"), dict(wechat["data"]))
            if wechat
            else None,
        )
    return templates


def templates() -> dict[str, Template]:
    """The configured templates (NOTIFICATION_TEMPLATES_FILE, else the packaged defaults)."""
    return _load_templates(
        str(current_app.config.get("NOTIFICATION_TEMPLATES_FILE") or DEFAULT_TEMPLATES_FILE)
    )


def template_ids() -> list[str]:
    """Every WeChat template id in use, for the client's wx.requestSubscribeMessage."""
    return sorted({t.wechat.template_id for t in templates().values() if t.wechat})


# The moment of the mini program at which to call wx.requestSubscribeMessage for an event: the user's
# own action the message will later report on (WeChat lets a page ask only on a tap, 3 templates at once).
ASK_AT: dict[str, str] = {
    "party_report.approved": "party_report.submit",
    "party_report.rejected": "party_report.submit",
    "community_move.approved": "community_move.apply",
    "community_move.rejected": "community_move.apply",
    "volunteer_application.accepted": "volunteer.apply",
    "volunteer_application.declined": "volunteer.apply",
    "activity.reminder": "activity.signup",
    "redemption.approved": "redemption.request",
    "redemption.rejected": "redemption.request",
    "points.adjusted": "points.view",
    "wish.approved": "wish.post",
    "wish.rejected": "wish.post",
    "wish.claimed": "wish.post",
    "wish.unclaimed": "wish.post",
    "wish.reopened": "wish.post",
    "wish.fulfilled": "wish.post",
    "wish.released": "wish.claim",
    "wish.claim_expiring": "wish.claim",
    "wish.cancelled": "wish.claim",
    "wish.completed": "wish.claim",
}
MAX_TEMPLATES_PER_ASK = 3  # wx.requestSubscribeMessage takes at most three one-time templates


def subscribe_catalogue() -> dict[str, Any]:
    """Every subscribe template with the events it carries and the moments to ask for it, and per moment
    the template ids to pass to wx.requestSubscribeMessage (at most three, the most used first)."""
    by_template: dict[str, dict[str, Any]] = {}
    for name, spec in sorted(templates().items()):
        if spec.wechat is None:
            continue
        entry = by_template.setdefault(
            spec.wechat.template_id, {"template_id": spec.wechat.template_id, "events": [], "ask_at": []}
        )
        entry["events"].append(name)
        moment = ASK_AT.get(name)
        if moment and moment not in entry["ask_at"]:
            entry["ask_at"].append(moment)
    uses: dict[str, dict[str, int]] = {}
    for entry in by_template.values():
        for event_name in entry["events"]:
            moment = ASK_AT.get(event_name)
            if moment:
                counts = uses.setdefault(moment, {})
                counts[entry["template_id"]] = counts.get(entry["template_id"], 0) + 1
    moments = {
        moment: sorted(counts, key=lambda t: (-counts[t], t))[:MAX_TEMPLATES_PER_ASK]
        for moment, counts in sorted(uses.items())
    }
    return {"templates": list(by_template.values()), "moments": moments}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render(text: str, payload: dict[str, Any]) -> str:
    """Fill ``{placeholders}`` from the payload; a missing key renders empty rather than failing."""
    return string.Formatter().vformat(text, (), _Blank(payload))


def render_page(page: str | None, payload: dict[str, Any]) -> str | None:
    """The page a tap on the message opens, with the ids of its query filled from the payload
    (``pages/wish/detail?id={wish_id}``). A placeholder the payload lacks drops the whole query: the
    page opens without an id rather than with ``id=``, which no page can use."""
    if page is None:
        return None
    path, _, query = page.partition("?")
    if not query:
        return page
    names = [name for _, name, _, _ in string.Formatter().parse(query) if name]
    if any(payload.get(name) in (None, "") for name in names):
        log.warning("page %s: the payload lacks one of %s; sent without its query", page, names)
        return path
    return f"{path}?{query.format_map({name: quote(str(payload[name]), safe='') for name in names})}"


def fit_field(key: str, value: str) -> str:
    """Cut a data value to WeChat's limit for the key's type (thing ≤ 20 characters, ...)."""
    kind = key.rstrip("0123456789")
    limit = FIELD_LIMITS.get(kind)
    if limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…" if kind in ("thing", "name") else value[:limit]


# --- publishing ---------------------------------------------------------------------------------------


def publish(event_name: str, recipients: list[int], payload: dict[str, Any]) -> list[int]:
    """Write one outbox row per recipient in the current transaction; they are dispatched after commit."""
    if event_name not in templates():
        raise ValueError(f"no template for event {event_name!r}")  # a programming error
    rows = [OutboxMessage(event=event_name, user_id=user_id, payload=payload) for user_id in recipients]
    db.session.add_all(rows)
    db.session.flush()
    ids = [row.id for row in rows]
    db.session().info.setdefault("linli_outbox", []).extend(ids)
    return ids


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    """Hand committed outbox rows to the job queue; if that fails they wait for the relay."""
    if session.in_nested_transaction():
        return  # a savepoint was released (after_commit fires for that too): nothing is committed yet
    ids = session.info.pop("linli_outbox", None)
    if not ids:
        return
    from server.jobs import job_id
    from server.notifications.jobs import deliver_outbox

    for outbox_id in ids:
        try:
            deliver_outbox.enqueue(outbox_id, job_id=job_id("outbox", outbox_id))
        except Exception as exc:  # Redis down: the committed row stays in the outbox for the relay
            log.warning("outbox %s not enqueued (%s); the relay will pick it up", outbox_id, exc)
            break


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    if session.in_nested_transaction():
        # Only a savepoint: rows published before it still commit. Those published inside it are kept
        # too; their jobs find no row and do nothing.
        return
    session.info.pop("linli_outbox", None)


def pending_outbox(older_than: timedelta, limit: int = 500) -> list[int]:
    """Outbox rows not processed yet and older than ``older_than`` (left behind), oldest first."""
    cutoff = clock.now() - older_than
    return list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.processed_at.is_(None), OutboxMessage.created_at < cutoff)
            .order_by(OutboxMessage.created_at)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Backlog:
    """Outbox rows waiting, and the age of the oldest."""

    count: int
    oldest_seconds: float | None


def outbox_backlog() -> Backlog:
    """How far behind delivery is."""
    count, oldest = db.session.execute(
        select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.processed_at.is_(None)
        )
    ).one()
    return Backlog(int(count), (clock.now() - oldest).total_seconds() if oldest else None)


def pending_outbox_rows(limit: int) -> list[OutboxMessage]:
    """The oldest outbox rows not processed yet."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.processed_at.is_(None))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
            .limit(limit)
        )
    )


def relay_pending(older_than: timedelta) -> int:
    """Hand outbox rows left behind to the job queue (each once: the job id is the row's); how many went."""
    from server.jobs import job_id
    from server.notifications.jobs import deliver_outbox

    enqueued = 0
    for outbox_id in pending_outbox(older_than):
        if deliver_outbox.enqueue(outbox_id, job_id=job_id("outbox", outbox_id)):
            enqueued += 1
    return enqueued


# --- health: deliveries that went wrong, the job queues ----------------------------------------------


@dataclass(frozen=True)
class DeliveryProblem:
    """A delivery that failed for good, ended unknown or needed retries, with its event and recipient."""

    delivery: Delivery
    event: str
    nickname: str | None


def troubled_deliveries(limit: int = 100) -> list[DeliveryProblem]:
    """Deliveries failed permanently, left unknown, waiting for a retry or retried, latest change first."""
    rows = db.session.execute(
        select(Delivery, OutboxMessage.event, User.nickname)
        .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
        .join(User, User.id == Delivery.user_id)
        .where(
            or_(
                Delivery.status.in_(("failed", "unknown")),
                Delivery.errcode.is_not(None),
                Delivery.attempts > 1,
            )
        )
        .order_by(func.coalesce(Delivery.updated_at, Delivery.created_at).desc(), Delivery.id.desc())
        .limit(limit)
    )
    return [DeliveryProblem(delivery, event, nickname) for delivery, event, nickname in rows]


def delivery_counts() -> dict[str, int]:
    """How many WeChat deliveries are in each status."""
    rows = db.session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: int(count) for status, count in rows}


@dataclass(frozen=True)
class QueueStatus:
    """One RQ queue: jobs waiting, scheduled for later, and failed (kept for a retry)."""

    name: str
    queued: int
    scheduled: int
    failed: int


def queue_statuses(connection: redis.Redis) -> list[QueueStatus]:
    """The sizes of every queue of this deployment."""
    statuses = []
    for name in QUEUES:
        q = queue(name, connection)
        statuses.append(
            QueueStatus(name, q.count, ScheduledJobRegistry(queue=q).count, FailedJobRegistry(queue=q).count)
        )
    return statuses


@dataclass(frozen=True)
class FailedJob:
    """A job in a failed registry: what it was and how it ended."""

    queue: str
    id: str
    function: str
    args: str
    ended_at: datetime | None
    error: str


def failed_jobs(connection: redis.Redis, limit: int = 50) -> list[FailedJob]:
    """The most recent failed jobs of every queue (up to ``limit`` per queue)."""
    found = []
    for name in QUEUES:
        ids = FailedJobRegistry(queue=queue(name, connection)).get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=connection):
            if job is None:
                continue
            result = job.latest_result()
            lines = (result.exc_string or "").strip().splitlines() if result is not None else []
            function = (job.func_name or "").rsplit(".", 1)[-1]
            args = ", ".join(repr(a) for a in job.args)
            found.append(FailedJob(name, job.id, function, args, job.ended_at, lines[-1] if lines else ""))
    return found


def retry_failed_jobs(connection: redis.Redis) -> int:
    """Put every failed job back on its queue; how many."""
    total = 0
    for name in QUEUES:
        registry = FailedJobRegistry(queue=queue(name, connection))
        for failed_id in registry.get_job_ids():
            registry.requeue(failed_id)
            total += 1
    return total


# --- the inbox ----------------------------------------------------------------------------------------


def inbox_of(
    user_id: int, unread_only: bool, page: int, page_size: int, before_id: int | None = None
) -> tuple[list[Notification], int, int | None, int]:
    """A page of a user's notifications (newest first), the total, the next page's before_id and the
    unread count."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    items, total, next_before_id = paginate_newest_first(query, Notification.id, page, page_size, before_id)
    return items, total, next_before_id, unread_count(user_id)


def unread_count(user_id: int) -> int:
    """How many notifications the user has not read."""
    return (
        db.session.scalar(
            select(func.count()).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


def mark_read(user_id: int, ids: list[int] | None, read_all: bool) -> int:
    """Mark some or all of a user's notifications read (others' ids are ignored); returns how many changed."""
    if not read_all and not ids:
        raise AppError("NOTIFICATION_IDS_OR_ALL", status=422)
    statement = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if not read_all:
        statement = statement.where(Notification.id.in_(ids or []))
    result = db.session.execute(
        statement.values(read_at=clock.now()).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- subscribe grants -------------------------------------------------------------------------------


def record_grants(user_id: int, accepted: list[str]) -> dict[str, int]:
    """Count the subscribe grants the user just gave (one per accepted template per request)."""
    known = set(template_ids())
    unknown = sorted(set(accepted) - known)
    if unknown:
        raise AppError("TEMPLATE_UNKNOWN", status=422, details={"template_ids": unknown})
    for template_id in sorted(set(accepted)):
        grant = _grant_for_update(user_id, template_id)
        if grant is None:
            db.session.add(
                SubscriptionGrant(
                    user_id=user_id, template_id=template_id, remaining=1, updated_at=clock.now()
                )
            )
        else:
            grant.remaining, grant.updated_at = grant.remaining + 1, clock.now()
    db.session.flush()
    return grants_of(user_id)


def grants_of(user_id: int) -> dict[str, int]:
    """Remaining grants per template."""
    rows = db.session.execute(
        select(SubscriptionGrant.template_id, SubscriptionGrant.remaining).where(
            SubscriptionGrant.user_id == user_id
        )
    )
    return dict(rows.all())  # the rows: a Result itself has keys() and would be read as a mapping


def _grant_for_update(user_id: int, template_id: str) -> SubscriptionGrant | None:
    query = select(SubscriptionGrant).where(
        SubscriptionGrant.user_id == user_id, SubscriptionGrant.template_id == template_id
    )
    if is_postgres():
        query = query.with_for_update()
    return db.session.scalars(query).first()


def use_grant(user_id: int, template_id: str) -> bool:
    """Spend one grant of a template by one conditional update; False when the user has none left."""
    result = db.session.execute(
        update(SubscriptionGrant)
        .where(
            SubscriptionGrant.user_id == user_id,
            SubscriptionGrant.template_id == template_id,
            SubscriptionGrant.remaining > 0,
        )
        .values(remaining=SubscriptionGrant.remaining - 1, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def drop_grants(user_id: int, template_id: str) -> None:
    """WeChat says the user refused (43101): they have no grant left, whatever we counted."""
    db.session.execute(
        update(SubscriptionGrant)
        .where(SubscriptionGrant.user_id == user_id, SubscriptionGrant.template_id == template_id)
        .values(remaining=0, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )


# --- the steps of delivering one outbox row ------------------------------------------------------------


@dataclass(frozen=True)
class WeChatSend:
    """What to send, decided and recorded before the call."""

    delivery_id: int
    openid: str
    template_id: str
    page: str | None
    data: dict[str, str]


def lock_outbox(outbox_id: int) -> OutboxMessage | None:
    """The outbox row, locked so two runs of its job do not interleave."""
    query = select(OutboxMessage).where(OutboxMessage.id == outbox_id)
    if is_postgres():
        query = query.with_for_update()
    return db.session.scalars(query).first()


def write_inbox(message: OutboxMessage, template: Template) -> None:
    """Put the notification in the user's inbox, once per outbox row (a rerun inserts nothing)."""
    insert = pg_insert(Notification) if is_postgres() else sqlite_insert(Notification)
    db.session.execute(
        insert.values(
            user_id=message.user_id,
            outbox_id=message.id,
            event=message.event,
            title=render(template.title, message.payload),
            body=render(template.body, message.payload),
            data=message.payload,
            created_at=clock.now(),
        ).on_conflict_do_nothing(index_elements=["outbox_id"])
    )


def prepare_wechat(message: OutboxMessage, template: WeChatTemplate) -> WeChatSend | None:
    """Record the WeChat delivery of a row as sending (spending a grant) or as final; None: nothing to send.

    A delivery left 'sending' by a run that died mid-call is not sent again: WeChat may have delivered it,
    and a second message would spend another grant. It is marked 'unknown' for staff to see.
    """
    delivery = db.session.scalars(
        select(Delivery).where(Delivery.outbox_id == message.id, Delivery.channel == "wechat")
    ).first()
    now = clock.now()
    if delivery is not None and delivery.status in ("sent", "failed", "skipped", "unknown"):
        return None
    if delivery is not None and delivery.status == "sending":
        delivery.status, delivery.error, delivery.updated_at = (
            "unknown",
            "an earlier run stopped mid-send",
            now,
        )
        return None
    openid = db.session.scalar(select(User.openid).where(User.id == message.user_id))
    if delivery is None:
        # A first run: spend a grant, then record the delivery with its decided status in one insert.
        granted = openid is not None and use_grant(message.user_id, template.template_id)
        delivery = Delivery(
            outbox_id=message.id,
            user_id=message.user_id,
            channel="wechat",
            template_id=template.template_id,
            status="sending" if granted else "skipped",
            error=None if granted else "no subscribe grant",
            attempts=1 if granted else 0,
            updated_at=now,
        )
        db.session.add(delivery)
        db.session.flush()
        if not granted:
            return None
    else:
        # 'pending': a retry after a transient failure; its grant was spent by the first attempt.
        delivery.status, delivery.attempts, delivery.updated_at = "sending", delivery.attempts + 1, now
        db.session.flush()
    assert openid is not None  # noqa: S101  (every outbox row names an existing user)
    data = {key: fit_field(key, render(value, message.payload)) for key, value in template.data.items()}
    return WeChatSend(
        delivery.id, openid, template.template_id, render_page(template.page, message.payload), data
    )


def mark_processed(outbox_id: int) -> None:
    """The row needs nothing more."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(processed_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def finish_wechat(
    send: WeChatSend, status: str, errcode: int | None = None, error: str | None = None
) -> None:
    """Record how a send ended (one update; a refusal also resets the user's grants)."""
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == send.delivery_id)
        .values(status=status, errcode=errcode, error=(error or "")[:255] or None, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if errcode == 43101:
        user_id = db.session.scalar(select(Delivery.user_id).where(Delivery.id == send.delivery_id))
        if user_id is not None:
            drop_grants(user_id, send.template_id)
