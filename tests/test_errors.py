"""The error envelope of API.md, its languages, and one request = one transaction."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import delete, select

from server.app import create_app
from server.db import db, keep_changes_despite_error
from server.errors import HTTP_CODES, MESSAGES, Conflict, Unauthorized
from server.orgs.models import OrgUnit
from server.orgs.services import create_org
from tests.conftest import base_config, close_app

CJK = re.compile(r"[\u4e00-\u9fff]")


def error_of(response, status: int) -> dict[str, Any]:
    """The inside of the envelope, after checking the status and the envelope's shape."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.content_type
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    error: dict[str, Any] = body["error"]
    return error


# --- the known codes and their messages --------------------------------------------------------


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_code_is_upper_snake_with_a_chinese_and_an_english_message(code):
    zh, en = MESSAGES[code]
    assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", code)
    assert zh.strip() and en.strip()
    assert zh != en
    assert CJK.search(zh), zh
    assert not CJK.search(en), en


def test_every_http_status_maps_to_a_known_code():
    assert set(HTTP_CODES.values()) <= set(MESSAGES)


# --- what a client can send: never a 500, always the envelope ----------------------------------

BAD_REQUESTS = [
    pytest.param("get", "/api/v1/no-such-thing", {}, 404, "NOT_FOUND", id="404-unknown-path"),
    pytest.param("delete", "/api/v1/communities", {}, 405, "METHOD_NOT_ALLOWED", id="405-wrong-method"),
    pytest.param(
        "post", "/api/v1/auth/wechat", {"json": {}}, 422, "VALIDATION_ERROR", id="422-missing-field"
    ),
    pytest.param(
        "post",
        "/api/v1/auth/wechat",
        {"data": '{"code": ', "content_type": "application/json"},
        400,
        "BAD_REQUEST",
        id="400-malformed-json",
    ),
    pytest.param("get", "/api/v1/me", {}, 401, "UNAUTHORIZED", id="401-no-token"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), BAD_REQUESTS)
def test_errors_are_chinese_by_default(client, method, path, kwargs, status, code):
    error = error_of(getattr(client, method)(path, **kwargs), status)
    assert error["code"] == code
    assert error["message"] == MESSAGES[code][0]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), BAD_REQUESTS)
def test_errors_are_english_when_the_client_asks_for_english(client, method, path, kwargs, status, code):
    response = getattr(client, method)(path, headers={"Accept-Language": "en"}, **kwargs)
    error = error_of(response, status)
    assert error["code"] == code
    assert error["message"] == MESSAGES[code][1]


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        (None, "zh"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("zh-CN,en;q=0.5", "zh"),
        ("zh-CN", "zh"),
        ("en;q=0.4,zh-CN;q=0.9", "zh"),
        ("fr", "zh"),
    ],
)
def test_the_language_follows_accept_language(client, accept_language, language):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    error = error_of(client.get("/api/v1/no-such-thing", headers=headers), 404)
    zh, en = MESSAGES["NOT_FOUND"]
    assert error["message"] == (en if language == "en" else zh)


def test_a_wrong_method_is_json_and_keeps_the_allow_header(client):
    response = client.delete("/api/v1/communities")
    error_of(response, 405)
    assert response.mimetype == "application/json"
    assert "GET" in response.headers["Allow"]
    assert "<html" not in response.get_data(as_text=True).lower()


def test_a_validation_error_names_the_fields(client):
    error = error_of(client.post("/api/v1/auth/wechat", json={}), 422)
    assert "code" in error["details"]["fields"]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"json": [1, 2]}, id="json-array"),
        pytest.param({"json": "code"}, id="json-string"),
        pytest.param({"json": {"code": 42}}, id="wrong-type"),
        pytest.param({"data": "code=abc"}, id="form-body"),
    ],
)
def test_odd_bodies_are_client_errors_not_500(client, kwargs):
    response = client.post("/api/v1/auth/wechat", **kwargs)
    assert 400 <= response.status_code < 500
    error_of(response, response.status_code)


