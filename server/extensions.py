"""Extension objects shared by the app: API (OpenAPI), migrations, rate limiter, Redis."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import redis
from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_smorest import Api
from marshmallow import fields
from werkzeug.routing import IntegerConverter, Map

from server.db import db
from server.schemas import MAX_INT, ErrorSchema

migrate = Migrate()


class LinliApi(Api):
    """flask-smorest's Api documenting our error envelope instead of its own."""

    ERROR_SCHEMA = ErrorSchema


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
        },
    )
    app.url_map.converters["int"] = IdConverter  # before any route is added; documented as a maximum
    api = LinliApi(app)
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
