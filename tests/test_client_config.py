"""GET /api/v1/config and GET /api/v1/notifications/templates: what the mini program reads at launch,
before login, and which subscribe templates to ask for at which tap (issue 17)."""

from __future__ import annotations

import json

import pytest

from server.config import Settings
from server.notifications.services import ASK_AT, DEFAULT_TEMPLATES_FILE, MAX_TEMPLATES_PER_ASK, templates
from tests.test_config import production, refusal


def test_the_config_is_public_and_says_what_a_client_needs(app, client, clock):
    response = client.get("/api/v1/config")
    assert response.status_code == 200
    body = response.get_json()
    assert body["server_time"] == "2026-12-01T10:00:00+08:00"  # the frozen clock, in Beijing time
    assert body["file_base_url"] == "http://localhost"  # no PUBLIC_BASE_URL: the host asked
    assert body["api_base_url"] == "http://localhost/api/v1"
    assert body["qr_link_base"] == app.config["QR_LINK_BASE"]
    assert body["coord_type"] == "gcj02"
    assert body["wish_categories"] == app.config["WISH_CATEGORIES"].split(",")
    assert body["min_client_version"] == "1.0.0"
    assert body["subscribe_moments"] == client.get("/api/v1/notifications/templates").get_json()["moments"]


def test_the_config_follows_the_deployments_settings(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://linli.gov-example.cn")
    monkeypatch.setitem(app.config, "MIN_CLIENT_VERSION", "2.3.0")
    monkeypatch.setitem(app.config, "WISH_CATEGORIES", "助老,助学")
    body = client.get("/api/v1/config").get_json()
    assert (body["file_base_url"], body["api_base_url"]) == (
        "https://linli.gov-example.cn",
        "https://linli.gov-example.cn/api/v1",
    )
    assert (body["min_client_version"], body["wish_categories"]) == ("2.3.0", ["助老", "助学"])


def test_every_event_with_a_subscribe_template_is_listed_once_with_a_moment_to_ask(app, client):
    catalogue = client.get("/api/v1/notifications/templates").get_json()
    with app.app_context():
        sent = {name: t.wechat.template_id for name, t in templates().items() if t.wechat}
    listed = {event: entry["template_id"] for entry in catalogue["templates"] for event in entry["events"]}
    assert listed == sent
    assert sum(len(entry["events"]) for entry in catalogue["templates"]) == len(sent)  # none twice
    assert set(sent) <= set(ASK_AT), sorted(set(sent) - set(ASK_AT))  # no event without a moment


def test_each_moment_asks_for_at_most_three_templates_that_report_on_it(client):
    catalogue = client.get("/api/v1/notifications/templates").get_json()
    by_id = {entry["template_id"]: entry for entry in catalogue["templates"]}
    assert catalogue["moments"]["wish.post"] == ["tmpl-wish-progress", "tmpl-review-result"]
    assert catalogue["moments"]["activity.signup"] == ["tmpl-activity-reminder"]
    for moment, ids in catalogue["moments"].items():
        assert 1 <= len(ids) <= MAX_TEMPLATES_PER_ASK
        assert all(moment in by_id[template_id]["ask_at"] for template_id in ids), moment


def test_a_deployments_own_template_file_changes_the_ids_asked_for(app, client, tmp_path, monkeypatch):
    own = json.loads(DEFAULT_TEMPLATES_FILE.read_text(encoding="utf-8"))
    for spec in own.values():
        if isinstance(spec, dict) and spec.get("wechat"):
            spec["wechat"]["template_id"] = "ours-" + spec["wechat"]["template_id"]
    path = tmp_path / "templates.json"
    path.write_text(json.dumps(own, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setitem(app.config, "NOTIFICATION_TEMPLATES_FILE", str(path))
    moments = client.get("/api/v1/config").get_json()["subscribe_moments"]
    assert moments["redemption.request"] == ["ours-tmpl-review-result"]


@pytest.mark.parametrize(
    "base", ["http://linli.example.cn", "https://", "linli.example.cn", "https://x.cn/?a=1"]
)
def test_the_public_base_url_must_be_https(base):
    assert "PUBLIC_BASE_URL" in refusal(production(PUBLIC_BASE_URL=base))


def test_the_public_base_url_and_client_version_are_read():
    settings = Settings.from_env(
        production(PUBLIC_BASE_URL="https://linli.example.cn/", MIN_CLIENT_VERSION="1.4.2")
    )
    assert (settings.PUBLIC_BASE_URL, settings.MIN_CLIENT_VERSION) == ("https://linli.example.cn", "1.4.2")
    assert "MIN_CLIENT_VERSION" in refusal(production(MIN_CLIENT_VERSION="v1.4"))
