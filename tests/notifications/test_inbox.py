"""The inbox and subscribe grants of API.md, and the texts of the templates."""

import pytest

from server.db import db
from server.notifications.services import fit_field, publish, render
from tests.conftest import bearer


def _notify(app, user_id, n=1):
    with app.app_context():
        for i in range(n):
            publish(
                "points.adjusted",
                [user_id],
                {"memo": f"调整{i}", "reason": "r", "amount": "+1", "available": i},
            )
        db.session.commit()


def test_the_inbox_pages_counts_unread_and_marks_read(app, client, login_user, run_worker):
    tokens = login_user("alice")
    other = login_user("bob")
    _notify(app, tokens["user"]["id"], 3)
    _notify(app, other["user"]["id"], 1)
    run_worker()
    page = client.get("/api/v1/me/notifications?page_size=2", headers=bearer(tokens)).get_json()
    assert (page["total"], page["unread_count"], len(page["items"])) == (3, 3, 2)
    assert page["items"][0]["body"] == "调整2，当前可用积分 2。"
    assert page["items"][0]["read"] is False
    newest = page["items"][0]["id"]
    bobs = client.get("/api/v1/me/notifications", headers=bearer(other)).get_json()["items"][0]["id"]

    marked = client.post(
        "/api/v1/me/notifications/read", json={"ids": [newest, bobs]}, headers=bearer(tokens)
    )
    assert marked.get_json() == {"updated": 1, "unread_count": 2}  # bob's id is not alice's to mark
    unread = client.get("/api/v1/me/notifications?unread_only=true", headers=bearer(tokens)).get_json()
    assert unread["total"] == 2
    assert client.post(
        "/api/v1/me/notifications/read", json={"all": True}, headers=bearer(tokens)
    ).get_json() == {
        "updated": 2,
        "unread_count": 0,
    }
    assert client.get("/api/v1/me/notifications", headers=bearer(other)).get_json()["unread_count"] == 1


def test_marking_needs_ids_or_all(client, login_user):
    response = client.post("/api/v1/me/notifications/read", json={}, headers=bearer(login_user()))
    assert (response.status_code, response.get_json()["error"]["code"]) == (422, "NOTIFICATION_IDS_OR_ALL")


def test_grants_are_counted_per_template(client, login_user):
    tokens = login_user()
    listing = client.get("/api/v1/me/subscriptions", headers=bearer(tokens)).get_json()
    assert listing == {
        "grants": {},
        "template_ids": [
            "tmpl-activity-reminder",
            "tmpl-points-change",
            "tmpl-review-result",
            "tmpl-wish-progress",
        ],
    }
    for _ in range(2):
        body = client.post(
            "/api/v1/me/subscriptions", json={"template_ids": ["tmpl-points-change"]}, headers=bearer(tokens)
        ).get_json()
    assert body["grants"] == {"tmpl-points-change": 2}
    unknown = client.post("/api/v1/me/subscriptions", json={"template_ids": ["nope"]}, headers=bearer(tokens))
    assert (unknown.status_code, unknown.get_json()["error"]["code"]) == (422, "TEMPLATE_UNKNOWN")
    assert (
        client.post("/api/v1/me/subscriptions", json={"template_ids": []}, headers=bearer(tokens)).status_code
        == 422
    )


def test_a_party_report_decision_reaches_the_inbox(
    app, client, login_user, org_tree, make_staff, login_staff, run_worker
):
    tokens = login_user("member")
    report = client.post(
        "/api/v1/me/party-report",
        json={"community_id": org_tree["C1"].id, "branch": "支部"},
        headers=bearer(tokens),
    ).get_json()
    client.post(
        f"/api/v1/party-reports/{report['id']}/reject",
        json={"reason": "请补充支部信息"},
        headers=bearer(login_staff(make_staff())),
    )
    run_worker()
    [item] = client.get("/api/v1/me/notifications", headers=bearer(tokens)).get_json()["items"]
    assert item["title"] == "党员报到未通过"
    assert item["body"] == "您向一社区的党员报到申请未通过：请补充支部信息"


@pytest.mark.parametrize(
    ("key", "value", "sent"),
    [
        ("thing1", "一二三四五六七八九十一二三四五六七八九十", "一二三四五六七八九十一二三四五六七八九十"),
        ("thing1", "一二三四五六七八九十一二三四五六七八九十多", "一二三四五六七八九十一二三四五六七八九…"),
        ("phrase2", "已通过审核了", "已通过审核"),
        ("name3", "欧阳一二三四五六七八九", "欧阳一二三四五六七…"),
        ("character_string4", "x" * 40, "x" * 32),
        ("time5", "2026-11-22 10:00", "2026-11-22 10:00"),
    ],
)
def test_data_fields_are_cut_to_wechat_limits(key, value, sent):
    assert fit_field(key, value) == sent


def test_render_leaves_missing_values_empty():
    assert render("{memo}，当前可用积分 {available}。", {"memo": "x"}) == "x，当前可用积分 。"


def test_an_inbox_id_beyond_the_integer_range_is_a_422_not_a_500(client, login_user):
    response = client.post(
        "/api/v1/me/notifications/read", json={"ids": [2**40]}, headers=bearer(login_user())
    )
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"
