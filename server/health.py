"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Response, current_app, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import text

from server.db import db
from server.extensions import redis_client

bp = Blueprint("health", __name__, description="Liveness and readiness probes (outside /api, no login)")


class HealthSchema(Schema):
    """The process is alive."""

    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadinessSchema(Schema):
    """What answers and what is down."""

    status = fields.String(required=True, validate=validate.OneOf(["ok", "unavailable"]))
    down = fields.List(fields.String(), required=True, metadata={"description": "database, redis"})
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": '"ok" or "down: …"'},
    )
    warnings = fields.List(fields.String(), required=True, metadata={"description": "an outbox backlog"})


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


@bp.route("/healthz", methods=["GET"])
@bp.response(200, HealthSchema)
def healthz() -> Response:
    """The process is alive."""
    return jsonify({"status": "ok"})


@bp.route("/readyz", methods=["GET"])
@bp.response(200, ReadinessSchema)
@bp.alt_response(503, schema=ReadinessSchema, description="the database or Redis is down")
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
