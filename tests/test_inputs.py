"""The NUL guard of server/inputs.py: PostgreSQL stores no NUL in text, so no request may carry one."""

import pytest

from tests.conftest import bearer


def fields_of(response) -> dict[str, list[str]]:
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    fields: dict[str, list[str]] = error["details"]["fields"]
    return fields


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"nickname": "a\x00b"}, "nickname"),
        ({"nested": {"deeper": ["ok", "\x00"]}}, "nested.deeper.1"),
        ({"key\x00": "value"}, "key\\u0000"),
    ],
)
def test_a_nul_in_a_json_body_is_a_422_naming_the_field(client, login_user, body, field):
    response = client.patch("/api/v1/me", json=body, headers=bearer(login_user()))
    assert fields_of(response) == {field: ["NUL characters are not allowed."]}


def test_a_nul_in_the_query_is_a_422_naming_the_parameter(client):
    assert fields_of(client.get("/api/v1/communities?page=1&q=a%00")) == {
        "q": ["NUL characters are not allowed."]
    }


def test_a_nul_in_a_path_segment_is_a_422(client, make_staff, login_staff):
    headers = bearer(login_staff(make_staff(role="admin", org="D1")))
    response = client.patch("/api/v1/points/rules/PARTY%00DAY", json={"points": 3}, headers=headers)
    assert fields_of(response) == {"code": ["NUL characters are not allowed."]}


def test_the_text_backslash_u0000_is_no_nul(client, login_user):
    response = client.patch("/api/v1/me", json={"nickname": "\\u0000"}, headers=bearer(login_user()))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["nickname"] == "\\u0000"
