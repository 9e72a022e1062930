"""The Idempotency-Key header of requests that move points or stock."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from copy import deepcopy
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, current_app, jsonify, make_response, request
from sqlalchemy import JSON, SmallInteger, String, UniqueConstraint, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from server import clock
from server.auth.policy import current_principal
from server.db import Model, db, is_postgres
from server.errors import AppError, Conflict, register_messages
from server.jobs import job, periodic

register_messages(
    {
        "IDEMPOTENCY_KEY_INVALID": (
            "Idempotency-Key 格式不正确（1-100 个字母、数字或 -_.:）",
            "Idempotency-Key must be 1-100 characters of letters, digits and -_.:",
        )
    }
)
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def idempotency_key(scope: str) -> str | None:
    """The request's Idempotency-Key, namespaced by ``scope`` (e.g. the caller), or None if absent."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not _KEY.match(raw):
        raise AppError("IDEMPOTENCY_KEY_INVALID", status=400)
    return f"{scope}:{raw}"


REPLAYED_HEADER = "Idempotency-Replayed"


def replayed_headers(replayed: bool) -> dict[str, str]:
    """The header that tells a resend's answer from the first one (the body is the same in both)."""
    return {REPLAYED_HEADER: "true"} if replayed else {}


def body_code_key(field: str = "code") -> Callable[[], str | None]:
    """A natural key: the hash of a one-use code in the JSON body (the code itself is never stored)."""

    def key() -> str | None:
        body = request.get_json(silent=True)
        value = body.get(field) if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            return None
        return "code-" + hashlib.sha256(value.encode()).hexdigest()[:40]

    return key


def fingerprint(**fields: Any) -> str:
    """A stable hash of what a request asked for, to tell a replay from a changed request."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


# --- a stored first answer, for endpoints without a natural key ---------------------------------------

register_messages(
    {
        "IDEMPOTENCY_KEY_REUSED": (
            "该幂等键已用于不同的请求",
            "This Idempotency-Key was already used for a different request",
        )
    }
)

F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_KEY_DESCRIPTION = (
    "A key the client makes once per user action (1-100 of A-Z a-z 0-9 - _ . :) and sends again with every "
    "resend of that action. The same key with the same body answers the first answer again (same status "
    "and body, header Idempotency-Replayed: true); with another body 409 IDEMPOTENCY_KEY_REUSED. Keys are "
    "kept IDEMPOTENCY_KEY_TTL_HOURS (default 24)."
)


def idempotency_key_parameter() -> dict[str, Any]:
    """The OpenAPI description of the Idempotency-Key request header, for every operation that honours it."""
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": IDEMPOTENCY_KEY_DESCRIPTION,
        "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": _KEY.pattern},
    }


def document_idempotency_key(view: F) -> F:
    """Declare the Idempotency-Key header in a flask-smorest view's OpenAPI operation (kept with any other
    manual parameters; the body and query parameters are documented apart, so nothing is overwritten)."""
    apidoc = deepcopy(getattr(view, "_apidoc", {}))
    manual = apidoc.setdefault("manual_doc", {})
    parameters = manual.setdefault("parameters", [])
    if not any(p.get("name") == "Idempotency-Key" for p in parameters):
        parameters.append(idempotency_key_parameter())
    view._apidoc = apidoc  # type: ignore[attr-defined]
    return view


class IdempotentRequest(Model):
    """The first answer to a request sent with an Idempotency-Key, written in the transaction of its effect.

    ``scope`` names the endpoint and the caller; (scope, key) is unique, so of two resends racing with the
    same key one inserts and the other waits for it and replays its answer. Rows older than
    IDEMPOTENCY_KEY_TTL_HOURS are deleted (a daily job, and before a key is taken again)."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    response: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


def _ttl_cutoff() -> datetime:
    return clock.now() - timedelta(hours=int(current_app.config["IDEMPOTENCY_KEY_TTL_HOURS"]))


def purge_expired_requests() -> int:
    """Delete the stored answers older than IDEMPOTENCY_KEY_TTL_HOURS; how many went."""
    result = db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.created_at < _ttl_cutoff()))
    return int(getattr(result, "rowcount", 0) or 0)