def test_a_body_over_max_content_length_is_413(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    response = client.post("/api/v1/auth/wechat", json={"code": "x" * 2048})
    error = error_of(response, 413)
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["message"] == MESSAGES["PAYLOAD_TOO_LARGE"][0]


def test_a_body_under_max_content_length_is_read(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    response = client.post("/api/v1/auth/wechat", json={"code": "small.1"})
    assert response.status_code == 200, response.get_json()


# --- one request, one transaction ----------------------------------------------------------------


@pytest.fixture(scope="module")
def boundary_app(make_database, wechat_fake) -> Iterator[Flask]:
    """An app of its own (on its own database) with routes that write and then succeed or fail."""
    flask_app = create_app(base_config(make_database("errors"), wechat_fake.url))

    @flask_app.post("/_test/write-then-crash")
    def write_then_crash():
        create_org("district", "崩溃区", "CRASH")
        raise RuntimeError("boom: a secret detail")

    @flask_app.post("/_test/write-then-conflict")
    def write_then_conflict():
        create_org("district", "冲突区", "CONFLICT1")
        raise Conflict("ORG_CODE_TAKEN", details={"code": "CONFLICT1"})

    @flask_app.post("/_test/write-twice")
    def write_twice():
        create_org("district", "重复区", "TWICE")
        create_org("district", "重复区", "TWICE")  # ORG_CODE_TAKEN: the first one must go too
        return {"created": True}, 201

    @flask_app.post("/_test/write-then-keep-despite-401")
    def write_then_keep():
        create_org("district", "保留区", "KEPT")
        keep_changes_despite_error()
        raise Unauthorized("TOKEN_INVALID_LOGIN")

    @flask_app.post("/_test/write-then-unstorable")
    def write_then_unstorable():
        create_org("district", "越界区", "UNSTORABLE")
        return {"org": db.session.get(OrgUnit, 2**40) is None}  # PostgreSQL: integer out of range

    @flask_app.post("/_test/write")
    def write():
        org = create_org("district", "成功区", "OK1")
        return {"id": org.id}, 201

    with flask_app.app_context():
        upgrade()
    yield flask_app
    close_app(flask_app)


@pytest.fixture
def boundary(boundary_app) -> Iterator[Flask]:
    """The boundary app, its org table emptied after the test."""
    yield boundary_app
    with boundary_app.app_context():
        db.session.execute(delete(OrgUnit))
        db.session.commit()


def org_codes(flask_app: Flask) -> set[str]:
    """The org codes committed to the app's database, read in a fresh session."""
    with flask_app.app_context():
        return set(db.session.scalars(select(OrgUnit.code)))


def test_an_unexpected_exception_is_a_json_500_and_nothing_is_committed(boundary):
    response = boundary.test_client().post("/_test/write-then-crash")
    error = error_of(response, 500)
    assert error["code"] == "INTERNAL_ERROR"
    assert error["message"] == MESSAGES["INTERNAL_ERROR"][0]
    assert "boom" not in response.get_data(as_text=True)
    assert org_codes(boundary) == set()


def test_a_500_is_english_on_request(boundary):
    response = boundary.test_client().post("/_test/write-then-crash", headers={"Accept-Language": "en"})
    assert error_of(response, 500)["message"] == MESSAGES["INTERNAL_ERROR"][1]


def test_an_app_error_after_a_write_is_rendered_and_rolls_the_write_back(boundary):
    error = error_of(boundary.test_client().post("/_test/write-then-conflict"), 409)
    assert error["code"] == "ORG_CODE_TAKEN"
    assert error["details"] == {"code": "CONFLICT1"}
    assert org_codes(boundary) == set()


def test_a_refused_second_write_rolls_back_the_first(boundary):
    error = error_of(boundary.test_client().post("/_test/write-twice"), 409)
    assert error["code"] == "ORG_CODE_TAKEN"
    assert org_codes(boundary) == set()


def test_a_successful_request_commits_its_writes(boundary):
    response = boundary.test_client().post("/_test/write")
    assert response.status_code == 201
    assert org_codes(boundary) == {"OK1"}


def test_an_error_response_may_ask_to_keep_its_changes(boundary):
    error = error_of(boundary.test_client().post("/_test/write-then-keep-despite-401"), 401)
    assert error["code"] == "TOKEN_INVALID_LOGIN"
    assert org_codes(boundary) == {"KEPT"}


def test_keeping_changes_does_not_leak_into_the_next_request(boundary):
    client = boundary.test_client()
    client.post("/_test/write-then-keep-despite-401")
    error_of(client.post("/_test/write-then-crash"), 500)
    assert org_codes(boundary) == {"KEPT"}


@pytest.mark.postgres
def test_a_value_the_database_refuses_is_a_422_and_nothing_is_committed(boundary):
    # The net behind input validation: sqlalchemy's DataError (a number beyond an integer column, a NUL
    # in text, a date out of range) is the client's input, never a 500.
    error = error_of(boundary.test_client().post("/_test/write-then-unstorable"), 422)
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == {"reason": "value_not_storable"}
    assert org_codes(boundary) == set()


def test_an_id_beyond_the_integer_range_in_a_path_is_a_404_from_the_router(client):
    # <int:...> stops at 2**31 - 1, the largest id an integer column holds (found by the fuzz run: 500).
    error = error_of(client.get(f"/api/v1/communities/{2**31}/volunteers"), 404)
    assert error["code"] == "NOT_FOUND"
    error = error_of(client.delete(f"/api/v1/communities/{10**36}/volunteers/1"), 404)
    assert error["code"] == "NOT_FOUND"


def test_every_error_code_is_listed_in_the_readme(app):
    # The README's "Errors" section is where client authors look codes up: a new code must appear there.
    from pathlib import Path

    from server.errors import MESSAGES

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Errors\n", 1)[1]
    missing = sorted(code for code in MESSAGES if f"`{code}`" not in section)
    assert not missing, f"codes missing from the README's Errors section: {missing}"
