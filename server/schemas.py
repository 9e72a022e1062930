"""Schemas shared by every package: paging arguments and the list envelope."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

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


class NewestFirstArgs(PageArgs):
    """``?before_id=`` (the ``next_before_id`` of the page before) or ``?page=``, newest first."""

    before_id = fields.Integer(
        validate=validate.Range(min=1, max=MAX_INT),
        metadata={"description": "rows older than this id: the previous page's next_before_id (keyset)"},
    )

    @validates_schema
    def _one_way(self, data: dict[str, Any], **_: Any) -> None:
        if "before_id" in data and data.get("page", 1) != 1:
            raise ValidationError("send before_id or page, not both", "before_id")


NEXT_BEFORE_ID = fields.Integer(
    required=True,
    allow_none=True,
    metadata={"description": "send it as before_id for the next page; null at the end"},
)


class ErrorBody(Schema):
    """The inside of the error envelope."""

    code = fields.String(required=True, metadata={"description": "Stable, upper snake case"})
    message = fields.String(required=True, metadata={"description": "Chinese by default; English on request"})
    details = fields.Dict()


class ErrorSchema(Schema):
    """``{"error": {"code", "message", "details"}}``."""

    error = fields.Nested(ErrorBody, required=True)


_page_schemas: dict[str, type[Schema]] = {}


def binary_response(
    description: str, *content_types: str, headers: dict[str, str] | None = None
) -> dict[int, Any]:
    """``@blp.doc(responses=...)`` of a 200 whose body is bytes (an image), not JSON."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    answer: dict[str, Any] = {"description": description, "content": dict.fromkeys(content_types, binary)}
    if headers:
        answer["headers"] = {
            name: {"description": said, "schema": {"type": "string"}} for name, said in headers.items()
        }
    return {200: answer}


def error_response_doc(description: str, codes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """An OpenAPI response of the error envelope; with ``codes``, its ``error.code`` is one of them."""
    if codes is None:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    code = {"type": "string", "enum": list(codes)}
    code_only = {"type": "object", "properties": {"error": {"type": "object", "properties": {"code": code}}}}
    schema = {"allOf": [{"$ref": "#/components/schemas/Error"}, code_only]}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _envelope(item_schema: type[Schema], kind: str, **more: fields.Field[Any]) -> type[Schema]:
    """The list envelope ``{"items", "total", "page", "page_size", **more}`` around ``item_schema``."""
    name = f"{item_schema.__name__.removesuffix('Schema')}{kind}Schema"
    if name not in _page_schemas:
        _page_schemas[name] = Schema.from_dict(
            {
                "items": fields.List(fields.Nested(item_schema), required=True),
                "total": fields.Integer(required=True),
                "page": fields.Integer(required=True),
                "page_size": fields.Integer(required=True),
                **more,
            },
            name=name,
        )
    return _page_schemas[name]


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The list envelope ``{"items", "total", "page", "page_size"}`` around ``item_schema``."""
    return _envelope(item_schema, "Page")


def page_body(items: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    """The list envelope's values."""
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def newest_first_page_of(item_schema: type[Schema]) -> type[Schema]:
    """The list envelope of a newest-first list: ``page_of``'s keys and ``next_before_id``."""
    return _envelope(item_schema, "NewestFirstPage", next_before_id=NEXT_BEFORE_ID)