@periodic("purge_idempotent_requests", every=timedelta(days=1))
@job("low")
def purge_idempotent_requests() -> str:
    """The daily purge of stored answers past IDEMPOTENCY_KEY_TTL_HOURS."""
    return f"purged {purge_expired_requests()}"


def _request_fingerprint(name: str) -> str:
    body = request.get_json(silent=True)
    if body is not None:
        return fingerprint(endpoint=name, path=request.path, body=body)
    if request.mimetype == "multipart/form-data":
        # wx.uploadFile's resend picks a new multipart boundary: compare the fields and the files' bytes
        files = []
        for field, sent in request.files.items(multi=True):
            digest = hashlib.sha256()
            while chunk := sent.stream.read(1 << 16):
                digest.update(chunk)
            sent.stream.seek(0)
            files.append((field, digest.hexdigest()))
        form = sorted(request.form.items(multi=True))
        return fingerprint(endpoint=name, path=request.path, form=form, files=sorted(files))
    return fingerprint(endpoint=name, path=request.path, raw=request.get_data().hex())


def _claim(scope: str, key: str, request_hash: str) -> int | None:
    """Insert the row of this key (its id), or None when the key is taken: then the taker has committed
    (on PostgreSQL the insert waits for a racing transaction of the same key to end)."""
    table = IdempotentRequest.__table__
    db.session.execute(
        delete(IdempotentRequest).where(
            IdempotentRequest.scope == scope,
            IdempotentRequest.key == key,
            IdempotentRequest.created_at < _ttl_cutoff(),
        )
    )
    dialect_insert = pg_insert if is_postgres() else sqlite_insert
    statement = (
        dialect_insert(table)
        .values(scope=scope, key=key, fingerprint=request_hash, created_at=clock.now())
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(table.c.id)
    )
    return db.session.execute(statement).scalar()


def _replay(stored: IdempotentRequest, request_hash: str) -> Response:
    if stored.fingerprint != request_hash:
        raise Conflict("IDEMPOTENCY_KEY_REUSED", details={"idempotency_key": stored.key})
    response = jsonify(stored.response)
    response.status_code = int(stored.status_code or 200)
    response.headers[REPLAYED_HEADER] = "true"
    return response


def idempotent(name: str, natural_key: Callable[[], str | None] | None = None) -> Callable[[F], F]:
    """Honour Idempotency-Key on a view (place it under ``auth_required``, above the limiter and
    ``blp.arguments``): the first successful answer is stored in the request's transaction, a resend with
    the same key and body gets it again without running the view, another body gets 409
    IDEMPOTENCY_KEY_REUSED. Without the header the view runs as before, unless ``natural_key`` gives a key
    from the request itself (a one-use WeChat code: its resend can only be the same action). Error answers
    are not stored."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = request.headers.get("Idempotency-Key")
            if raw is None and natural_key is not None:
                raw = natural_key()
            if raw is None:
                return view(*args, **kwargs)
            if not _KEY.match(raw):
                raise AppError("IDEMPOTENCY_KEY_INVALID", status=400)
            principal = current_principal()
            scope = f"{name}:{principal.kind}:{principal.id}"
            request_hash = _request_fingerprint(name)
            for _attempt in range(2):
                row_id = _claim(scope, raw, request_hash)
                if row_id is not None:
                    break
                stored = db.session.scalars(
                    select(IdempotentRequest)
                    .where(IdempotentRequest.scope == scope, IdempotentRequest.key == raw)
                    .execution_options(populate_existing=True)
                ).first()
                if stored is not None and stored.status_code is not None:
                    return _replay(stored, request_hash)
            else:  # pragma: no cover  (a row without its answer is never committed)
                raise Conflict("IDEMPOTENCY_KEY_REUSED", details={"idempotency_key": raw})
            try:
                response = make_response(view(*args, **kwargs))
            except BaseException:
                db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == row_id))
                raise
            if response.status_code >= 400 or not response.is_json:
                db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.id == row_id))
                return response
            db.session.execute(
                update(IdempotentRequest)
                .where(IdempotentRequest.id == row_id)
                .values(status_code=response.status_code, response=response.get_json())
            )
            return response

        return document_idempotency_key(cast(F, wrapper))

    return decorate
