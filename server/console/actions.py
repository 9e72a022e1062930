"""Running a service from a console form: in a savepoint, with the outcome flashed to the staff member."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from server.console.args import ticked_ids
from server.db import db
from server.errors import AppError, message_for

T = TypeVar("T")


def attempt(action: Callable[[], T], done: str) -> T | None:
    """Run ``action``; a refusal rolls its savepoint back (nothing half-written) and is flashed."""
    return attempt_form(action, done)[0]


def attempt_form(action: Callable[[], T], done: str) -> tuple[T | None, AppError | None]:
    """``attempt`` for a form page, which answers a refusal with its status and the fields it names."""
    try:
        with db.session.begin_nested():
            result = action()
    except AppError as error:
        flash(f"{message_for(error.code)}（{error.code}）", "error")
        return None, error
    flash(done, "ok")
    return result, None


BULK_LIMIT = 100  # ticked rows approved in one form post


def approve_ticked(endpoint: str, nothing_ticked: str, approve_one: Callable[[int], object]) -> Response:
    """Approve each ticked row in its own savepoint (a refusal leaves the others approved) and flash the
    outcome of every one; back to ``endpoint``'s page."""
    ids = ticked_ids()
    if not ids:
        flash(nothing_ticked, "error")
    elif len(ids) > BULK_LIMIT:
        flash(f"一次最多批量通过 {BULK_LIMIT} 条", "error")
    else:
        for row_id in ids:
            try:
                with db.session.begin_nested():
                    approve_one(row_id)
            except AppError as error:
                flash(f"#{row_id} 未通过：{message_for(error.code)}（{error.code}）", "error")
            else:
                flash(f"#{row_id} 已通过", "ok")
    return back(endpoint)


def back(endpoint: str, **values: Any) -> Response:
    """Redirect to the console page the form was posted from, else to ``endpoint``."""
    referrer = request.referrer
    if referrer:
        parts = urlsplit(referrer)
        if parts.netloc == request.host and parts.path.startswith("/console"):
            return redirect(parts.path + (f"?{parts.query}" if parts.query else ""))
    return redirect(url_for(endpoint, **values))
