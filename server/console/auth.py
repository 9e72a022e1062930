"""The console's login: a signed cookie holding a server-side session's id, CSRF on every form."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from server.auth.policy import Principal
from server.auth.sessions import end_console_session, live_console_session, start_console_session
from server.console.errors import error_page
from server.errors import AppError
from server.orgs.models import OrgUnit
from server.orgs.services import list_communities
from server.users.models import StaffAccount

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def console_principal() -> Principal | None:
    """The staff member logged in to the console, or None: the cookie's session id must name a stored
    session that has not ended (logout, password change, disabling) nor expired, of an active account."""
    if "linli_console_principal" in g:
        principal: Principal | None = g.linli_console_principal
        return principal
    principal = None
    sid = session.get("sid")
    if isinstance(sid, str):
        found = live_console_session(sid)
        if found is not None:
            principal = Principal(kind="staff", staff=found[1])
    g.linli_console_principal = principal
    return principal


def current_staff() -> Principal:
    """The logged-in staff member (in a view guarded by ``protect``)."""
    principal = console_principal()
    if principal is None:
        abort(401)
    return principal


def current_session_id() -> str | None:
    """The id of this request's console session (from the cookie), if any."""
    sid = session.get("sid")
    return sid if isinstance(sid, str) else None


def start_session(staff: StaffAccount) -> None:
    """Log a staff member in: a fresh cookie (no fixation) carrying only a new stored session's id."""
    session.clear()
    session.permanent = True
    session["sid"] = start_console_session(staff)
    g.pop("linli_console_principal", None)


def end_session() -> None:
    """Log out: the stored session ends (a copied cookie stops working) and the cookie is emptied."""
    sid = current_session_id()
    if sid is not None:
        end_console_session(sid, "logout")
    session.clear()
    g.pop("linli_console_principal", None)


def safe_next(target: str | None) -> str:
    """Only a path on this site may be a redirect target after login."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/console"):
            return target
    return url_for("console.today")


def check_csrf() -> None:
    """Refuse an unsafe request without the session's CSRF token (form field or X-CSRFToken header)."""
    if request.method in SAFE_METHODS:
        return
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
    try:
        validate_csrf(token)
    except ValidationError as exc:
        raise CSRFError(str(exc)) from exc


def _require_login() -> Any:
    check_csrf()
    if request.endpoint in {"console.login", "console.static"}:
        return None
    if console_principal() is None:
        if request.headers.get("HX-Request"):
            return "", 401, {"HX-Redirect": url_for("console.login")}
        return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
    return None


def _app_error_page(error: AppError) -> tuple[str, int]:
    return error_page(error.code, error.status_code)


def _csrf_error_page(_error: CSRFError) -> tuple[str, int]:
    return error_page("CSRF_INVALID", 400)


def protect(blueprint: Blueprint) -> None:
    """Every view of ``blueprint`` needs a logged-in staff member and, for unsafe methods, a CSRF token;
    its errors are pages, not JSON. Once per blueprint: an app factory may run more than once per process."""
    if getattr(blueprint, "linli_protected", False):
        return
    blueprint.linli_protected = True  # type: ignore[attr-defined]
    blueprint.before_request(_require_login)
    blueprint.register_error_handler(AppError, _app_error_page)
    blueprint.register_error_handler(CSRFError, _csrf_error_page)


def staff_only(view: F) -> F:
    """For views outside a protected blueprint."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        refused = _require_login()
        return refused if refused is not None else view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def staff_communities(principal: Principal) -> list[OrgUnit]:
    """The communities a staff member looks after, by code (for the pages' community filters)."""
    return list_communities(principal.staff.org) if principal.staff else []
