"""Property-based tests of every API operation, generated from /api/openapi.json by schemathesis.

Each test takes the operations under one first path segment (``/api/v1/<area>/...``), gives each operation
a fresh world (conftest.py: the database emptied, the ledger checked, objects with ids 1 and 2 seeded) and
sends every generated request as each caller in turn: anonymous, a party member of C1, staff of C1 and an
admin of D1. The checks: no 5xx, the body matches the documented schema, the status is documented (a 2xx
explicitly, errors at least under "default": the error envelope), so is the content type, and no value
reaches the database that validation should have refused. The generation is deterministic (a fixed seed),
so a failure replays. schemathesis' own pytest integration (``from_fixture``) does not run on pytest 9.2
(it sets ``Function._nodeid``), so each operation's Hypothesis test is built with its test builder here.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import FakeWeChat
from tests.fuzz.conftest import Caller, fresh_world, load_schema, seed_world

API_PREFIX = "/api/v1/"
# schemathesis leaves an operation's type parameters open in its own API (Result[APIOperation, ...]).
Operation = schemathesis.APIOperation[Any, Any, Any, Any]
# First path segments of the API; a test of each. test_every_operation_is_in_an_area keeps this complete.
AREAS = [
    "auth",
    "me",
    "party-reports",
    "community-moves",
    "volunteer-applications",
    "users",
    "communities",
    "files",
    "points",
    "store",
    "redemptions",
    "stations",
    "activities",
    "checkins",
    "wishes",
    "wish-awards",
    "reports",
    "notifications",
    "config",
    # outside /api: the stored images and the probes
    "healthz",
    "readyz",
]
OUTSIDE_API = {"/files/{key}", "/healthz", "/readyz"}


def area_of(path: str) -> str:
    """``/api/v1/wishes/{wish_id}/claim`` → ``wishes``; ``/files/{key}`` → ``files``."""
    return path.removeprefix(API_PREFIX).lstrip("/").split("/", 1)[0]


@schemathesis.check
def success_status_documented(ctx: Any, response: Any, case: schemathesis.Case[Operation]) -> bool | None:
    """A 2xx answer is listed explicitly among the operation's responses (not only under "default")."""
    if case.method.upper() != case.operation.method.upper():
        return None  # the coverage phase also probes undeclared methods (OPTIONS: Flask's 200)
    if 200 <= response.status_code < 300:
        documented = case.operation.responses.status_codes
        if str(response.status_code) not in documented and "2XX" not in documented:
            raise AssertionError(
                f"{case.operation.label} answered {response.status_code}; documented: {', '.join(documented)}"
            )
    return None


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    success_status_documented,
]


def send_as_every_caller(case: schemathesis.Case[Operation], fuzz_callers: list[Caller]) -> None:
    """The body of each generated test: one request per caller, every check on each answer."""
    for caller in fuzz_callers:
        try:
            case.call_and_validate(headers=caller.headers, checks=CHECKS)
        except BaseException as exc:
            exc.add_note(f"caller: {caller.name}")
            raise


def operations(api_schema: schemathesis.BaseSchema) -> list[Operation]:
    """Every operation of the document (a malformed one fails the test)."""
    found = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        found.append(result.ok())
    return found


def test_every_operation_is_in_an_area(app: Flask) -> None:
    paths = {operation.path for operation in operations(load_schema(app, seed_world(app)))}
    assert all(path.startswith(API_PREFIX) or path in OUTSIDE_API for path in paths), sorted(paths)
    assert {area_of(path) for path in paths} <= set(AREAS), sorted({area_of(p) for p in paths} - set(AREAS))


def _unbounded_integers(schema: dict[str, Any], where: str, components: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        where = schema["$ref"].rsplit("/", 1)[-1]
        schema = components[where]
    found = [where] if schema.get("type") == "integer" and "maximum" not in schema else []
    for name, prop in schema.get("properties", {}).items():
        if not prop.get("readOnly"):
            found += _unbounded_integers(prop, f"{where}.{name}", components)
    if "items" in schema:
        found += _unbounded_integers(schema["items"], f"{where}[]", components)
    return found


def test_every_integer_a_client_sends_is_bounded(client: FlaskClient) -> None:
    # Ids, counts and amounts live in `integer` columns: a larger number must be refused by validation
    # (or, in a path, by the router), not by the database.
    spec = client.get("/api/openapi.json").get_json()
    components = spec["components"]["schemas"]
    unbounded = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in item.get("parameters", []) + operation.get("parameters", []):
                where = f"{method.upper()} {path} {parameter['in']} {parameter['name']}"
                unbounded += _unbounded_integers(parameter.get("schema", {}), where, components)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                unbounded += _unbounded_integers(
                    content["schema"], f"{method.upper()} {path} body", components
                )
    assert not unbounded, sorted(set(unbounded))


@pytest.mark.parametrize("area", AREAS)
def test_operations_answer_any_input_within_their_schema(
    area: str, app: Flask, wechat_fake: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="server.errors")
    world = seed_world(app)
    api_schema = load_schema(app, world)
    selected = [op for op in operations(api_schema) if area_of(op.path) == area]
    assert selected, f"no operation under {API_PREFIX}{area}"
    feedback = FeedbackSources(constants_value_source=make_constants_value_source(api_schema))
    failures = []
    for number, operation in enumerate(selected):
        if number and selected[number - 1].method.upper() != "GET":  # a GET changes nothing to undo
            world, problems = fresh_world(app, wechat_fake)
            if problems:
                failures.append(f"=== ledger after {selected[number - 1].label}\n" + "\n".join(problems))
        test = build_operation_test(
            config=api_schema.config,
            operation=operation,
            test_func=send_as_every_caller,
            given_kwargs={},
            feedback=feedback,
        )
        try:
            test(fuzz_callers=world.callers)
        except Exception as exc:  # every operation runs; the failures are reported together
            notes = "\n".join(getattr(exc, "__notes__", []))
            failures.append(f"=== {operation.label}\n{exc}\n{notes}")
    # The database's refusal of a value is answered 422 (server/errors.py), but input validation should
    # have stopped it first: each one is a field without bounds.
    failures += [
        f"=== validation let through: {record.getMessage()}"
        for record in caplog.records
        if record.getMessage().startswith("database refused a value")
    ]
    assert not failures, "\n\n".join(failures)
