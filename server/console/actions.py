"""Running a service from a console form: in a savepoint, with the outcome flashed to the staff member."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from server.db import db
from server.errors import AppError, message_for

T = TypeVar("T")


def attempt(action: Callable[[], T], done: str) -> T | None:
    """Run ``action``; a refusal rolls its savepoint back (nothing half-written) and is flashed."""
    try:
        with db.session.begin_nested():
            result = action()
    except AppError as error:
        flash(f"{message_for(error.code)}（{error.code}）", "error")
        return None
    flash(done, "ok")
    return result


def back(endpoint: str, **values: Any) -> Response:
    """Redirect to the console page the form was posted from, else to ``endpoint``."""
    referrer = request.referrer
    if referrer:
        parts = urlsplit(referrer)
        if parts.netloc == request.host and parts.path.startswith("/console"):
            return redirect(parts.path + (f"?{parts.query}" if parts.query else ""))
    return redirect(url_for(endpoint, **values))
