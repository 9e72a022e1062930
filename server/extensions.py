"""Extension objects shared by the app: API (OpenAPI), migrations, rate limiter, Redis."""

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any

import redis
from apispec import BasePlugin
from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_limiter import Limiter
from flask_limiter.util import get_qualified_name
from flask_migrate import Migrate
from flask_smorest import Api
from marshmallow import fields
from werkzeug.routing import IntegerConverter, Map, Rule

from server.db import db
from server.error_codes import Reader
from server.schemas import MAX_INT, ErrorSchema, error_response_doc

migrate = Migrate()


class LinliApi(Api):
    """flask-smorest's Api documenting our error envelope instead of its own."""

    ERROR_SCHEMA = ErrorSchema


def singular(noun: str) -> str:
    """English plural → singular, for the resource nouns of our paths (activities, wishes, items)."""
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if noun.endswith(("shes", "ches", "sses")):
        return noun[:-2]
    return noun.removesuffix("s")


def operation_id(endpoint: str, path: str) -> str:
    """The operationId of a view: its function name in camelCase (``get_me`` → ``getMe``); a one-word
    action on one resource takes the resource's name (``/wishes/{wish_id}/approve`` → ``approveWish``),
    since several resources approve, reject and cancel."""
    name = endpoint.rsplit(".", 1)[-1]
    words = name.split("_")
    segments = [part for part in path.split("/") if part]
    acts_on_one = len(segments) >= 3 and segments[-1] == name and segments[-2].startswith("{")
    if len(words) == 1 and acts_on_one:
        words += singular(segments[-3]).split("-")
    return words[0] + "".join(word.capitalize() for word in words[1:])


class PerOperation(BasePlugin):
    """An apispec plugin that works on each operation of a Flask rule (flask-smorest passes the rule)."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Call ``document`` for each operation of the rule."""
        rule = kwargs.get("rule")
        if rule is None or not operations or path is None:
            return
        methods = [method for method, operation in operations.items() if isinstance(operation, dict)]
        for method in methods:
            self.document(rule, path, method, operations[method], len(methods) > 1)

    def document(self, rule: Rule, path: str, method: str, operation: dict[str, Any], several: bool) -> None:
        """Complete one operation (``several``: its rule has other methods)."""
        raise NotImplementedError


class OperationIds(PerOperation):
    """Gives every operation a unique operationId from its view (client generators name methods by it);
    a name used twice stops the app at start, so the document never holds a duplicate."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def document(self, rule: Rule, path: str, method: str, operation: dict[str, Any], several: bool) -> None:
        """Set operationId (an explicit one in ``@blp.doc`` stays)."""
        name = operation_id(rule.endpoint, path)
        if several:
            name = method + name[0].upper() + name[1:]
        name = operation.setdefault("operationId", name)
        where = f"{method.upper()} {path}"
        if self.seen.setdefault(name, where) != where:
            raise RuntimeError(f"operationId {name} of {where} is also {self.seen[name]}'s: rename a view")


DOCUMENTED_ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 415, 422, 429})


class ErrorCodes(PerOperation):
    """Documents each operation's error answers with the ``error.code`` values its view can raise
    (server/error_codes.py reads them from the raise sites), and the codes Flask and our handlers add:
    NOT_FOUND for an id in the path, VALIDATION_ERROR for a body or query, RATE_LIMITED for a limited view."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.reader = Reader()

    def document(self, rule: Rule, path: str, method: str, operation: dict[str, Any], several: bool) -> None:
        """Add or complete the operation's 4xx responses."""
        view = self.app.view_functions[rule.endpoint]
        handler = getattr(getattr(view, "view_class", None), method, view)
        found = self.reader.codes_of(handler)
        codes = found.resolved()
        if "{" in path:
            codes.setdefault(404, set()).add("NOT_FOUND")
        takes_input = "requestBody" in operation or any(
            isinstance(p, dict) and p.get("in") == "query" for p in operation.get("parameters", [])
        )
        if takes_input or 422 in codes:
            codes.setdefault(422, set()).add("VALIDATION_ERROR")
        if "requestBody" in operation or 400 in codes:
            codes.setdefault(400, set()).add("BAD_REQUEST")  # a body that is not JSON
            codes.setdefault(413, set()).add("PAYLOAD_TOO_LARGE")  # above MAX_CONTENT_LENGTH
        if 415 in codes:
            codes[415].add("UNSUPPORTED_MEDIA_TYPE")
        if get_qualified_name(handler) in limiter._marked_for_limiting or 429 in codes:
            codes.setdefault(429, set()).add("RATE_LIMITED")
        responses = operation.setdefault("responses", {})
        for status in sorted(codes):
            if status not in DOCUMENTED_ERROR_STATUSES:
                continue
            known = tuple(sorted(codes[status]))
            given = responses.get(str(status), {})
            said = given.get("description") if isinstance(given, dict) and "$ref" not in given else None
            description = f"{said or HTTPStatus(status).phrase}. error.code: {', '.join(known)}"
            complete = status not in found.open_statuses and 0 not in found.open_statuses
            responses[str(status)] = error_response_doc(description, known if complete else None)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, Chinese kept as is, and a Decimal (a coordinate read from a Numeric column) as the
    JSON number the OpenAPI document promises; Flask's default writes it as a string."""

    ensure_ascii = False

    @staticmethod
    def default(o: Any) -> Any:
        """Decimal → number; the rest as Flask does."""
        if isinstance(o, Decimal):
            return float(o)
        return DefaultJSONProvider.default(o)


