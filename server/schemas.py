"""Schemas shared by every package: paging arguments and the list envelope."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marshmallow import Schema, fields, validate

from server.clock import SERVER_ZONE

MAX_PAGE_SIZE = 100
MAX_INT = 2**31 - 1  # ids, counts and amounts live in PostgreSQL `integer` columns
# Every integer a client sends fits such a column: a larger one is a 422 here, not an error from the database.
FITS_INT = validate.Range(min=-(2**31), max=MAX_INT)
# Times and dates a client sends lie in 2000-2099: in the far past Shanghai had no whole-minute offset
# (LMT +08:05:43, not an RFC 3339 time on the way out), and near year 1 or 9999 date arithmetic overflows.
IN_SERVICE_TIME = validate.Range(min=datetime(2000, 1, 1, tzinfo=UTC), max=datetime(2100, 1, 1, tzinfo=UTC))
IN_SERVICE_DATE = validate.Range(min=date(2000, 1, 1), max=date(2099, 12, 31))


class LocalDateTime(fields.DateTime):
    """ISO 8601 in the server's zone (Asia/Shanghai) on output; any offset accepted on input."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return value.astimezone(SERVER_ZONE).isoformat()


class PageArgs(Schema):
    """``?page=1&page_size=20`` (page_size at most 100)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_INT))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class ErrorBody(Schema):
    """The inside of the error envelope."""

    code = fields.String(required=True, metadata={"description": "Stable, upper snake case"})
    message = fields.String(required=True, metadata={"description": "Chinese by default; English on request"})
    details = fields.Dict()


class ErrorSchema(Schema):
    """``{"error": {"code", "message", "details"}}``."""

    error = fields.Nested(ErrorBody, required=True)


_page_schemas: dict[str, type[Schema]] = {}


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The list envelope ``{"items", "total", "page", "page_size"}`` around ``item_schema``."""
    name = f"{item_schema.__name__.removesuffix('Schema')}PageSchema"
    if name not in _page_schemas:
        _page_schemas[name] = Schema.from_dict(
            {
                "items": fields.List(fields.Nested(item_schema), required=True),
                "total": fields.Integer(required=True),
                "page": fields.Integer(required=True),
                "page_size": fields.Integer(required=True),
            },
            name=name,
        )
    return _page_schemas[name]


def page_body(items: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    """The list envelope's values."""
    return {"items": items, "total": total, "page": page, "page_size": page_size}
