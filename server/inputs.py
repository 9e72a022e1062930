"""A guard on every request's text: no NUL character, which PostgreSQL cannot store in text or JSON."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request

from server.errors import error_response

NUL = "\x00"
NUL_MESSAGE = "NUL characters are not allowed."
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _nul_paths(value: Any, path: str) -> list[str]:
    """The dotted paths inside a parsed JSON value whose key or text holds a NUL character."""
    if isinstance(value, str):
        return [path or "_body"] if NUL in value else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found += [child] if NUL in str(key) else _nul_paths(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _nul_paths(item, f"{path}.{index}" if path else str(index))
    return found


def _json_nul_paths() -> list[str]:
    data = request.get_data(cache=True)
    if b"\\u0000" not in data:  # JSON can only carry a NUL escaped; the common case stops here
        return []
    try:
        return _nul_paths(json.loads(data), "")
    except ValueError:
        return []  # not JSON after all: the route's own parsing answers


def refuse_nul_characters() -> Response | None:
    """422 VALIDATION_ERROR naming each field whose text holds a NUL, before anything reads it."""
    path = request.view_args or {}
    fields = [name for name, value in path.items() if isinstance(value, str) and NUL in value]
    fields += [key for key, value in request.args.items(multi=True) if NUL in key or NUL in value]
    if request.mimetype in FORM_TYPES:
        fields += [key for key, value in request.form.items(multi=True) if NUL in key or NUL in value]
    elif request.is_json:
        fields += _json_nul_paths()
    if not fields:
        return None
    names = {name.replace(NUL, "\\u0000"): [NUL_MESSAGE] for name in fields}
    return error_response("VALIDATION_ERROR", 422, {"fields": names})


def init_app(app: Flask) -> None:
    """Check every request (API and console) before its route runs."""
    app.before_request(refuse_nul_characters)
