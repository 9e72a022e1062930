"""Errors under /console as console pages: the status kept, the message in the staff member's words."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, make_response, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from server.db import db
from server.errors import message_for

log = logging.getLogger(__name__)

# Headers of the JSON envelope's response that describe the body, not the error (the page has its own).
_BODY_HEADERS = frozenset({"content-type", "content-length"})


def is_console_request() -> bool:
    """Whether this request is for a console page (under /console)."""
    return request.path == "/console" or request.path.startswith("/console/")


def _render(code: str, status: int) -> str:
    template = "console/_error.html" if request.headers.get("HX-Request") else "console/error.html"
    return render_template(template, code=code, message=message_for(code), status=status)


def error_page(code: str, status: int) -> tuple[str, int]:
    """A console page saying what went wrong (only the message block for htmx), with the error's status."""
    try:
        return _render(code, status), status
    except SQLAlchemyError:  # the layout reads the staff member from the database, which may be what failed
        log.warning("console error page without the layout's staff for %s %s", request.method, request.path)
        db.session.rollback()
        g.linli_console_principal = None
        return _render(code, status), status


def envelope_as_page(response: Response) -> Response:
    """The API's JSON error envelope, answered on a console path, as a console page with the same status.

    Whatever answered (an error handler of server/errors.py, the router's 404/405, the NUL guard of
    server/inputs.py), the staff member sees a page, not JSON; the API under /api keeps its envelope."""
    if response.status_code < 400 or not response.is_json or not is_console_request():
        return response
    body = response.get_json(silent=True)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return response
    if not g.get("linli_keep_changes"):
        db.session.rollback()  # an error answer writes nothing; a failed statement must not spoil the page
    page = make_response(error_page(error["code"], response.status_code))
    for name, value in response.headers.items():
        if name.lower() not in _BODY_HEADERS:
            page.headers.add(name, value)
    return page


def init_app(app: Flask) -> None:
    """Turn every JSON error answered under /console into a console page."""
    app.after_request(envelope_as_page)
