"""Without Redis (`make run` with nothing configured) jobs run in-process right after the commit."""

import pytest
from flask_migrate import upgrade

from server.app import create_app
from tests.conftest import base_config, bearer, close_app


@pytest.fixture
def local_app(tmp_path, wechat_fake):
    app = create_app(
        base_config(
            f"sqlite:///{tmp_path / 'local.sqlite3'}",
            wechat_fake.url,
            REDIS_URL=None,
            RATELIMIT_STORAGE_URI="memory://",
        )
    )
    with app.app_context():
        upgrade()
    yield app
    close_app(app)


def test_a_decision_reaches_the_inbox_and_wechat_at_once(local_app, wechat_fake):
    client = local_app.test_client()
    runner = local_app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    tokens = client.post("/api/v1/auth/wechat", json={"code": "inline.1"}).get_json()
    client.post(
        "/api/v1/me/subscriptions", json={"template_ids": ["tmpl-review-result"]}, headers=bearer(tokens)
    )
    communities = client.get("/api/v1/communities").get_json()["items"]
    report = client.post(
        "/api/v1/me/party-report",
        json={"community_id": communities[0]["id"], "branch": "支部"},
        headers=bearer(tokens),
    ).get_json()
    staff = client.post(
        "/api/v1/auth/staff", json={"username": "staff", "password": "linli-staff-demo"}
    ).get_json()
    assert (
        client.post(f"/api/v1/party-reports/{report['id']}/approve", headers=bearer(staff)).status_code == 200
    )

    inbox = client.get("/api/v1/me/notifications", headers=bearer(tokens)).get_json()
    assert [item["title"] for item in inbox["items"]] == ["党员报到已通过"]
    assert [m["template_id"] for m in wechat_fake.state.messages] == ["tmpl-review-result"]
    status = runner.invoke(args=["jobs", "status"])
    assert status.exit_code == 1
    assert "REDIS_URL is not set" in status.output
