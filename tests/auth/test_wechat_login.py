"""POST /api/v1/auth/wechat through the fake WeChat over real HTTP."""

from sqlalchemy import func, select

from server.users.models import User
from tests.conftest import bearer


def test_a_good_code_logs_in_and_makes_the_user_once(client, db_session):
    first = client.post("/api/v1/auth/wechat", json={"code": "alice.1"})
    assert first.status_code == 200
    body = first.get_json()
    assert body["token_type"] == "Bearer"  # noqa: S105  (a token type, not a secret)
    assert body["expires_in"] == 7200
    assert body["user"]["roles"] == ["resident"]
    assert body["user"]["party_member"] is False
    again = client.post("/api/v1/auth/wechat", json={"code": "alice.2"}).get_json()
    assert again["user"]["id"] == body["user"]["id"]
    assert db_session.scalar(select(func.count()).select_from(User)) == 1
    user = db_session.get(User, body["user"]["id"])
    assert user.openid.startswith("o") and user.unionid
    me = client.get("/api/v1/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.get_json()["id"] == body["user"]["id"]


def test_an_invalid_code_is_refused_with_401(client, db_session):
    response = client.post("/api/v1/auth/wechat", json={"code": "invalid-code"})
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "WECHAT_CODE_INVALID"
    assert error["details"]["errcode"] == 40029
    assert db_session.scalar(select(func.count()).select_from(User)) == 0


def test_a_used_code_is_refused(client):
    assert client.post("/api/v1/auth/wechat", json={"code": "bob.1"}).status_code == 200
    response = client.post("/api/v1/auth/wechat", json={"code": "bob.1"})
    assert response.status_code == 401
    assert response.get_json()["error"]["details"]["errcode"] == 40163


def test_wechat_down_answers_503_and_makes_no_user(client, wechat_fake, db_session):
    assert wechat_fake.control("fail", path="/sns/jscode2session", times=1, status=502).ok
    response = client.post("/api/v1/auth/wechat", json={"code": "carol.1"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "WECHAT_UNAVAILABLE"
    assert db_session.scalar(select(func.count()).select_from(User)) == 0
    assert client.post("/api/v1/auth/wechat", json={"code": "carol.2"}).status_code == 200


def test_wechat_busy_answers_503(client, wechat_fake):
    assert wechat_fake.control("fail", path="/sns/jscode2session", times=1, errcode=-1).ok
    response = client.post("/api/v1/auth/wechat", json={"code": "dave.1"})
    assert response.status_code == 503
    assert response.get_json()["error"]["details"]["errcode"] == -1


def test_login_is_limited_per_code(app, client):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    try:
        statuses = [client.post("/api/v1/auth/wechat", json={"code": "same"}).status_code for _ in range(4)]
        response = client.post(
            "/api/v1/auth/wechat", json={"code": "same"}, headers={"Accept-Language": "en"}
        )
        other_code = client.post("/api/v1/auth/wechat", json={"code": "different.1"})
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "10 per minute"
    # the first succeeds, the next two are refused as used codes, then the limit answers
    assert statuses == [200, 401, 401, 429]
    assert other_code.status_code == 200
    body = response.get_json()
    assert response.status_code == 429
    assert body["error"]["code"] == "RATE_LIMITED"
    assert body["error"]["message"].startswith("Too many")


def test_a_venue_behind_one_address_is_not_locked_out(app, client):
    # Two hundred members at one venue, one Wi-Fi address: each logs in with their own code.
    statuses = {
        client.post(
            "/api/v1/auth/wechat", json={"code": f"member{i}.1"}, environ_base={"REMOTE_ADDR": "10.1.2.3"}
        ).status_code
        for i in range(200)
    }
    assert statuses == {200}


def test_the_per_address_limit_still_exists(app, client):
    app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"] = "5 per minute"
    try:
        statuses = [
            client.post(
                "/api/v1/auth/wechat", json={"code": f"m{i}.1"}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
            ).status_code
            for i in range(7)
        ]
        other = client.post(
            "/api/v1/auth/wechat", json={"code": "elsewhere.1"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
        )
    finally:
        app.config["LOGIN_RATE_LIMIT_PER_ADDRESS"] = "3000 per minute"
    assert statuses == [200] * 5 + [429] * 2
    assert other.status_code == 200
