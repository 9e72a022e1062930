"""Subscribe messages that open the right page (ids in the page's query), for the configured build, and
a user WeChat blocks told so instead of being sent round the login loop."""

import pytest
from sqlalchemy import select

from points.models import LedgerTransaction
from server.db import db
from server.notifications.services import render_page, templates

SEND = "/cgi-bin/message/subscribe/send"


@pytest.fixture
def adjust(client, make_staff, login_staff):
    """A staff member of C1 adjusts a user's points through the API (publishing points.adjusted)."""
    from tests.conftest import bearer

    headers = bearer(login_staff(make_staff()))
    return lambda user_id: client.post(
        "/api/v1/points/adjustments",
        json={"user_id": user_id, "amount": 5, "reason": "补录志愿服务"},
        headers=headers,
    )


def test_the_page_takes_the_events_ids():
    assert render_page("pages/wish/detail?id={wish_id}", {"wish_id": 42}) == "pages/wish/detail?id=42"
    assert render_page("pages/a?x={x}&y={y}", {"x": "a b&c", "y": 1}) == "pages/a?x=a%20b%26c&y=1"


def test_a_page_whose_id_is_missing_opens_without_its_query_not_with_an_empty_id():
    assert render_page("pages/wish/detail?id={wish_id}", {"title": "买菜"}) == "pages/wish/detail"
    assert render_page("pages/wish/detail?id={wish_id}", {"wish_id": ""}) == "pages/wish/detail"
    assert render_page("pages/me/index", {}) == "pages/me/index"
    assert render_page(None, {"wish_id": 1}) is None


def test_every_packaged_page_that_names_a_record_takes_its_id(app):
    with app.app_context():
        wechat = {event: t.wechat for event, t in templates().items() if t.wechat}
    assert wechat
    for event, template in wechat.items():
        assert template.page is not None and "?" in template.page, event
        assert "{" in template.page.split("?", 1)[1], event  # an id of the event's record


def test_a_points_message_opens_its_transaction_for_the_configured_build(
    app, member, adjust, run_worker, wechat_fake
):
    tokens = member(0, "pages-alice", grants=2)
    assert adjust(tokens["user"]["id"]).status_code == 201
    assert run_worker() == 1
    app.config["WECHAT_MINIPROGRAM_STATE"] = "trial"
    try:
        assert adjust(tokens["user"]["id"]).status_code == 201
        assert run_worker() == 1
    finally:
        app.config["WECHAT_MINIPROGRAM_STATE"] = "formal"
    with app.app_context():
        ids = db.session.scalars(
            select(LedgerTransaction.id)
            .where(LedgerTransaction.kind == "adjust")
            .order_by(LedgerTransaction.id)
        ).all()[-2:]
    first, second = wechat_fake.state.messages[-2:]
    assert (first["page"], first["miniprogram_state"]) == (
        f"pages/points/index?transaction_id={ids[0]}",
        "formal",
    )
    assert (second["page"], second["miniprogram_state"]) == (
        f"pages/points/index?transaction_id={ids[1]}",
        "trial",
    )


def test_the_build_a_message_opens_is_one_of_wechats_three():
    from server.config import ConfigError, Settings

    assert (
        Settings.from_env({"WECHAT_MINIPROGRAM_STATE": "Developer"}).WECHAT_MINIPROGRAM_STATE == "developer"
    )
    with pytest.raises(ConfigError):
        Settings.from_env({"WECHAT_MINIPROGRAM_STATE": "release"})


def test_a_user_wechat_blocks_is_told_so_and_not_sent_to_log_in_again(client):
    first = client.post("/api/v1/auth/wechat", json={"code": "blocked.1"})
    again = client.post("/api/v1/auth/wechat", json={"code": "blocked.2"})
    for answer in (first, again):
        assert answer.status_code == 403
        assert answer.get_json()["error"]["code"] == "WECHAT_USER_BLOCKED"
        assert answer.get_json()["error"]["details"] == {"errcode": 40226}
        assert "重新进入" not in answer.get_json()["error"]["message"]
    used = client.post("/api/v1/auth/wechat", json={"code": "invalid-code"})
    assert (used.status_code, used.get_json()["error"]["code"]) == (401, "WECHAT_CODE_INVALID")
