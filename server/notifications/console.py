"""Console page of notifications health (admins): outbox backlog, failed deliveries, retry."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis
from flask import Blueprint, Flask, current_app, flash, render_template
from werkzeug.wrappers import Response

from server import clock
from server.auth.policy import Principal
from server.console import MenuEntry, current_staff, register_pages
from server.console.actions import back
from server.errors import Forbidden
from server.notifications import services

log = logging.getLogger(__name__)
bp = Blueprint("console_notifications", __name__, url_prefix="/console", template_folder="templates")

WAITING_ROWS = 20
STATUSES = {
    "failed": "永久失败",
    "unknown": "状态未知（发送中断）",
    "pending": "等待重试",
    "sending": "发送中",
    "sent": "已发送",
    "skipped": "未发送（无订阅授权）",
}
ERRCODES = {
    -1: "微信系统繁忙",
    40003: "openid 无效",
    40037: "模板 id 无效",
    43101: "用户拒收",
    47003: "模板参数不合规",
}


def init_app(app: Flask) -> None:
    """Hang the notifications health page on the console (admins only)."""
    register_pages(
        app,
        bp,
        menu=[MenuEntry("消息推送", "console_notifications.health", order=90, admin_only=True)],
    )


def _admin() -> Principal:
    """The logged-in staff member, who must be an admin (403 otherwise)."""
    principal = current_staff()
    if not principal.is_admin:
        raise Forbidden()
    return principal


def _redis() -> redis.Redis | None:
    connection: redis.Redis | None = current_app.extensions.get("linli_redis")
    return connection


def _age(seconds: float | None) -> str:
    """A waiting time as staff read it: 45 秒, 3 分 20 秒, 2 小时 5 分, 3 天 4 小时."""
    if seconds is None:
        return "—"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} 天 {hours} 小时"
    if hours:
        return f"{hours} 小时 {minutes} 分"
    if minutes:
        return f"{minutes} 分 {secs} 秒"
    return f"{secs} 秒"


def _since(moment: datetime) -> float:
    return (clock.now() - moment).total_seconds()


@bp.route("/notifications")
def health() -> str:
    """The outbox backlog, deliveries that went wrong, the job queues and their failed jobs."""
    _admin()
    from server.notifications.jobs import RELAY_AFTER

    connection = _redis()
    queues: list[services.QueueStatus] = []
    failed: list[services.FailedJob] = []
    redis_error = None
    if connection is not None:
        try:
            queues = services.queue_statuses(connection)
            failed = services.failed_jobs(connection)
        except redis.RedisError as exc:
            log.warning("console: Redis unreachable (%s)", exc)
            redis_error = str(exc)
    values: dict[str, Any] = {
        "backlog": services.outbox_backlog(),
        "waiting": services.pending_outbox_rows(WAITING_ROWS),
        "relay_after": int(RELAY_AFTER.total_seconds()),
        "counts": services.delivery_counts(),
        "problems": services.troubled_deliveries(),
        "redis_configured": connection is not None,
        "redis_error": redis_error,
        "queues": queues,
        "failed": failed,
        "titles": {name: t.title for name, t in services.templates().items()},
        "statuses": STATUSES,
        "errcodes": ERRCODES,
        "age": _age,
        "since": _since,
    }
    return render_template("console/notifications/health.html", **values)


@bp.route("/notifications/retry-failed", methods=["POST"])
def retry_failed() -> Response:
    """Put every failed job back on its queue (as `flask jobs retry-failed`)."""
    _admin()
    connection = _redis()
    if connection is None:
        flash("未配置 Redis：任务在进程内执行，没有失败任务队列", "error")
    else:
        try:
            flash(f"已将 {services.retry_failed_jobs(connection)} 个失败任务重新排队", "ok")
        except redis.RedisError as exc:
            flash(f"Redis 无法连接：{exc}", "error")
    return back("console_notifications.health")


@bp.route("/notifications/relay", methods=["POST"])
def relay() -> Response:
    """Hand outbox rows left behind to the queue now (as `flask jobs relay`)."""
    _admin()
    from server.notifications.jobs import RELAY_AFTER

    try:
        flash(f"已补发 {services.relay_pending(RELAY_AFTER)} 条积压消息", "ok")
    except redis.RedisError as exc:
        flash(f"Redis 无法连接：{exc}", "error")
    return back("console_notifications.health")
