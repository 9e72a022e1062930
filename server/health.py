"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from server.db import db
from server.extensions import redis_client

bp = Blueprint("health", __name__)


def _outbox_warnings() -> list[str]:
    """A backlog is reported, not failed on: the web still serves; the workers are what is behind."""
    from server.notifications.services import outbox_backlog

    try:
        backlog = outbox_backlog()
    except Exception as exc:  # e.g. migrations not applied yet: say so instead of failing the probe
        db.session.rollback()
        return [f"outbox unreadable: {type(exc).__name__} (are migrations applied?)"]
    db.session.rollback()
    limit = current_app.config["OUTBOX_BACKLOG_WARN_SECONDS"]
    if backlog.oldest_seconds is None or backlog.oldest_seconds <= limit:
        return []
    oldest = f"{backlog.oldest_seconds:.0f} s"
    return [f"outbox backlog: {backlog.count} waiting, oldest {oldest} (is a worker running?)"]


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """200 when the database (and Redis, where configured) answer, else 503 naming what is down."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; the reason is reported, not raised
        db.session.rollback()
        checks["database"] = f"down: {type(exc).__name__}"
    client = redis_client()
    if client is not None:
        try:
            client.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"down: {type(exc).__name__}"
    warnings = _outbox_warnings() if checks["database"] == "ok" else []
    down = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "unavailable" if down else "ok", "down": down, "checks": checks, "warnings": warnings}
    response = jsonify(body)
    response.status_code = 503 if down else 200
    return response