def decimal2properties(
    self: Any, field: fields.Field[Any], ret: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """Document a Decimal field as it is on the wire: a number with numeric bounds (apispec writes
    them as strings, which makes the document invalid), or with ``as_string`` a string such as "1.50"."""
    if not isinstance(field, fields.Decimal):
        return {}
    bounds: dict[str, Any] = {key: float(ret.pop(key)) for key in ("minimum", "maximum") if key in ret}
    if field.as_string:
        extensions = {f"x-{key}": value for key, value in bounds.items()}
        return {"type": "string", "format": "decimal", "pattern": r"^-?\d+(\.\d+)?$", **extensions}
    return bounds


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: at most 2**31 - 1, the largest id an `integer` column holds, so a
    larger number in a path is a 404 from the router instead of an error from the database."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = MAX_INT,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def client_address() -> str:
    """The caller's address as the proxy reported it (ProxyFix sets remote_addr)."""
    return request.remote_addr or "unknown"


limiter = Limiter(key_func=client_address, default_limits=[], headers_enabled=True)

MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


def redis_client() -> redis.Redis | None:
    """The app's Redis client, or None when no REDIS_URL is configured."""
    client: redis.Redis | None = current_app.extensions.get("linli_redis")
    return client


def init_api(app: Flask) -> Api:
    """OpenAPI at /api/openapi.json and Swagger UI at /api/docs, assets served from the package."""
    app.config.setdefault("API_TITLE", "Linli 邻里 API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/static/vendor/swagger-ui/")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
            "info": {"description": "The HTTP contract of the Linli mini program and console. See API.md."},
            # Paths carry /api/v1 themselves: the server is the origin this document was fetched from.
            "servers": [{"url": "/", "description": "this server"}],
        },
    )
    app.url_map.converters["int"] = IdConverter  # before any route is added; documented as a maximum
    api = LinliApi(app, spec_kwargs={"extra_plugins": [OperationIds(), ErrorCodes(app)]})
    converter = api.ma_plugin.converter  # made when the Api initialized its spec, just above
    if converter is None:
        raise RuntimeError("flask-smorest left the marshmallow plugin without a converter")
    converter.add_attribute_function(decimal2properties)
    app.extensions["linli_api"] = api
    return api


def init_migrate(app: Flask) -> None:
    """Flask-Migrate on our migrations folder; batch mode so SQLite can alter tables."""
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)


def init_redis(app: Flask) -> None:
    """Create one Redis client per app when REDIS_URL is set."""
    url = app.config.get("REDIS_URL")
    if url:
        app.extensions["linli_redis"] = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
        )


def init_limiter(app: Flask) -> None:
    """Rate limits stored in Redis when configured (shared by every process), else in memory."""
    url = app.config.get("REDIS_URL")
    app.config.setdefault("RATELIMIT_STORAGE_URI", url if url else "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", app.config["REDIS_PREFIX"] + "limits")
    # The storage's own prefix too: limiter.reset() deletes every key under it, so another deployment
    # (or test run) sharing this Redis keeps its counters.
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS",
        {
            "socket_timeout": 2,
            "socket_connect_timeout": 2,
            "key_prefix": app.config["REDIS_PREFIX"] + "LIMITS",
        },
    )
    # A Redis outage must not take logins down with it: fall back to memory until it returns.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)
