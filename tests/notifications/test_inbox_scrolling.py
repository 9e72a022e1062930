"""Scrolling the inbox by ``before_id``: what arrives meanwhile never repeats a row or skips one."""

from server.db import db
from server.notifications.services import publish
from tests.conftest import bearer


def _notify(app, user_id, memos):
    with app.app_context():
        for memo in memos:
            publish(
                "points.adjusted", [user_id], {"memo": memo, "reason": "r", "amount": "+1", "available": 1}
            )
        db.session.commit()


def _memo(item):
    return item["body"].split("，")[0]


def test_scrolling_while_notifications_arrive_sees_each_once(app, client, login_user, run_worker):
    tokens = login_user("alice")
    user_id = tokens["user"]["id"]
    _notify(app, user_id, ["一", "二", "三", "四", "五"])
    run_worker()
    first = client.get("/api/v1/me/notifications?page_size=2", headers=bearer(tokens)).get_json()
    assert [_memo(item) for item in first["items"]] == ["五", "四"]
    assert first["next_before_id"] == first["items"][-1]["id"]

    _notify(app, user_id, ["六", "七"])  # two arrive while the phone scrolls
    run_worker()
    seen = [_memo(item) for item in first["items"]]
    cursor = first["next_before_id"]
    while cursor is not None:
        page = client.get(
            f"/api/v1/me/notifications?page_size=2&before_id={cursor}", headers=bearer(tokens)
        ).get_json()
        seen += [_memo(item) for item in page["items"]]
        cursor = page["next_before_id"]
    assert seen == ["五", "四", "三", "二", "一"]
    assert page["total"] == 7

    # By page number instead, the same arrivals shift the second page back onto rows already shown.
    shifted = client.get("/api/v1/me/notifications?page_size=2&page=2", headers=bearer(tokens)).get_json()
    assert [_memo(item) for item in shifted["items"]] == ["五", "四"]


def test_the_last_page_has_no_next_and_an_empty_inbox_too(app, client, login_user, run_worker):
    tokens = login_user("bob")
    empty = client.get("/api/v1/me/notifications", headers=bearer(tokens)).get_json()
    assert (empty["items"], empty["next_before_id"]) == ([], None)
    _notify(app, tokens["user"]["id"], ["一", "二"])
    run_worker()
    exact = client.get("/api/v1/me/notifications?page_size=2", headers=bearer(tokens)).get_json()
    assert (len(exact["items"]), exact["next_before_id"]) == (2, None)


def test_before_id_and_page_do_not_go_together(client, login_user):
    tokens = login_user()
    both = client.get("/api/v1/me/notifications?before_id=10&page=2", headers=bearer(tokens))
    assert (both.status_code, both.get_json()["error"]["code"]) == (422, "VALIDATION_ERROR")
    assert "before_id" in both.get_json()["error"]["details"]["fields"]
    zero = client.get("/api/v1/me/notifications?before_id=0", headers=bearer(tokens))
    assert zero.status_code == 422
