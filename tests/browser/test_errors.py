"""Errors under /console are console pages (the status kept, the message in Chinese); the API keeps JSON."""

import pytest
from sqlalchemy.exc import OperationalError

from store import services as store_services

E20 = "100000000000000000000"  # 1e20 typed out: beyond any `integer` column
E23 = "1" + "0" * 23


def _is_console_page(response, status, message):
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:300]
    assert response.mimetype == "text/html"
    assert f"{status} · {message}" in html
    assert "<!doctype html>" in html and "邻里工作台" in html  # the layout, with the menu
    return html


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"/console/redemptions?page={E23}", 422, "提交的数据有误"),
        (f"/console/redemptions?community={E20}", 422, "提交的数据有误"),
        (f"/console/party-reports?page={E23}", 422, "提交的数据有误"),
        (f"/console/store?community={E20}", 422, "提交的数据有误"),
        (f"/console/activities?community={E20}", 422, "提交的数据有误"),
        (f"/console/activities?page={E23}", 422, "提交的数据有误"),
        (f"/console/stations?community={E20}", 422, "提交的数据有误"),
        (f"/console/wishes?community={E20}", 422, "提交的数据有误"),
        (f"/console/wishes?page={E23}", 422, "提交的数据有误"),
        ("/console/members?q=%00", 422, "提交的数据有误"),
        ("/console/redemptions/99999999999", 404, "请求的资源不存在"),
        ("/console/redemptions/abc", 404, "请求的资源不存在"),
        ("/console/no-such-page", 404, "请求的资源不存在"),
    ],
)
def test_bad_input_in_a_url_is_answered_with_a_console_page(
    client, client_login, make_staff, path, status, message
):
    client_login(make_staff(org="S1"))
    html = _is_console_page(client.get(path), status, message)
    assert "退出" in html  # still logged in, with the layout's menu


def test_a_wrong_method_keeps_its_status_and_allow_header(client, client_login, make_staff):
    client_login(make_staff(org="C1"))
    response = client.delete("/console/redemptions")
    _is_console_page(response, 405, "不支持该请求方法")
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("ids", [E20, "²", "-3", "1e20"])
@pytest.mark.parametrize(
    "path", ["/console/redemptions/approve", "/console/party-reports/approve", "/console/wishes/approve"]
)
def test_a_bulk_approve_with_an_id_that_is_no_id_is_a_console_page(
    client, client_login, make_staff, path, ids
):
    token = client_login(make_staff(org="C1"))
    response = client.post(path, data={"ids": ["1", ids], "csrf_token": token})
    _is_console_page(response, 422, "提交的数据有误")


def test_an_unexpected_error_is_a_console_page_too(client, client_login, make_staff, monkeypatch):
    client_login(make_staff(org="C1"))

    def broken(*_args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(store_services, "staff_redemptions", broken)
    _is_console_page(client.get("/console/redemptions"), 500, "服务器开小差了，请稍后再试")


def test_htmx_gets_only_the_message_block(client, client_login, make_staff):
    client_login(make_staff(org="C1"))
    response = client.get("/console/members?q=%00", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert "422 · 提交的数据有误" in html
    assert "<html" not in html


def test_logged_out_the_error_page_has_no_menu(client):
    html = _is_console_page(client.get("/console/no-such-page"), 404, "请求的资源不存在")
    assert "退出" not in html


def test_the_error_page_shows_even_when_the_database_cannot_say_who_is_logged_in(
    client, client_login, make_staff, monkeypatch
):
    client_login(make_staff(org="C1"))

    def unreachable(*_args, **_kwargs):
        raise OperationalError("SELECT staff_accounts", {}, Exception("connection refused"))

    # The console finds who is logged in by their stored session: that read fails.
    monkeypatch.setattr("server.console.auth.live_console_session", unreachable)
    html = _is_console_page(client.get("/console/no-such-page"), 404, "请求的资源不存在")
    assert "退出" not in html  # the layout without the staff member and the menu


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/api/v1/no-such-route", 404, "NOT_FOUND"), ("/api/v1/orgs?q=%00", 422, "VALIDATION_ERROR")],
)
def test_the_api_keeps_its_json_envelope(client, path, status, code):
    response = client.get(path)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
