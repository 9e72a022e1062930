"""Types for the part of flask-smorest (0.47) that Linli uses; the package ships none.

Its decorators keep the view they wrap callable as Flask calls it (by keyword), so each is typed as
returning the view's own type. Add what a new use needs, with the signature flask-smorest documents.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import flask
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

_View = TypeVar("_View", bound=Callable[..., Any])
_SchemaArg = type[Schema] | Schema | str | dict[str, Any] | None

class Blueprint(flask.Blueprint):
    description: str
    def __init__(
        self,
        name: str,
        import_name: str,
        *,
        description: str = "",
        url_prefix: str | None = None,
        **kwargs: Any,
    ) -> None: ...
    def route(
        self,
        rule: str,
        *,
        parameters: Sequence[str | dict[str, Any]] | None = None,
        tags: Sequence[str] | None = None,
        **options: Any,
    ) -> Callable[[_View], _View]: ...
    def arguments(
        self,
        schema: type[Schema] | Schema,
        *,
        location: str = "json",
        content_type: str | None = None,
        required: bool = True,
        description: str | None = None,
        example: Any = None,
        examples: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Callable[[_View], _View]: ...
    def response(
        self,
        status_code: int | str,
        schema: _SchemaArg = None,
        *,
        content_type: str | None = None,
        description: str | None = None,
        example: Any = None,
        examples: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> Callable[[_View], _View]: ...
    def alt_response(
        self,
        status_code: int | str,
        response: str | None = None,
        *,
        schema: _SchemaArg = None,
        content_type: str | None = None,
        description: str | None = None,
        example: Any = None,
        examples: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        success: bool = False,
    ) -> Callable[[_View], _View]: ...
    @staticmethod
    def doc(**kwargs: Any) -> Callable[[_View], _View]: ...

class Api:
    ERROR_SCHEMA: type[Schema]
    spec: APISpec | None
    ma_plugin: MarshmallowPlugin
    def __init__(
        self,
        app: flask.Flask | None = None,
        *,
        spec_kwargs: dict[str, Any] | None = None,
        config_prefix: str = "",
    ) -> None: ...
    def init_app(self, app: flask.Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None: ...
    def register_blueprint(
        self, blp: Blueprint, *, parameters: Sequence[str | dict[str, Any]] | None = None, **options: Any
    ) -> None: ...
